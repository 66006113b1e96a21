//! Each inventory format read and scanned offline: attribute rules find their zombies, a no-data
//! confirmation is noted as not checked, metric-decided rules leave their candidates unjudged.

use super::*;
use crate::policy::Policy;
use crate::scan::{scan, Configured, ScanOptions, Status};
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::io::Write;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
}

fn ago(days: i64) -> String {
    (at() - chrono::Duration::days(days)).to_rfc3339()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn item(kind: &str, id: &str, account: &str, captured: i64, config: Value) -> Value {
    json!({"configurationItemVersion": "1.3", "configurationItemCaptureTime": ago(captured),
           "configurationItemStatus": "OK", "resourceType": kind, "resourceId": id,
           "ARN": format!("arn:aws:ec2:us-east-1:{account}:{id}"), "awsRegion": "us-east-1",
           "awsAccountId": account, "resourceCreationTime": ago(100), "tags": {}, "configuration": config})
}

fn config_snapshot() -> Value {
    let a = "123456789012";
    let mut stringly = item("AWS::EC2::EIP", "eipalloc-2", a, 5, json!({}));
    stringly["configuration"] = Value::String(
        json!({"allocationId": "eipalloc-2", "publicIp": "198.51.100.2", "associationId": "eipassoc-9"}).to_string(),
    );
    let mut deleted = item("AWS::EC2::Volume", "vol-deleted", a, 1, json!({"state": "available", "size": 5}));
    deleted["configurationItemStatus"] = json!("ResourceDeleted");
    json!({"fileVersion": "1.0", "configSnapshotId": "s-1", "configurationItems": [
        item("AWS::EC2::Volume", "vol-old", a, 20, json!({"volumeId": "vol-old", "size": 100, "volumeType": "gp2", "state": "available", "attachments": []})),
        item("AWS::EC2::Volume", "vol-recent", a, 2, json!({"volumeId": "vol-recent", "size": 100, "volumeType": "gp3", "state": "available", "attachments": []})),
        item("AWS::EC2::Volume", "vol-used", a, 20, json!({"size": 8, "volumeType": "gp3", "state": "in-use", "attachments": [{"instanceId": "i-run"}]})),
        item("AWS::EC2::EIP", "eipalloc-1", a, 5, json!({"allocationId": "eipalloc-1", "publicIp": "198.51.100.1"})),
        stringly,
        item("AWS::EC2::Instance", "i-stopped", a, 60, json!({"instanceType": "m5.large", "state": {"name": "stopped"},
            "stateTransitionReason": format!("User initiated ({} GMT)", (at() - chrono::Duration::days(60)).format("%Y-%m-%d %H:%M:%S")),
            "blockDeviceMappings": [{"ebs": {"volumeId": "vol-used"}}]})),
        item("AWS::EC2::Instance", "i-run", a, 60, json!({"instanceType": "m5.large", "state": {"name": "running"}})),
        item("AWS::S3::Bucket", "logs", a, 60, json!({})),
        deleted,
    ]})
}

async fn scan_offline(p: &InventoryProvider) -> crate::ScanReport {
    let rules: Vec<_> = crate::rules::all().into_iter().filter(|r| r.kind().cloud() == p.cloud()).collect();
    let policy = Policy::default();
    let configured: Vec<Configured<'_>> =
        rules.iter().map(|r| Configured { rule: r.as_ref(), params: policy.params(r.id(), r.defaults()) }).collect();
    scan(p, &configured, &ScanOptions::new(p.regions(), at())).await
}

fn found(report: &crate::ScanReport) -> BTreeSet<(String, String)> {
    report.findings.iter().map(|f| (f.rule.clone(), f.resource_id.clone())).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_aws_config_snapshot_is_scanned_by_its_attributes() {
    let dir = tempfile::tempdir().unwrap();
    // Gzipped, as Config delivers it.
    let path = dir.path().join("snapshot.json.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
    gz.write_all(config_snapshot().to_string().as_bytes()).unwrap();
    gz.finish().unwrap();
    let p = InventoryProvider::read(Cloud::Aws, &path, None).unwrap();
    assert_eq!((p.account(), p.len(), p.skipped), ("123456789012", 7, 2));
    let report = scan_offline(&p).await;
    assert!(report.rules.iter().all(|r| r.status == Status::Ok), "{:?}", report.rules);
    let want: BTreeSet<(String, String)> = [
        ("aws.ebs.unattached", "vol-old"),
        ("aws.ec2.eip-unassociated", "eipalloc-1"),
        ("aws.ec2.stopped", "i-stopped"),
        ("aws.ebs.gp2-to-gp3", "vol-old"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(found(&report), want);
    let vol = report.findings.iter().find(|f| f.rule == "aws.ebs.unattached").unwrap();
    assert!(
        vol.reason.contains("available for 20 days") && vol.reason.contains("not checked (no metrics offline)"),
        "{}",
        vol.reason
    );
    // The running instance could not be judged idle without its CPU: counted, not found.
    let idle = report.rules.iter().find(|r| r.rule == "aws.ec2.idle").unwrap();
    assert_eq!((idle.candidates, idle.insufficient, idle.findings), (1, 1, 0));
}

#[test]
fn bad_inventories_name_the_file_and_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = config_snapshot();
    snap["configurationItems"][3].as_object_mut().unwrap().remove("awsRegion");
    let p = write(&dir, "snap.json", &snap.to_string());
    let e = InventoryProvider::read(Cloud::Aws, &p, None).unwrap_err().to_string();
    assert!(e.contains("snap.json") && e.contains("configurationItems[3]") && e.contains("awsRegion"), "{e}");
    let cur = write(&dir, "cur.json", r#"{"lineItems": []}"#);
    assert!(InventoryProvider::read(Cloud::Aws, &cur, None)
        .unwrap_err()
        .to_string()
        .contains("not an AWS Config snapshot"));
    let lines = write(&dir, "assets.json", "{\"asset_type\": \"compute.googleapis.com/Disk\", \"resource\": {\"data\": {\"name\": \"d\", \"selfLink\": \"https://x/compute/v1/projects/p/zones/z-a/disks/d\"}}}\n\n{broken\n");
    let e = InventoryProvider::read(Cloud::Gcp, &lines, None).unwrap_err().to_string();
    assert!(e.contains("assets.json: line 3"), "{e}");
    assert!(matches!(
        InventoryProvider::read(Cloud::Aws, &dir.path().join("missing.json"), None),
        Err(InventoryError::Io { .. })
    ));
    // Two accounts: one must be chosen.
    let mut two = config_snapshot();
    two["configurationItems"][0]["awsAccountId"] = json!("210987654321");
    let p = write(&dir, "two.json", &two.to_string());
    let e = InventoryProvider::read(Cloud::Aws, &p, None).unwrap_err().to_string();
    assert!(e.contains("2 accounts") && e.contains("--account"), "{e}");
    assert_eq!(InventoryProvider::read(Cloud::Aws, &p, Some("210987654321")).unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn an_azure_resource_graph_result_is_scanned() {
    let sub = "00000000-0000-4000-8000-0000000000aa";
    let id = |kind: &str, name: &str| format!("/subscriptions/{sub}/resourceGroups/rg/providers/{kind}/{name}");
    let rows = json!({"count": 4, "data": [
        {"id": id("Microsoft.Compute/disks", "d-old"), "name": "d-old", "type": "microsoft.compute/disks", "location": "eastus",
         "subscriptionId": sub, "sku": {"name": "Premium_LRS"}, "tags": {},
         "properties": {"diskSizeGB": 100, "diskState": "Unattached", "timeCreated": ago(50), "LastOwnershipUpdateTime": ago(30)}},
        {"id": id("Microsoft.Network/publicIPAddresses", "ip"), "name": "ip", "type": "microsoft.network/publicipaddresses",
         "location": "westeurope", "subscriptionId": sub, "sku": {"name": "Standard"}, "properties": {"ipAddress": "20.0.0.1"}},
        {"id": id("Microsoft.Compute/virtualMachines", "vm"), "name": "vm", "type": "microsoft.compute/virtualmachines",
         "location": "eastus", "subscriptionId": sub, "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v3"},
         "timeCreated": ago(90), "extended": {"instanceView": {"powerState": {"code": "PowerState/running"}}}}},
        {"id": id("Microsoft.Storage/storageAccounts", "sa"), "type": "microsoft.storage/storageaccounts", "subscriptionId": sub}
    ]});
    let dir = tempfile::tempdir().unwrap();
    let p = InventoryProvider::read(Cloud::Azure, &write(&dir, "graph.json", &rows.to_string()), None).unwrap();
    assert_eq!((p.len(), p.skipped), (3, 1));
    assert_eq!(p.regions(), ["eastus", "westeurope"]);
    let report = scan_offline(&p).await;
    let rules: BTreeSet<String> = found(&report).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rules, ["azure.disk.unattached", "azure.network.public-ip-unassociated"].map(String::from).into());
    let idle = report.rules.iter().find(|r| r.rule == "azure.vm.idle" && r.region == "eastus").unwrap();
    assert_eq!((idle.candidates, idle.insufficient), (1, 1), "the VM's power state came from the extended view");
}

#[tokio::test(flavor = "current_thread")]
async fn a_gcp_asset_export_is_scanned() {
    let api = "https://www.googleapis.com/compute/v1/projects/p1";
    let asset = |t: &str, data: Value| json!({"name": "//compute.googleapis.com/x", "asset_type": t, "resource": {"version": "v1", "data": data}});
    let lines = [
        asset(
            "compute.googleapis.com/Disk",
            json!({"name": "d1", "id": "1", "sizeGb": "50", "status": "READY",
            "type": format!("{api}/zones/us-central1-a/diskTypes/pd-standard"), "zone": format!("{api}/zones/us-central1-a"),
            "selfLink": format!("{api}/zones/us-central1-a/disks/d1"), "creationTimestamp": ago(40)}),
        ),
        asset(
            "compute.googleapis.com/GlobalAddress",
            json!({"name": "ip", "address": "203.0.113.5", "status": "RESERVED",
            "selfLink": format!("{api}/global/addresses/ip")}),
        ),
        asset(
            "compute.googleapis.com/Snapshot",
            json!({"name": "s", "diskSizeGb": "10", "storageBytes": "1073741824",
            "selfLink": format!("{api}/global/snapshots/s"), "creationTimestamp": ago(10)}),
        ),
        asset("storage.googleapis.com/Bucket", json!({"name": "b"})),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let dir = tempfile::tempdir().unwrap();
    let p = InventoryProvider::read(Cloud::Gcp, &write(&dir, "export.json", &text), None).unwrap();
    assert_eq!((p.account(), p.len(), p.skipped), ("p1", 3, 1));
    let want: BTreeSet<(String, String)> = [
        ("gcp.disk.unattached", "projects/p1/zones/us-central1-a/disks/d1"),
        ("gcp.address.unused", "projects/p1/global/addresses/ip"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(found(&scan_offline(&p).await), want);
    // The same assets as a JSON array (`gcloud asset list --format=json`).
    let array = Value::Array(lines.to_vec()).to_string();
    assert_eq!(InventoryProvider::read(Cloud::Gcp, &write(&dir, "list.json", &array), None).unwrap().len(), 3);
}
