//! Ingestion from `s3://` (against moto's S3 server) and `az://` (against Azurite), both started
//! by the test on free loopback ports: the totals equal those of the same files ingested locally,
//! and a CUR delivery layout in a bucket is resolved to its newest assembly.

mod common;

use common::{free_port, python, valdrix_env, wait_for, Server};
use std::path::Path;
use std::process::{Command, Stdio};

fn totals_csv(db: &Path) -> String {
    let (ok, out, err) = common::valdrix(db, &["costs", "--group-by", "provider", "--format", "csv"]);
    assert!(ok, "{err}");
    out
}

/// The local reference: the same inputs ingested from disk.
fn local_totals(dir: &Path, inputs: &[&Path]) -> String {
    let db = dir.join("local.sqlite");
    let mut args = vec!["ingest", "--quiet"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let (ok, _, err) = common::valdrix(&db, &args);
    assert!(ok, "{err}");
    totals_csv(&db)
}

#[test]
fn ingests_from_s3_in_moto() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut env) = common::start_moto();
    let s = common::samples();
    env.push(("SAMPLES", s.display().to_string()));
    // The koku CUR delivery layout (period folder, assembly folder, manifests) and a Parquet CUR.
    python(
        r#"
import boto3, os
s = os.environ["SAMPLES"]
c = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
c.create_bucket(Bucket="acme-billing")
root = os.path.join(s, "aws-cur-legacy-csv/koku-local-bucket")
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        c.upload_file(p, "acme-billing", "cur/" + os.path.relpath(p, root))
c.upload_file(os.path.join(s, "aws-cur2-derived/parquet/cur2-derived-2018-10.snappy.parquet"), "acme-billing", "cur2/data/BILLING_PERIOD=2018-10/part-0.snappy.parquet")
c.put_object(Bucket="acme-billing", Key="cur2/README.txt", Body=b"not a billing file")
"#,
        &env,
    );
    let db = dir.path().join("s3.sqlite");
    let (ok, out, err) =
        valdrix_env(&db, &env, &["ingest", "--quiet", "s3://acme-billing/cur/", "s3://acme-billing/cur2"]);
    assert!(ok, "{err}");
    assert!(out.contains("s3://acme-billing/cur/koku-local/20180801-20180901/16e57707"), "{out}");
    let local = local_totals(
        dir.path(),
        &[
            &s.join("aws-cur-legacy-csv/koku-local-bucket"),
            &s.join("aws-cur2-derived/parquet/cur2-derived-2018-10.snappy.parquet"),
        ],
    );
    assert_eq!(totals_csv(&db), local);
    // Fetching again finds the same deliveries: nothing changes.
    let before = common::dump(&db);
    let (ok, out, err) =
        valdrix_env(&db, &env, &["ingest", "--quiet", "s3://acme-billing/cur/", "s3://acme-billing/cur2"]);
    assert!(ok, "{err}");
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(common::dump(&db), before);
    // A prefix with nothing billable is an error, not an empty success.
    let (ok, _, err) = valdrix_env(&db, &env, &["ingest", "s3://acme-billing/nothing-here/"]);
    assert!(!ok && err.contains("no billing files"), "{err}");
}

#[test]
fn ingests_from_azure_blob_in_azurite() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().join("azurite");
    std::fs::create_dir_all(&data).unwrap();
    let mut server = Server(
        Command::new(common::tool("node/node_modules/.bin/azurite-blob"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
            .arg(&data)
            .args(["--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port, &mut server, "azurite-blob");
    let s = common::samples();
    let env = vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL", format!("http://127.0.0.1:{port}")),
        ("SAMPLES", s.display().to_string()),
    ];
    python(
        r#"
import os
from azure.storage.blob import BlobServiceClient
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
url = os.environ["AZURITE_BLOB_STORAGE_URL"] + "/devstoreaccount1"
svc = BlobServiceClient(account_url=url, credential={"account_name": "devstoreaccount1", "account_key": key})
c = svc.create_container("exports")
s = os.path.join(os.environ["SAMPLES"], "azure-cost-details/finops-toolkit")
for f in sorted(os.listdir(s)):
    with open(os.path.join(s, f), "rb") as fh:
        c.upload_blob("cost-details/202309/" + f, fh)
"#,
        &env,
    );
    let db = dir.path().join("az.sqlite");
    // The folder holds the actual and the amortized view of one enrollment's September: the same
    // bill twice, refused as from local files, naming the stream by its URL; nothing written.
    let (ok, _, err) = valdrix_env(&db, &env, &["ingest", "--quiet", "az://exports/cost-details"]);
    assert!(!ok, "both views of one bill were ingested");
    assert!(err.contains("is held by stream file:az://exports/cost-details/202309/EA_ActualCost_Small.csv"), "{err}");
    assert!(common::dump(&db).0.is_empty());
    let amortized = "az://exports/cost-details/202309/EA_AmortizedCost_Small.csv";
    let (ok, out, err) = valdrix_env(&db, &env, &["ingest", "--quiet", amortized]);
    assert!(ok, "{err}");
    assert!(out.contains(amortized), "{out}");
    let local = s.join("azure-cost-details/finops-toolkit/EA_AmortizedCost_Small.csv");
    assert_eq!(totals_csv(&db), local_totals(dir.path(), &[&local]));
}
