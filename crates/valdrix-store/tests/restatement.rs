//! Restatements, checked against a model over random sequences of deliveries.
//!
//! Each delivery is one stream's records for one or two billing periods. The model keeps, per
//! stream and period, what the newest delivery said. After every delivery:
//! - current totals per currency equal the first deliveries' totals plus the sum of every audit
//!   delta, exactly (the store's invariant), and equal the model's;
//! - the run's audit entries are exactly the model's differences (restated, added late, removed);
//! - no stored record has disappeared.
//!
//! Every test runs on both backends: SQLite, and PostgreSQL as the application role (row-level
//! security on), in a throwaway database. Each proptest case is a fresh tenant of one store, so
//! the cases also check that tenants do not see each other's records.

use chrono::{NaiveDate, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

use valdrix_core::{CostRecord, Grain, TenantId, Totals};
use valdrix_store::testing::PgTestDb;
use valdrix_store::trust::record_id;
use valdrix_store::{ChangeReason, NewRun, SqliteStore, Store, TrustPolicy};

/// A store of one backend, and a way to list every stored record key of a tenant.
struct Fixture {
    _dir: tempfile::TempDir,
    sqlite: std::path::PathBuf,
    pg: Option<PgTestDb>,
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Fixture {
    fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join("store.sqlite");
        let pg = matches!(backend, Backend::Postgres).then(PgTestDb::new);
        Fixture { _dir: dir, sqlite, pg }
    }

    fn store(&self) -> Box<dyn Store + Send> {
        match &self.pg {
            Some(pg) => pg.boxed(),
            None => Box::new(SqliteStore::open(self.sqlite.to_str().unwrap()).unwrap()),
        }
    }

    /// (charge day, series) of every record of the tenant, removed ones included.
    fn stored_keys(&self, tenant: &TenantId) -> BTreeSet<(String, i64)> {
        let sql = "SELECT charge_date, series_no FROM cost_records WHERE tenant_id = $1";
        match &self.pg {
            Some(pg) => {
                let rows = pg.owner_client().query(sql, &[&tenant.as_str()]).unwrap();
                rows.iter().map(|r| (r.get(0), r.get(1))).collect()
            }
            None => {
                let c = rusqlite::Connection::open(&self.sqlite).unwrap();
                let mut stmt = c.prepare(&sql.replace('$', "?")).unwrap();
                let rows = stmt.query_map([tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
                rows.map(|r| r.unwrap()).collect()
            }
        }
    }
}

static TENANTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A tenant no earlier case used.
fn fresh_tenant() -> TenantId {
    TenantId::parse(&format!("t{}", TENANTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed))).unwrap()
}

const STREAMS: [&str; 2] = ["named:a", "named:b"];
const RESOURCES: [(&str, &str); 3] = [("r0", "USD"), ("r1", "USD"), ("r2", "EUR")];
const DAYS: u32 = 3;

fn period(p: usize) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9 + p as u32, 1).unwrap()
}

/// One record slot: (period, resource, day).
type Slot = (usize, usize, u32);

fn slots() -> Vec<Slot> {
    let mut v = Vec::new();
    for p in 0..2 {
        for r in 0..RESOURCES.len() {
            for d in 0..DAYS {
                v.push((p, r, d));
            }
        }
    }
    v
}

/// A delivery: a stream, the periods it covers (bit mask 1..=3), and per slot an amount in
/// hundredths, or none when the slot has no record.
#[derive(Debug, Clone)]
struct Delivery {
    stream: usize,
    periods: u8,
    amounts: Vec<Option<i64>>,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    let n = slots().len();
    (0..STREAMS.len(), 1u8..=3, proptest::collection::vec(proptest::option::weighted(0.7, -500i64..5000), n))
        .prop_map(|(stream, periods, amounts)| Delivery { stream, periods, amounts })
}

fn record((p, r, d): Slot, cents: i64) -> CostRecord {
    let (resource, currency) = RESOURCES[r];
    let billed = Decimal::new(cents, 2);
    CostRecord {
        grain: Grain {
            billing_period_start: period(p),
            resource_id: Some(resource.into()),
            ..Grain::usage("AWS", "111", "EC2", period(p) + chrono::Duration::days(i64::from(d)), currency)
        },
        attrs: BTreeMap::new(),
        totals: Totals {
            billed_cost: billed,
            effective_cost: billed / Decimal::TWO,
            list_cost: billed,
            contracted_cost: billed,
            line_count: 1,
            ..Totals::default()
        },
    }
}

fn new_run(stream: &str, n: usize) -> NewRun {
    NewRun {
        // The two streams deliver the same grain on purpose: the arithmetic of audits must hold
        // across streams whatever they bill (refusing an overlap is tested on its own below).
        overlap: valdrix_store::scope::OverlapPolicy::Allow,
        ..NewRun::of_file(stream, &format!("delivery-{n}.csv"), "focus", &format!("checksum-{n}"), Utc::now())
    }
}

/// Model key of a record: stream, period, resource, day.
type Key = (usize, usize, usize, u32);

fn check_sequence(fixture: &Fixture, store: &mut dyn Store, deliveries: Vec<Delivery>) -> Result<(), TestCaseError> {
    let tenant = fresh_tenant();
    // Model: live records (key → cents), periods delivered, first-delivery totals.
    let mut live: BTreeMap<Key, i64> = BTreeMap::new();
    let mut delivered: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut first_totals: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut deltas: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut kept: BTreeSet<(String, i64)> = BTreeSet::new();

    for (n, d) in deliveries.iter().enumerate() {
        let periods: Vec<usize> = (0..2).filter(|p| d.periods & (1 << p) != 0).collect();
        let mut records = Vec::new();
        let mut new_live: BTreeMap<Key, i64> = BTreeMap::new();
        for (slot, amount) in slots().into_iter().zip(&d.amounts) {
            if let (true, Some(cents)) = (periods.contains(&slot.0), amount) {
                records.push(record(slot, *cents));
                new_live.insert((d.stream, slot.0, slot.1, slot.2), *cents);
            }
        }
        // A delivery with no record of a period says nothing of it (the store cannot tell).
        let covered: BTreeSet<usize> = new_live.keys().map(|k| k.1).collect();
        let run = store.replace_stream(&tenant, &new_run(STREAMS[d.stream], n), &records).unwrap();

        // Expected changes.
        let mut expected: BTreeMap<Key, (ChangeReason, i64, i64)> = BTreeMap::new();
        for &p in &covered {
            let first = delivered.insert((d.stream, p));
            for (r, _) in RESOURCES.iter().enumerate() {
                for day in 0..DAYS {
                    let k = (d.stream, p, r, day);
                    let old = live.get(&k).copied();
                    let new = new_live.get(&k).copied();
                    if first {
                        if let Some(c) = new {
                            let t = first_totals.entry(RESOURCES[r].1.to_string()).or_default();
                            t.0 += Decimal::new(c, 2);
                            t.1 += Decimal::new(c, 2) / Decimal::TWO;
                        }
                    }
                    let change = match (old, new) {
                        (Some(o), Some(n)) if o != n => Some((ChangeReason::Restated, o, n)),
                        (None, Some(n)) if !first => Some((ChangeReason::AddedLate, 0, n)),
                        (Some(o), None) => Some((ChangeReason::Removed, o, 0)),
                        _ => None,
                    };
                    if let Some(c) = change {
                        expected.insert(k, c);
                    }
                    match new {
                        Some(c) => live.insert(k, c),
                        None => live.remove(&k),
                    };
                }
            }
        }

        // The run's audit entries are exactly the expected changes.
        let entries = store.audit_entries(&tenant, run.run_id).unwrap();
        let mut got: BTreeMap<String, (ChangeReason, Decimal, Decimal)> = BTreeMap::new();
        for e in &entries {
            prop_assert_eq!(e.effective_delta() * Decimal::TWO, e.billed_delta());
            let t = deltas.entry(e.currency.clone()).or_default();
            t.0 += e.billed_delta();
            t.1 += e.effective_delta();
            got.insert(e.record_id.clone(), (e.reason, e.old_billed, e.new_billed));
        }
        prop_assert_eq!(entries.len(), expected.len(), "entries {:?} expected {:?}", entries, expected);
        for ((stream, p, r, day), (reason, o, n)) in &expected {
            let g = record((*p, *r, *day), 0).grain;
            let id = record_id(&g.series_key(tenant.as_str(), STREAMS[*stream]), g.charge_date);
            let want = (*reason, Decimal::new(*o, 2), Decimal::new(*n, 2));
            prop_assert_eq!(got.get(&id), Some(&want), "record {}", id);
        }
        prop_assert_eq!(run.changes.restated + run.changes.added_late + run.changes.removed, entries.len() as u64);

        // Current totals = first totals + Σ deltas = the model's live records.
        let totals = store.totals(&tenant).unwrap();
        let mut model: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for (k, c) in &live {
            let t = model.entry(RESOURCES[k.2].1.to_string()).or_default();
            t.0 += Decimal::new(*c, 2);
            t.1 += Decimal::new(*c, 2) / Decimal::TWO;
        }
        let currencies: BTreeSet<&String> = totals.keys().chain(first_totals.keys()).chain(model.keys()).collect();
        for cur in currencies {
            let current = totals.get(cur).map(|t| (t.billed, t.effective)).unwrap_or_default();
            let first = first_totals.get(cur).copied().unwrap_or_default();
            let delta = deltas.get(cur).copied().unwrap_or_default();
            prop_assert_eq!(current.0, first.0 + delta.0, "billed {}", cur);
            prop_assert_eq!(current.1, first.1 + delta.1, "effective {}", cur);
            let m = model.get(cur).copied().unwrap_or_default();
            prop_assert_eq!(current.0, m.0, "billed {} against the model", cur);
            prop_assert_eq!(current.1, m.1, "effective {} against the model", cur);
        }

        // The daily totals (what grouped cost questions read) equal the records' sums.
        rollup_matches_records(store, &tenant)?;

        // No record ever deleted.
        let now = fixture.stored_keys(&tenant);
        prop_assert!(kept.is_subset(&now), "records disappeared: {:?}", kept.difference(&now).collect::<Vec<_>>());
        kept = now;
    }
    Ok(())
}

/// Amount and record count by (group keys, currency).
type GroupedSums = BTreeMap<(Vec<Option<String>>, String), (Decimal, u64)>;

/// Costs grouped by day and at most one rollup dimension come from the daily totals; the same
/// grouping plus the resource comes from the records. Summed over resources, they must agree.
fn rollup_matches_records(store: &dyn Store, tenant: &TenantId) -> Result<(), TestCaseError> {
    use valdrix_store::{CostQuery, Dimension, Metric};
    let dims = [
        None,
        Some(Dimension::Service),
        Some(Dimension::Account),
        Some(Dimension::Region),
        Some(Dimension::Provider),
        Some(Dimension::ChargeCategory),
        Some(Dimension::SubAccount),
    ];
    for dim in dims {
        for metric in [Metric::Billed, Metric::Effective, Metric::List] {
            let mut group_by = vec![Dimension::Day];
            group_by.extend(dim.clone());
            let q = CostQuery { group_by: group_by.clone(), metric, ..CostQuery::default() };
            let from_totals: GroupedSums = store
                .costs(tenant, &q)
                .unwrap()
                .into_iter()
                .map(|r| ((r.keys, r.currency), (r.amount, r.records)))
                .collect();
            group_by.push(Dimension::Resource);
            let q = CostQuery { group_by, metric, ..CostQuery::default() };
            let mut from_records: GroupedSums = BTreeMap::new();
            for mut r in store.costs(tenant, &q).unwrap() {
                r.keys.pop();
                let e = from_records.entry((r.keys, r.currency)).or_default();
                e.0 += r.amount;
                e.1 += r.records;
            }
            prop_assert_eq!(&from_totals, &from_records, "{:?} {:?}", dim, metric);
        }
    }
    Ok(())
}

/// The model check over random sequences of deliveries, on one store.
fn random_sequences(backend: Backend, cases: u32) {
    let fixture = Fixture::new(backend);
    let store = std::cell::RefCell::new(fixture.store());
    let config = ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/restatement.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(delivery(), 1..7), |deliveries| {
        check_sequence(&fixture, store.borrow_mut().as_mut(), deliveries)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn totals_are_first_totals_plus_audit_deltas_sqlite() {
    random_sequences(Backend::Sqlite, 96);
}

#[test]
fn totals_are_first_totals_plus_audit_deltas_postgres() {
    random_sequences(Backend::Postgres, 48);
}

fn removed_and_delivered_again(backend: Backend) {
    let seq = vec![
        Delivery { stream: 0, periods: 1, amounts: vec![Some(100); slots().len()] },
        Delivery {
            stream: 0,
            periods: 1,
            amounts: {
                let mut v = vec![Some(100); slots().len()];
                v[0] = None;
                v
            },
        },
        Delivery { stream: 0, periods: 1, amounts: vec![Some(100); slots().len()] },
    ];
    let fixture = Fixture::new(backend);
    let mut store = fixture.store();
    check_sequence(&fixture, store.as_mut(), seq).unwrap();
}

#[test]
fn a_record_removed_and_delivered_again_comes_back_as_added_late_sqlite() {
    removed_and_delivered_again(Backend::Sqlite);
}

#[test]
fn a_record_removed_and_delivered_again_comes_back_as_added_late_postgres() {
    removed_and_delivered_again(Backend::Postgres);
}

#[test]
fn the_finalised_series_holds_only_final_days_sqlite() {
    finalised_series(Backend::Sqlite);
}

#[test]
fn the_finalised_series_holds_only_final_days_postgres() {
    finalised_series(Backend::Postgres);
}

fn finalised_series(backend: Backend) {
    let fixture = Fixture::new(backend);
    let mut store = fixture.store();
    let tenant = fresh_tenant();
    let records: Vec<CostRecord> = slots().into_iter().filter(|s| s.0 == 0).map(|s| record(s, 250)).collect();
    store.replace_stream(&tenant, &new_run(STREAMS[0], 0), &records).unwrap();
    let q = valdrix_store::CostQuery::default();
    let now = Utc::now();
    // September 2026 ended long before now: every day is final, one row per day and currency.
    let all = store.final_daily_costs(&tenant, &q, now, &TrustPolicy::default()).unwrap();
    assert_eq!(all.len(), DAYS as usize * 2);
    let day_total: Decimal = all.iter().filter(|r| r.currency == "USD").map(|r| r.amount).sum();
    assert_eq!(day_total, Decimal::new(250 * 2 * i64::from(DAYS), 2));
    // With 24 hours to finality: at noon on 2 September no day is final (1 September ended at
    // midnight and is final from midnight on the 3rd); at noon on 3 September, 1 September is.
    let at = |d: u32, h: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 9, d, h, 0, 0).single().unwrap();
    let policy = TrustPolicy { final_after_hours: 24, ..TrustPolicy::default() };
    assert!(store.final_daily_costs(&tenant, &q, at(2, 12), &policy).unwrap().is_empty());
    let one = store.final_daily_costs(&tenant, &q, at(3, 12), &policy).unwrap();
    assert_eq!(
        one.iter().map(|r| r.keys[0].clone().unwrap()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["2026-09-01".to_string()])
    );
    // Invoiced, the period is final whatever the clock says.
    let mut invoiced = records.clone();
    for r in &mut invoiced {
        r.attrs.insert("InvoiceId".into(), "INV-1".into());
    }
    let run = store.replace_stream(&tenant, &new_run(STREAMS[0], 1), &invoiced).unwrap();
    assert_eq!(store.final_daily_costs(&tenant, &q, at(2, 12), &policy).unwrap().len(), DAYS as usize * 2);
    // The same sums with new descriptive columns: no audit entry, but every record now carries
    // the invoice id of the newest delivery.
    assert!(store.audit_entries(&tenant, run.run_id).unwrap().is_empty());
    let mut invoices = Vec::new();
    store
        .for_each_record(&tenant, &q, &mut |r| {
            invoices.push(r.attr("InvoiceId").map(String::from));
            Ok(())
        })
        .unwrap();
    assert_eq!(invoices, vec![Some("INV-1".to_string()); records.len()]);
}

/// A delivery whose provider, billing account and period another stream holds is refused, with
/// nothing written and the holder named; the holder's own stream restates it; `Disjoint` keeps a
/// delivery of other sub accounts and refuses one that shares a sub account.
fn scopes_are_held_by_one_stream(backend: Backend) {
    use valdrix_store::scope::{OverlapPolicy, ScopeConflict};
    use valdrix_store::StoreError;
    let fixture = Fixture::new(backend);
    let mut store = fixture.store();
    let tenant = fresh_tenant();
    let with_sub = |cents: i64, sub: Option<&str>| {
        let mut r = record((0, 0, 0), cents);
        r.grain.sub_account_id = sub.map(String::from);
        vec![r]
    };
    let run = |stream: &str, n: usize, overlap: OverlapPolicy| NewRun { overlap, ..new_run(stream, n) };
    let first = store.replace_stream(&tenant, &run("file:/a.csv", 1, OverlapPolicy::Refuse), &with_sub(100, Some("A")));
    first.unwrap();
    let keys = fixture.stored_keys(&tenant);
    let refused =
        store.replace_stream(&tenant, &run("file:/b.csv", 2, OverlapPolicy::Refuse), &with_sub(110, Some("A")));
    let Err(StoreError::ScopeHeld(conflict)) = refused else { panic!("not refused: {refused:?}") };
    let ScopeConflict { held, .. } = *conflict;
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].stream.as_str(), held[0].billing_account_id.as_str()), ("file:/a.csv", "111"));
    assert_eq!((held[0].periods.clone(), held[0].run_id), (vec!["2026-09".to_string()], 1));
    assert_eq!(fixture.stored_keys(&tenant), keys, "a refused delivery wrote records");
    assert_eq!(store.runs(&tenant, 10).unwrap().len(), 1, "a refused delivery wrote a run");
    // Another sub account of the same account: kept with Disjoint, refused without.
    let other = with_sub(7, Some("C"));
    assert!(store.replace_stream(&tenant, &run("file:/c.csv", 3, OverlapPolicy::Refuse), &other).is_err());
    store.replace_stream(&tenant, &run("file:/c.csv", 3, OverlapPolicy::Disjoint), &other).unwrap();
    let shared =
        store.replace_stream(&tenant, &run("file:/d.csv", 4, OverlapPolicy::Disjoint), &with_sub(1, Some("C")));
    assert!(matches!(shared, Err(StoreError::ScopeHeld(_))), "{shared:?}");
    assert!(store.stream_overlaps(&tenant).unwrap().is_empty());
    // Kept knowingly: listed as an overlap.
    store.replace_stream(&tenant, &run("file:/d.csv", 4, OverlapPolicy::Allow), &with_sub(1, Some("C"))).unwrap();
    let overlaps = store.stream_overlaps(&tenant).unwrap();
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    assert_eq!(overlaps[0].streams, ["file:/c.csv", "file:/d.csv"]);
    assert_eq!(overlaps[0].sub_accounts, ["C"]);
    // The holder restates its own scope.
    store.replace_stream(&tenant, &run("file:/a.csv", 5, OverlapPolicy::Refuse), &with_sub(110, Some("A"))).unwrap();
    assert_eq!(store.resolve_stream(&tenant, "file:/a.csv").unwrap().as_deref(), Some("file:/a.csv"));
    assert_eq!(store.resolve_stream(&tenant, "nothing").unwrap(), None);
}

#[test]
fn scopes_are_held_by_one_stream_sqlite() {
    scopes_are_held_by_one_stream(Backend::Sqlite);
}

#[test]
fn scopes_are_held_by_one_stream_postgres() {
    scopes_are_held_by_one_stream(Backend::Postgres);
}
