//! Tenant isolation in PostgreSQL, enforced by the database.
//!
//! Two tenants ingest different exports through the command line, connected as the application
//! role. Then, with plain SQL as that role: no tenant set is an error (not an empty answer),
//! tenant A sees only A's rows in every tenant table and cannot write B's, and every table of the
//! schema that holds tenant data has row-level security enabled and forced. The role itself can
//! neither bypass row-level security nor owns a table. (That the store refuses a statement with
//! no tenant context before it reaches the database is a unit test of `valdrix_store::postgres`.)

mod common;

use common::{samples, valdrix};
use std::path::Path;
use valdrix_store::testing::PgTestDb;

/// Tables the schema keeps outside any tenant.
const NOT_TENANT_OWNED: &[&str] = &["schema_migrations"];

fn ingest(db: &PgTestDb, tenant: &str, file: &Path) {
    let url = db.app_url();
    let (ok, out, err) = valdrix(Path::new(&url), &["--tenant", tenant, "ingest", file.to_str().unwrap()]);
    assert!(ok, "ingest for {tenant} failed: {out}{err}");
}

/// Two tenants with data: `a` has the CUR 2.0 sample, `b` a FOCUS export.
fn two_tenants() -> PgTestDb {
    let db = PgTestDb::new();
    let cur = samples().join("aws-cur2-derived/csv/cur2-derived-2018-10-sample1000.csv");
    ingest(&db, "a", &cur);
    ingest(&db, "b", &samples().join("focus/focus-1.0-sample/focus_sample_1000.csv"));
    db
}

/// Every ordinary or partitioned table of the public schema, with its row-level security flags.
fn tables(c: &mut postgres::Client) -> Vec<(String, bool, bool)> {
    c.query(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[test]
fn every_tenant_table_has_forced_row_level_security() {
    let db = two_tenants();
    let mut owner = db.owner_client();
    let all = tables(&mut owner);
    assert!(all.iter().any(|t| t.0.starts_with("cost_records_")), "no cost_records partition: {all:?}");
    let mut checked = 0;
    for (table, enabled, forced) in &all {
        if NOT_TENANT_OWNED.contains(&table.as_str()) {
            continue;
        }
        assert!(*enabled && *forced, "{table}: row-level security enabled={enabled} forced={forced}");
        // tenant_id leads the primary key.
        let first_key: Option<String> = owner
            .query_opt(
                "SELECT a.attname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
                 WHERE c.relname = $1 AND i.indisprimary",
                &[table],
            )
            .unwrap()
            .map(|r| r.get(0));
        assert_eq!(first_key.as_deref(), Some("tenant_id"), "{table}: tenant_id does not lead the primary key");
        let policies: i64 =
            owner.query_one("SELECT count(*) FROM pg_policies WHERE tablename = $1", &[table]).unwrap().get(0);
        assert!(policies > 0, "{table} has no policy");
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} tenant tables found: {all:?}");
}

#[test]
fn the_application_role_sees_one_tenant_and_fails_without_one() {
    let db = two_tenants();
    let mut app = db.app_client();

    // The role: no superuser, no BYPASSRLS, owns no table.
    let role = app.query_one("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", &[]).unwrap();
    assert!(!role.get::<_, bool>(0) && !role.get::<_, bool>(1), "the application role can bypass row-level security");
    // Persistent relations only: a session's temporary table (ingestion keeps one for the scope of
    // a restatement) belongs to the role that made it, and a backend whose client has gone drops
    // its temporary tables as it exits, which can be just after the command line returned.
    let owned: i64 = app
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner \
             WHERE r.rolname = current_user AND c.relpersistence <> 't'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owned, 0, "the application role owns tables");
    // It may have a month's partition made (ingestion of a late month needs one), but only for a
    // plausible billing month: not year 1 or 2999.
    for month in ["0001-01-01", "1999-12-01", "2999-01-01"] {
        let e = app.query_one("SELECT valdrix_ensure_partition($1)", &[&month]).expect_err(month);
        let message = e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default();
        assert!(message.contains("outside the plausible billing months"), "{month}: {e:?}");
    }
    app.query_one("SELECT valdrix_ensure_partition($1)", &[&"2024-03-01"]).unwrap();

    // No tenant set: every tenant table with rows answers with an error, not with rows.
    for table in ["tenants", "ingest_runs", "cost_series", "cost_records", "record_attrs", "stream_periods"] {
        let err = app.query(&format!("SELECT * FROM {table}"), &[]).expect_err(table);
        let msg = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(msg.contains("no tenant is set"), "{table}: {err}");
    }

    // Tenant a: only a's rows, in every table; b's rows exist (seen by the owner).
    let mut owner = db.owner_client();
    let mut tx = app.transaction().unwrap();
    tx.execute("SELECT set_config('app.tenant_id', 'a', true)", &[]).unwrap();
    for (table, _, _) in tables(&mut owner) {
        if NOT_TENANT_OWNED.contains(&table.as_str()) {
            continue;
        }
        // Partitions are reached through their parent only: the role may not read them at all.
        let readable: bool =
            tx.query_one("SELECT has_table_privilege(current_user, $1, 'SELECT')", &[&table]).unwrap().get(0);
        if !readable {
            assert!(table.starts_with("cost_records_"), "the application role cannot read {table}");
            continue;
        }
        let seen: Vec<String> = tx
            .query(&format!("SELECT DISTINCT tenant_id::text FROM {table}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(seen.iter().all(|t| t == "a"), "{table} shows tenants {seen:?} to tenant a");
    }
    let a_records: i64 = tx.query_one("SELECT count(*) FROM cost_records", &[]).unwrap().get(0);
    let all_records: i64 = owner.query_one("SELECT count(*) FROM cost_records", &[]).unwrap().get(0);
    let b_records: i64 =
        owner.query_one("SELECT count(*) FROM cost_records WHERE tenant_id = 'b'", &[]).unwrap().get(0);
    assert!(a_records > 0 && b_records > 0, "a: {a_records}, b: {b_records}");
    assert!(all_records >= a_records + b_records);
    // Asking for b's rows by name finds nothing.
    let leaked: i64 = tx.query_one("SELECT count(*) FROM cost_records WHERE tenant_id = 'b'", &[]).unwrap().get(0);
    assert_eq!(leaked, 0);
    // Writing as b is refused; so is moving a's rows to b.
    let err = tx
        .execute("INSERT INTO period_closes (tenant_id, period, closed_at, closed_by, reason) VALUES ('b', '2018-10', 'now', 'x', 'y')", &[])
        .expect_err("cross-tenant insert");
    let msg = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert!(msg.contains("row-level security"), "{err:?}");
    tx.rollback().unwrap();
    let mut tx = app.transaction().unwrap();
    tx.execute("SELECT set_config('app.tenant_id', 'a', true)", &[]).unwrap();
    let err = tx.execute("UPDATE ingest_runs SET tenant_id = 'b'", &[]).expect_err("cross-tenant update");
    let msg = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert!(msg.contains("row-level security"), "{err:?}");
    tx.rollback().unwrap();

    // Through the command line as tenant b: b's run only, and b's total, never a's.
    let url = db.app_url();
    let (ok, out, err) = valdrix(Path::new(&url), &["--tenant", "b", "runs"]);
    assert!(ok, "{err}");
    assert!(out.contains("focus_sample_1000") && !out.contains("cur2-derived"), "tenant b's runs: {out}");
    let b_total: String = owner
        .query_one("SELECT SUM(billed_cost)::text FROM cost_records WHERE tenant_id = 'b' AND line_count > 0", &[])
        .unwrap()
        .get(0);
    let (ok, out, err) = valdrix(Path::new(&url), &["--tenant", "b", "costs", "--format", "csv"]);
    assert!(ok, "{err}");
    let b_total = b_total.parse::<rust_decimal::Decimal>().unwrap().normalize().to_string();
    assert!(out.contains(&b_total), "tenant b's costs {out} do not total {b_total}");
}
