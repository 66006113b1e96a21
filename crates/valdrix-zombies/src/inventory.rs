//! Inventory files, for scans without access to the cloud: an AWS Config snapshot, an Azure
//! Resource Graph query result, or a GCP Cloud Asset Inventory export.
//!
//! An inventory holds resources and their attributes but no metrics, so an offline scan judges
//! what the attributes can tell: a check that only confirms a resource is quiet (no I/O on an
//! unattached volume, no CPU on a stopped instance) is reported as not confirmed, and a check
//! that decides on the metric (an idle instance's CPU) leaves the candidate unjudged, counted as
//! lacking data. Each format is the one the cloud's own tools write:
//!
//! - AWS Config: the JSON snapshot Config delivers to S3 (`configurationItems`), gzipped or not.
//! - Azure Resource Graph: the JSON of `az graph query` or of the REST API (`data`), or a bare
//!   array of rows.
//! - GCP Cloud Asset Inventory: `gcloud asset export --content-type=resource` (one asset per
//!   line) or `gcloud asset list --content-type=resource --format=json` (an array).

use crate::provider::{Listed, Measured, Provider, ProviderError, Window};
use crate::resource::{Cloud, Details, Kind, MetricQuery, Resource};
use crate::rest::{int_at, str_at, time_at};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// An inventory file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Part of the file is not what the format says.
    #[error("{file}: {at}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// Where (`line 4`, `configurationItems[17]`).
        at: String,
        /// What is wrong.
        message: String,
    },
    /// The file is not an inventory of the format expected.
    #[error("{file}: {message}")]
    Format {
        /// The file.
        file: String,
        /// What was expected.
        message: String,
    },
    /// The file covers several accounts and none was chosen.
    #[error("{file} holds {} accounts ({}): choose one with --account", accounts.len(), accounts.join(", "))]
    SeveralAccounts {
        /// The file.
        file: String,
        /// The accounts, subscriptions or projects in it.
        accounts: Vec<String>,
    },
}

/// Resources read from an inventory file: a provider without metrics.
#[derive(Debug, Clone)]
pub struct InventoryProvider {
    cloud: Cloud,
    account: String,
    resources: Vec<Resource>,
    /// Items of types the rules do not judge, skipped.
    pub skipped: usize,
}

impl InventoryProvider {
    /// Reads a file of the cloud's inventory format; `account` chooses one when it covers
    /// several.
    pub fn read(cloud: Cloud, path: &Path, account: Option<&str>) -> Result<InventoryProvider, InventoryError> {
        let file = path.display().to_string();
        let text = read_text(path).map_err(|source| InventoryError::Io { file: file.clone(), source })?;
        let (resources, skipped) = match cloud {
            Cloud::Aws => aws_config(&file, &text)?,
            Cloud::Azure => resource_graph(&file, &text)?,
            Cloud::Gcp => asset_inventory(&file, &text)?,
        };
        let accounts: BTreeSet<String> = resources.iter().map(|r| r.account.clone()).collect();
        let account = match account {
            Some(a) => a.to_string(),
            None if accounts.len() <= 1 => accounts.into_iter().next().unwrap_or_default(),
            None => return Err(InventoryError::SeveralAccounts { file, accounts: accounts.into_iter().collect() }),
        };
        let resources = resources.into_iter().filter(|r| r.account == account).collect();
        Ok(InventoryProvider { cloud, account, resources, skipped })
    }

    /// The regions (or locations) the file holds resources in.
    pub fn regions(&self) -> Vec<String> {
        self.resources.iter().map(|r| r.region.clone()).collect::<BTreeSet<_>>().into_iter().collect()
    }

    /// Resources read, of the types the rules judge.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether no resource was read.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

impl Provider for InventoryProvider {
    fn cloud(&self) -> Cloud {
        self.cloud
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn list<'a>(&'a self, region: &'a str, kind: Kind) -> Listed<'a> {
        Box::pin(async move {
            Ok(self
                .resources
                .iter()
                .filter(|r| r.kind == kind && r.region.eq_ignore_ascii_case(region))
                .cloned()
                .collect())
        })
    }

    fn metrics<'a>(&'a self, _region: &'a str, _queries: &'a [MetricQuery], _window: Window) -> Measured<'a> {
        Box::pin(async { Err(ProviderError::Unsupported("an inventory file", "metrics")) })
    }

    fn has_metrics(&self) -> bool {
        false
    }
}

/// The file's text, gunzipped when it is gzip.
fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text)?;
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

fn parse_json(file: &str, at: &str, text: &str) -> Result<Value, InventoryError> {
    serde_json::from_str(text).map_err(|e| InventoryError::Parse {
        file: file.into(),
        at: at.into(),
        message: format!("not JSON: {e}"),
    })
}

fn bad(file: &str, at: String, message: impl Into<String>) -> InventoryError {
    InventoryError::Parse { file: file.into(), at, message: message.into() }
}

// AWS Config ----------------------------------------------------------------------------------

fn config_kind(resource_type: &str) -> Option<Kind> {
    Some(match resource_type {
        "AWS::EC2::Volume" => Kind::EbsVolume,
        "AWS::EC2::EIP" => Kind::ElasticIp,
        "AWS::EC2::Instance" => Kind::Ec2Instance,
        "AWS::EC2::NatGateway" => Kind::NatGateway,
        "AWS::RDS::DBInstance" => Kind::RdsInstance,
        "AWS::Redshift::Cluster" => Kind::RedshiftCluster,
        _ => return None,
    })
}

fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| v.get(n).and_then(Value::as_str)).filter(|s| !s.is_empty())
}

/// An AWS Config snapshot's configuration items as resources.
fn aws_config(file: &str, text: &str) -> Result<(Vec<Resource>, usize), InventoryError> {
    let doc = parse_json(file, "the snapshot", text)?;
    let items = doc.get("configurationItems").and_then(Value::as_array).ok_or_else(|| InventoryError::Format {
        file: file.into(),
        message: "not an AWS Config snapshot (no configurationItems array)".into(),
    })?;
    let mut out = vec![];
    let mut skipped = 0;
    for (n, item) in items.iter().enumerate() {
        let at = || format!("configurationItems[{n}]");
        let resource_type = field(item, &["resourceType"]).ok_or_else(|| bad(file, at(), "no resourceType"))?;
        let status = field(item, &["configurationItemStatus"]).unwrap_or("OK");
        let Some(kind) = config_kind(resource_type)
            .filter(|_| !status.starts_with("ResourceDeleted") && status != "ResourceNotRecorded")
        else {
            skipped += 1;
            continue;
        };
        // The configuration is an object in snapshots and a JSON string in some other outputs.
        let config = match item.get("configuration") {
            Some(Value::String(s)) => parse_json(file, &format!("{} configuration", at()), s)?,
            Some(v @ Value::Object(_)) => v.clone(),
            _ => return Err(bad(file, at(), format!("{resource_type} without a configuration"))),
        };
        let region = field(item, &["awsRegion"]).ok_or_else(|| bad(file, at(), "no awsRegion"))?.to_string();
        let account = field(item, &["awsAccountId"]).ok_or_else(|| bad(file, at(), "no awsAccountId"))?.to_string();
        let captured = time_at(item, &["configurationItemCaptureTime"]);
        let id = match kind {
            Kind::RdsInstance => field(item, &["resourceName", "resourceId"]),
            Kind::ElasticIp => field(&config, &["allocationId"]).or_else(|| field(item, &["resourceId"])),
            _ => field(item, &["resourceId"]),
        }
        .ok_or_else(|| bad(file, at(), "no resourceId"))?
        .to_string();
        let details = match kind {
            Kind::EbsVolume => Details::Volume {
                volume_type: field(&config, &["volumeType"]).unwrap_or_default().to_string(),
                size_gib: int_at(&config, &["size"]).unwrap_or(0),
                iops: int_at(&config, &["iops"]),
                state: field(&config, &["state"]).unwrap_or_default().to_string(),
                attached_to: config
                    .get("attachments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| field(a, &["instanceId"]).map(str::to_string))
                    .collect(),
                // Config records an item at each change: its capture time is when the volume
                // entered the state it is in.
                state_since: captured,
            },
            Kind::ElasticIp => Details::Address {
                public_ip: field(&config, &["publicIp"]).unwrap_or_default().to_string(),
                association: field(&config, &["associationId", "instanceId", "networkInterfaceId"]).map(str::to_string),
            },
            Kind::Ec2Instance => Details::Instance {
                instance_type: field(&config, &["instanceType"]).unwrap_or_default().to_string(),
                state: config.pointer("/state/name").and_then(Value::as_str).unwrap_or_default().to_string(),
                state_since: field(&config, &["stateTransitionReason"]).and_then(crate::aws::collect::transition_time),
                volumes: config
                    .get("blockDeviceMappings")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.pointer("/ebs/volumeId").and_then(Value::as_str).map(str::to_string))
                    .collect(),
            },
            Kind::NatGateway => {
                Details::NatGateway { state: field(&config, &["state"]).unwrap_or_default().to_string() }
            }
            Kind::RdsInstance => Details::Database {
                class: field(&config, &["dBInstanceClass", "dbInstanceClass"]).unwrap_or_default().to_string(),
                engine: field(&config, &["engine"]).unwrap_or_default().to_string(),
                state: field(&config, &["dBInstanceStatus", "dbInstanceStatus"]).unwrap_or_default().to_string(),
            },
            Kind::RedshiftCluster => Details::Warehouse {
                node_type: field(&config, &["nodeType"]).unwrap_or_default().to_string(),
                nodes: int_at(&config, &["numberOfNodes"]).unwrap_or(1),
                state: field(&config, &["clusterStatus"]).unwrap_or_default().to_string(),
            },
            _ => unreachable!("config_kind maps only these"),
        };
        if matches!(&details, Details::Instance { state, .. } if state == "terminated") {
            skipped += 1;
            continue;
        }
        let mut tags: BTreeMap<String, String> = crate::rest::string_map(item.get("tags"));
        if tags.is_empty() {
            // Some outputs keep only the configuration's own tag list.
            tags = config
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    Some((
                        field(t, &["key", "Key"])?.to_string(),
                        field(t, &["value", "Value"]).unwrap_or("").to_string(),
                    ))
                })
                .collect();
        }
        let mut aliases: Vec<String> = field(item, &["ARN", "arn"]).map(str::to_string).into_iter().collect();
        if let Details::Address { public_ip, .. } = &details {
            aliases.push(public_ip.clone());
        }
        out.push(Resource {
            kind,
            name: tags.get("Name").cloned().or_else(|| field(item, &["resourceName"]).map(str::to_string)),
            id,
            aliases,
            region,
            account,
            created: time_at(item, &["resourceCreationTime"]),
            tags,
            details,
        });
    }
    Ok((out, skipped))
}

// Azure Resource Graph ------------------------------------------------------------------------

fn graph_kind(resource_type: &str) -> Option<Kind> {
    Some(match resource_type.to_ascii_lowercase().as_str() {
        "microsoft.compute/disks" => Kind::AzureDisk,
        "microsoft.compute/snapshots" => Kind::AzureSnapshot,
        "microsoft.network/publicipaddresses" => Kind::AzurePublicIp,
        "microsoft.network/networkinterfaces" => Kind::AzureNic,
        "microsoft.compute/virtualmachines" => Kind::AzureVm,
        _ => return None,
    })
}

/// Rows of a Resource Graph query result as resources.
fn resource_graph(file: &str, text: &str) -> Result<(Vec<Resource>, usize), InventoryError> {
    let doc = parse_json(file, "the query result", text)?;
    let rows = match &doc {
        Value::Array(rows) => rows,
        other => other.get("data").and_then(Value::as_array).ok_or_else(|| InventoryError::Format {
            file: file.into(),
            message: "not a Resource Graph query result (no data array)".into(),
        })?,
    };
    let mut out = vec![];
    let mut skipped = 0;
    for (n, row) in rows.iter().enumerate() {
        let at = || format!("data[{n}]");
        let resource_type = field(row, &["type"]).ok_or_else(|| bad(file, at(), "no type (select it in the query)"))?;
        let Some(kind) = graph_kind(resource_type) else {
            skipped += 1;
            continue;
        };
        let subscription = field(row, &["subscriptionId"])
            .map(str::to_string)
            .or_else(|| {
                let id = field(row, &["id"])?;
                id.split('/').skip_while(|s| !s.eq_ignore_ascii_case("subscriptions")).nth(1).map(str::to_string)
            })
            .ok_or_else(|| bad(file, at(), "no subscriptionId"))?;
        let r = crate::azure::collect::resource(kind, row, &subscription)
            .ok_or_else(|| bad(file, at(), "no id (select it in the query)"))?;
        out.push(r);
    }
    Ok((out, skipped))
}

// GCP Cloud Asset Inventory -------------------------------------------------------------------

fn asset_kind(asset_type: &str) -> Option<Kind> {
    Some(match asset_type {
        "compute.googleapis.com/Disk" | "compute.googleapis.com/RegionDisk" => Kind::GcpDisk,
        "compute.googleapis.com/Instance" => Kind::GcpInstance,
        "compute.googleapis.com/Snapshot" => Kind::GcpSnapshot,
        "compute.googleapis.com/MachineImage" => Kind::GcpMachineImage,
        "compute.googleapis.com/Address" | "compute.googleapis.com/GlobalAddress" => Kind::GcpAddress,
        _ => return None,
    })
}

/// The project a Compute Engine resource belongs to, from its self link or asset name.
fn project_of(data: &Value, name: Option<&str>) -> Option<String> {
    let from = |s: &str| s.split("projects/").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_string);
    str_at(data, &["selfLink"]).and_then(from).or_else(|| name.and_then(from))
}

/// Assets of an export (one per line) or of a list (a JSON array) as resources.
fn asset_inventory(file: &str, text: &str) -> Result<(Vec<Resource>, usize), InventoryError> {
    let assets: Vec<(String, Value)> = if text.trim_start().starts_with('[') {
        match parse_json(file, "the asset list", text)? {
            Value::Array(items) => items.into_iter().enumerate().map(|(n, v)| (format!("item {n}"), v)).collect(),
            _ => unreachable!("starts with ["),
        }
    } else {
        let mut v = vec![];
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("line {}", n + 1);
            let asset = parse_json(file, &at, line)?;
            v.push((at, asset));
        }
        v
    };
    if !assets.is_empty() && !assets.iter().any(|(_, a)| a.get("asset_type").or_else(|| a.get("assetType")).is_some()) {
        return Err(InventoryError::Format {
            file: file.into(),
            message: "not a Cloud Asset Inventory export (no asset_type)".into(),
        });
    }
    let mut out = vec![];
    let mut skipped = 0;
    for (at, asset) in assets {
        let asset_type =
            field(&asset, &["asset_type", "assetType"]).ok_or_else(|| bad(file, at.clone(), "no asset_type"))?;
        let Some(kind) = asset_kind(asset_type) else {
            skipped += 1;
            continue;
        };
        let data = asset
            .pointer("/resource/data")
            .ok_or_else(|| bad(file, at.clone(), "no resource.data (export with --content-type=resource)"))?;
        let project = project_of(data, field(&asset, &["name"]))
            .ok_or_else(|| bad(file, at.clone(), "no project in selfLink or name"))?;
        let r = crate::gcp::collect::resource(kind, data, &project).ok_or_else(|| bad(file, at.clone(), "no name"))?;
        out.push(r);
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests;
