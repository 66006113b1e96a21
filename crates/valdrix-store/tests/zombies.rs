//! Zombie findings with history, on both backends: new, still present, resolved (only where the
//! rule and region finished), reopened, ignored across scans; atomic scans; tenants apart.

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;
use valdrix_core::TenantId;
use valdrix_store::testing::PgTestDb;
use valdrix_store::zombies::{NewZombieScan, ZombieFilter, ZombieKey, ZombieObservation, ZombieStatus};
use valdrix_store::{SqliteStore, Store};

fn key(rule: &str, region: &str, id: &str) -> ZombieKey {
    ZombieKey {
        cloud: "aws".into(),
        account: "123456789012".into(),
        rule: rule.into(),
        region: region.into(),
        resource_id: id.into(),
    }
}

fn seen(k: &ZombieKey, cost: &str) -> ZombieObservation {
    ZombieObservation {
        key: k.clone(),
        resource_type: "aws.ebs.volume".into(),
        monthly_cost: Some(Decimal::from_str(cost).unwrap()),
        monthly_savings: Some(Decimal::from_str(cost).unwrap()),
        currency: Some("USD".into()),
        cost_source: "bill".into(),
        finding: format!("{{\"reason\":\"{} is idle\"}}", k.resource_id),
    }
}

fn scan(findings: Vec<ZombieObservation>, finished: &[(&str, &str)]) -> NewZombieScan {
    NewZombieScan {
        cloud: "aws".into(),
        account: "123456789012".into(),
        evaluated_at: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        actor: "test".into(),
        complete: true,
        finished: finished.iter().map(|(r, g)| (r.to_string(), g.to_string())).collect(),
        statuses: "{}".into(),
        findings,
    }
}

fn statuses(store: &dyn Store, tenant: &TenantId) -> Vec<(String, ZombieStatus)> {
    let mut v: Vec<_> = store
        .zombies(tenant, &ZombieFilter::default())
        .unwrap()
        .into_iter()
        .map(|z| (z.key.resource_id, z.status))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn history_of_findings(store: &mut dyn Store) {
    let t = TenantId::parse("acme").unwrap();
    let (a, b, c) = (key("r1", "x", "vol-a"), key("r1", "x", "vol-b"), key("r2", "y", "vol-c"));
    let all = [("r1", "x"), ("r2", "y")];
    use ZombieStatus::*;

    let s1 =
        store.record_zombie_scan(&t, &scan(vec![seen(&a, "7.6094"), seen(&b, "3.65"), seen(&c, "120")], &all)).unwrap();
    assert_eq!((s1.findings, s1.new, s1.still_present, s1.resolved, s1.ignored), (3, 3, 0, 0, 0));
    assert_eq!(statuses(store, &t), vec![("vol-a".into(), New), ("vol-b".into(), New), ("vol-c".into(), New)]);
    // Costliest first, amounts exact.
    let listed = store.zombies(&t, &ZombieFilter::default()).unwrap();
    assert_eq!(listed[0].key, c);
    assert_eq!(listed[1].monthly_cost, Some(Decimal::from_str("7.6094").unwrap()));

    assert!(store.set_zombie_ignored(&t, &b, true, "alice", "kept for the audit").unwrap());
    assert!(!store.set_zombie_ignored(&t, &key("r1", "x", "vol-none"), true, "alice", "x").unwrap());

    // r2 in y timed out: c is neither confirmed nor resolved.
    let s2 = store.record_zombie_scan(&t, &scan(vec![seen(&a, "7.6094"), seen(&b, "3.65")], &[("r1", "x")])).unwrap();
    assert_eq!((s2.new, s2.still_present, s2.resolved, s2.ignored), (0, 1, 0, 1));
    assert_eq!(
        statuses(store, &t),
        vec![("vol-a".into(), StillPresent), ("vol-b".into(), Ignored), ("vol-c".into(), StillPresent)]
    );

    // Everything finished and only b is found: a and c are resolved.
    let s3 = store.record_zombie_scan(&t, &scan(vec![seen(&b, "3.65")], &all)).unwrap();
    assert_eq!((s3.new, s3.still_present, s3.resolved, s3.ignored), (0, 0, 2, 1));
    assert_eq!(
        statuses(store, &t),
        vec![("vol-a".into(), Resolved), ("vol-b".into(), Ignored), ("vol-c".into(), Resolved)]
    );

    // a comes back: new again, with its whole history.
    let s4 = store.record_zombie_scan(&t, &scan(vec![seen(&a, "8"), seen(&b, "3.65")], &all)).unwrap();
    assert_eq!((s4.new, s4.still_present, s4.resolved, s4.ignored), (1, 0, 0, 1));
    let events: Vec<String> = store.zombie_history(&t, &a).unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["new", "resolved", "reopened"]);
    let b_events = store.zombie_history(&t, &b).unwrap();
    assert_eq!(b_events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["new", "ignored"]);
    assert_eq!(b_events[1].detail.as_deref(), Some("kept for the audit"));
    let only_new = ZombieFilter { statuses: vec![New], ..Default::default() };
    let listed = store.zombies(&t, &only_new).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.clone(), listed[0].monthly_cost), (a.clone(), Some(Decimal::from(8))));
    assert!(store.set_zombie_ignored(&t, &b, false, "bob", "the audit is over").unwrap());
    assert_eq!(store.zombies(&t, &ZombieFilter { statuses: vec![Ignored], ..Default::default() }).unwrap().len(), 0);

    // A scan with a finding of another account is refused whole.
    let mut bad = scan(vec![seen(&c, "1")], &all);
    bad.findings.push(ZombieObservation { key: ZombieKey { account: "999".into(), ..a.clone() }, ..seen(&a, "1") });
    assert!(store.record_zombie_scan(&t, &bad).is_err());
    let scans = store.zombie_scans(&t, 100).unwrap();
    assert_eq!(scans.len(), 4);
    assert_eq!(scans[0].scan_id, s4.scan_id);
    assert_eq!(statuses(store, &t)[2], ("vol-c".into(), Resolved));

    // Another tenant sees none of it.
    let other = TenantId::parse("other").unwrap();
    assert!(store.zombies(&other, &ZombieFilter::default()).unwrap().is_empty());
    assert!(store.zombie_scans(&other, 10).unwrap().is_empty());
    assert!(!store.set_zombie_ignored(&other, &a, true, "mallory", "x").unwrap());
}

#[test]
fn findings_keep_their_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("z.sqlite").to_str().unwrap()).unwrap();
    history_of_findings(&mut store);
}

#[test]
fn findings_keep_their_history_on_postgres_as_the_application_role() {
    let pg = PgTestDb::new();
    let mut store = pg.boxed();
    history_of_findings(store.as_mut());
}
