//! A store written by schema version 1 (wide records) keeps every record, attribute and run
//! when opened by this version, which moves streams and descriptive columns into their tables
//! (version 2) and grains into series (version 3).

use valdrix_core::TenantId;
use valdrix_store::{CostQuery, SqliteStore, Store};

const V1: &str = include_str!("../migrations/sqlite/0001_init.sql");

fn insert_v1_record(c: &rusqlite::Connection, record_id: &str, day: &str, stream: &str, run: i64, sku: &str) {
    c.execute(
        "INSERT INTO cost_records (tenant_id, charge_date, record_id, stream, run_id, provider, billing_account_id, \
         billing_period_start, service_name, charge_category, tags, currency, billed_cost, effective_cost, list_cost, \
         contracted_cost, line_count, sku_id, service_category) \
         VALUES ('default', ?1, ?2, ?3, ?4, 'AWS', '111', '2024-01-01', 'EC2', 'Usage', '{}', 'USD', '1.25', '1', \
         '2', '2', 3, ?5, 'Compute')",
        rusqlite::params![day, record_id, stream, run, sku],
    )
    .unwrap();
}

#[test]
fn version_1_stores_keep_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.sqlite");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(V1).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL); \
             INSERT INTO schema_migrations VALUES (1, '2026-11-01T00:00:00Z'); \
             INSERT INTO tenants VALUES ('default', '2026-11-01T00:00:00Z');",
        )
        .unwrap();
        for (run, stream) in [(1, "file:/a.csv"), (2, "file:/b.csv")] {
            c.execute(
                "INSERT INTO ingest_runs (run_id, tenant_id, stream, source_uri, files, format, checksum, bytes, \
                 rows_read, lines, records, records_replaced, totals, status, started_at, finished_at, read_ms, \
                 write_ms) VALUES (?1, 'default', ?2, ?2, '[]', 'focus', ?2, 1, 1, 1, 2, 0, '{}', 'succeeded', \
                 '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z', 1, 1)",
                rusqlite::params![run, stream],
            )
            .unwrap();
        }
        insert_v1_record(&c, "aa", "2024-01-02", "file:/a.csv", 1, "SKU-1");
        insert_v1_record(&c, "bb", "2024-01-01", "file:/a.csv", 1, "SKU-2");
        insert_v1_record(&c, "cc", "2024-01-03", "file:/b.csv", 2, "SKU-3");
    }
    let store = SqliteStore::open(&db.to_string_lossy()).unwrap();
    let tenant = TenantId::parse("default").unwrap();
    let mut records = Vec::new();
    store
        .for_each_record(&tenant, &CostQuery::default(), &mut |r| {
            records.push(r);
            Ok(())
        })
        .unwrap();
    let skus: Vec<(String, &str)> = records
        .iter()
        .map(|r| (r.grain.charge_date.to_string(), r.attrs.get("SkuId").map(String::as_str).unwrap_or("")))
        .collect();
    assert_eq!(
        skus,
        [("2024-01-01".to_string(), "SKU-2"), ("2024-01-02".to_string(), "SKU-1"), ("2024-01-03".to_string(), "SKU-3")]
    );
    assert!(records.iter().all(|r| r.attrs.get("ServiceCategory").map(String::as_str) == Some("Compute")));
    assert_eq!(records[0].totals.billed_cost.to_string(), "1.25");
    assert_eq!(records[0].totals.line_count, 3);
    assert_eq!(store.runs(&tenant, 10).unwrap().len(), 2);
    // Migration 5 filled the daily totals from the records: costs by service (from the totals)
    // equal costs by service and resource (from the records).
    let by = |group_by: Vec<valdrix_store::Dimension>| {
        let q = CostQuery { group_by, ..CostQuery::default() };
        store
            .costs(&tenant, &q)
            .unwrap()
            .into_iter()
            .map(|r| (r.keys[0].clone(), r.amount, r.records))
            .collect::<Vec<_>>()
    };
    let from_totals = by(vec![valdrix_store::Dimension::Day]);
    let from_records = by(vec![valdrix_store::Dimension::Day, valdrix_store::Dimension::Resource]);
    assert_eq!(from_totals.len(), 3);
    assert_eq!(from_totals, from_records);
    // Series keyed by the migration are the keys a new ingest computes, so restating a migrated
    // stream finds its series again; SKU-1 and SKU-2 share a grain but the day, so one series.
    drop(store);
    let c = rusqlite::Connection::open(&db).unwrap();
    let keys: Vec<(Vec<u8>, String)> = c
        .prepare("SELECT x.series_key, s.stream FROM cost_series x JOIN streams s USING (tenant_id, stream_id) ORDER BY x.series_no")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].0, records[0].grain.series_key("default", "file:/a.csv"));
    assert_eq!(keys[1].0, records[2].grain.series_key("default", "file:/b.csv"));
    let per_series: i64 =
        c.query_row("SELECT COUNT(*) FROM cost_records WHERE series_no = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(per_series, 2);
}
