//! Resource Manager's JSON, as [`Resource`]s.

use crate::resource::{Details, Kind, Resource};
use crate::rest::{int_at, str_at, string_map, time_at};
use serde_json::Value;

/// The last segment of an ARM id (`…/disks/data-1` → `data-1`).
fn leaf(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn id_at(v: &Value, path: &[&str]) -> Option<String> {
    str_at(v, path).filter(|s| !s.is_empty()).map(str::to_string)
}

/// One listed item as a resource of `kind` (none when it lacks an id).
pub(crate) fn resource(kind: Kind, v: &Value, subscription: &str) -> Option<Resource> {
    let id = str_at(v, &["id"])?.to_string();
    let details = match kind {
        Kind::AzureDisk => Details::Disk {
            sku: str_at(v, &["sku", "name"]).unwrap_or("unknown").to_string(),
            size_gib: int_at(v, &["properties", "diskSizeGB"]).unwrap_or(0),
            state: str_at(v, &["properties", "diskState"]).unwrap_or("unknown").to_string(),
            users: id_at(v, &["managedBy"]).into_iter().collect(),
            detached_since: time_at(v, &["properties", "LastOwnershipUpdateTime"]),
        },
        Kind::AzureSnapshot => Details::StoredCopy {
            source: id_at(v, &["properties", "creationData", "sourceResourceId"]),
            size_gib: int_at(v, &["properties", "diskSizeGB"]).unwrap_or(0),
            stored_bytes: None,
        },
        Kind::AzurePublicIp => {
            let users: Vec<String> =
                [&["properties", "ipConfiguration", "id"][..], &["properties", "natGateway", "id"]]
                    .iter()
                    .filter_map(|p| id_at(v, p))
                    .collect();
            Details::PublicAddress {
                address: str_at(v, &["properties", "ipAddress"]).unwrap_or("").to_string(),
                sku: str_at(v, &["sku", "name"]).unwrap_or("Basic").to_string(),
                status: if users.is_empty() { "Unassociated" } else { "Associated" }.to_string(),
                users,
                external: true,
            }
        }
        Kind::AzureNic => Details::NetworkInterface {
            vm: id_at(v, &["properties", "virtualMachine", "id"]),
            private_endpoint: id_at(v, &["properties", "privateEndpoint", "id"]),
            public_ips: v
                .pointer("/properties/ipConfigurations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| id_at(c, &["properties", "publicIPAddress", "id"]))
                .collect(),
        },
        Kind::AzureVm => {
            let statuses = v.pointer("/properties/instanceView/statuses").and_then(Value::as_array);
            let code = |prefix: &str| {
                statuses.into_iter().flatten().find_map(|s| {
                    let c = str_at(s, &["code"])?;
                    c.strip_prefix(prefix).map(|rest| (rest.to_string(), time_at(s, &["time"])))
                })
            };
            // The power state has no time of its own; the last operation's (a stop, for a
            // stopped VM) is on the provisioning state.
            // Resource Graph has it elsewhere: `properties.extended.instanceView.powerState`.
            let state = code("PowerState/")
                .map(|(s, _)| s)
                .or_else(|| {
                    str_at(v, &["properties", "extended", "instanceView", "powerState", "code"])
                        .and_then(|c| c.strip_prefix("PowerState/"))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "unknown".into());
            let since = code("ProvisioningState/").and_then(|(_, t)| t);
            let mut disks: Vec<String> =
                id_at(v, &["properties", "storageProfile", "osDisk", "managedDisk", "id"]).into_iter().collect();
            disks.extend(
                v.pointer("/properties/storageProfile/dataDisks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| id_at(d, &["managedDisk", "id"])),
            );
            Details::Vm {
                size: str_at(v, &["properties", "hardwareProfile", "vmSize"]).unwrap_or("unknown").to_string(),
                state,
                state_since: since,
                disks,
                metric_id: id.clone(),
            }
        }
        _ => return None,
    };
    let created = match kind {
        Kind::AzureNic | Kind::AzurePublicIp => None,
        _ => time_at(v, &["properties", "timeCreated"]),
    };
    // Cost exports write resource ids in lower case.
    let lower = id.to_ascii_lowercase();
    let aliases = if lower != id { vec![lower] } else { vec![] };
    Some(Resource {
        kind,
        name: str_at(v, &["name"]).map(str::to_string).or_else(|| Some(leaf(&id).to_string())),
        region: str_at(v, &["location"]).unwrap_or("global").to_ascii_lowercase(),
        account: subscription.to_string(),
        created,
        tags: string_map(v.get("tags")),
        details,
        aliases,
        id,
    })
}
