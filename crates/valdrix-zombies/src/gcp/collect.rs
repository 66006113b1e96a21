//! Compute Engine's JSON, as [`Resource`]s.

use crate::resource::{Details, Kind, Resource};
use crate::rest::{int_at, str_at, string_map, time_at};
use serde_json::Value;

/// The resource path of a Compute Engine URL (`https://…/compute/v1/projects/p/zones/z/disks/d`
/// → `projects/p/zones/z/disks/d`), which is what ids and references are compared by.
pub(super) fn path(url: &str) -> String {
    match url.find("projects/") {
        Some(i) => url[i..].to_string(),
        None => url.to_string(),
    }
}

fn last(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The region of a zonal or regional resource (`…/zones/us-central1-a` → `us-central1`);
/// `global` for the rest.
fn region_of(v: &Value) -> String {
    if let Some(zone) = str_at(v, &["zone"]) {
        let zone = last(zone);
        return zone.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or_else(|| zone.to_string());
    }
    str_at(v, &["region"]).map(|r| last(r).to_string()).unwrap_or_else(|| "global".into())
}

fn paths(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(path).collect()
}

/// One listed item as a resource of `kind` (none when it lacks a name).
pub(crate) fn resource(kind: Kind, v: &Value, project: &str) -> Option<Resource> {
    let name = str_at(v, &["name"])?.to_string();
    let numeric = int_at(v, &["id"]).map(|n| n.to_string());
    let region = region_of(v);
    let collection = match kind {
        Kind::GcpDisk => "disks",
        Kind::GcpInstance => "instances",
        Kind::GcpSnapshot => "snapshots",
        Kind::GcpMachineImage => "machineImages",
        Kind::GcpAddress => "addresses",
        _ => return None,
    };
    let id = match str_at(v, &["selfLink"]) {
        Some(link) => path(link),
        None if region == "global" => format!("projects/{project}/global/{collection}/{name}"),
        None => format!("projects/{project}/regions/{region}/{collection}/{name}"),
    };
    let details = match kind {
        Kind::GcpDisk => Details::Disk {
            sku: str_at(v, &["type"]).map(last).unwrap_or("unknown").to_string(),
            size_gib: int_at(v, &["sizeGb"]).unwrap_or(0),
            state: str_at(v, &["status"]).unwrap_or("unknown").to_string(),
            users: paths(v, "users"),
            detached_since: time_at(v, &["lastDetachTimestamp"]),
        },
        Kind::GcpSnapshot => Details::StoredCopy {
            source: str_at(v, &["sourceDisk"]).map(path),
            size_gib: int_at(v, &["diskSizeGb"]).unwrap_or(0),
            stored_bytes: int_at(v, &["storageBytes"]),
        },
        Kind::GcpMachineImage => Details::StoredCopy {
            source: str_at(v, &["sourceInstance"]).map(path),
            size_gib: v
                .pointer("/instanceProperties/disks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| int_at(d, &["initializeParams", "diskSizeGb"]).or_else(|| int_at(d, &["diskSizeGb"])))
                .sum(),
            stored_bytes: int_at(v, &["totalStorageBytes"]),
        },
        Kind::GcpAddress => Details::PublicAddress {
            address: str_at(v, &["address"]).unwrap_or("").to_string(),
            sku: str_at(v, &["networkTier"]).unwrap_or("PREMIUM").to_string(),
            status: str_at(v, &["status"]).unwrap_or("unknown").to_string(),
            users: paths(v, "users"),
            external: str_at(v, &["addressType"]).unwrap_or("EXTERNAL") != "INTERNAL",
        },
        Kind::GcpInstance => {
            let state = str_at(v, &["status"]).unwrap_or("unknown").to_string();
            let since = if matches!(state.as_str(), "TERMINATED" | "STOPPED" | "SUSPENDED") {
                time_at(v, &["lastStopTimestamp"]).or_else(|| time_at(v, &["lastSuspendedTimestamp"]))
            } else {
                time_at(v, &["lastStartTimestamp"])
            };
            Details::Vm {
                size: str_at(v, &["machineType"]).map(last).unwrap_or("unknown").to_string(),
                state,
                state_since: since,
                disks: v
                    .get("disks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|d| str_at(d, &["source"]))
                    .map(path)
                    .collect(),
                metric_id: numeric.clone().unwrap_or_default(),
            }
        }
        _ => return None,
    };
    // Billing exports name resources by `//compute.googleapis.com/…` global names (with the
    // name or the numeric id), or by the bare name.
    let mut aliases = vec![format!("//compute.googleapis.com/{id}"), name.clone()];
    if let Some(n) = &numeric {
        if let Some((prefix, _)) = id.rsplit_once('/') {
            aliases.push(format!("//compute.googleapis.com/{prefix}/{n}"));
        }
        aliases.push(n.clone());
    }
    Some(Resource {
        kind,
        id,
        aliases,
        region,
        account: project.to_string(),
        name: Some(name),
        created: time_at(v, &["creationTimestamp"]),
        tags: string_map(v.get("labels")),
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zonal_regional_and_global_resources_land_in_their_region() {
        let disk = json!({"name": "d1", "id": "42", "zone": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b",
            "selfLink": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/disks/d1", "sizeGb": "10",
            "type": "https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b/diskTypes/pd-ssd", "status": "READY"});
        let r = resource(Kind::GcpDisk, &disk, "p").unwrap();
        assert_eq!((r.id.as_str(), r.region.as_str()), ("projects/p/zones/europe-west1-b/disks/d1", "europe-west1"));
        assert!(r.aliases.contains(&"//compute.googleapis.com/projects/p/zones/europe-west1-b/disks/42".to_string()));
        let Details::Disk { sku, size_gib, .. } = &r.details else { panic!() };
        assert_eq!((sku.as_str(), *size_gib), ("pd-ssd", 10));
        let global = json!({"name": "ip", "address": "203.0.113.9", "status": "RESERVED"});
        let a = resource(Kind::GcpAddress, &global, "p").unwrap();
        assert_eq!((a.id.as_str(), a.region.as_str()), ("projects/p/global/addresses/ip", "global"));
        let regional =
            json!({"name": "ip2", "region": "https://x/projects/p/regions/asia-east1", "addressType": "INTERNAL"});
        let b = resource(Kind::GcpAddress, &regional, "p").unwrap();
        assert_eq!(b.region, "asia-east1");
        assert!(matches!(b.details, Details::PublicAddress { external: false, .. }));
    }
}
