//! Allocation rule sets on both backends: versions numbered per tenant, the same rules saved
//! twice making no new version, every version kept with who and why, tenants apart.

use valdrix_core::TenantId;
use valdrix_store::testing::PgTestDb;
use valdrix_store::{SqliteStore, Store};

fn versions_of_rules(store: &mut dyn Store) {
    let t = TenantId::parse("acme").unwrap();
    assert!(store.allocation_rules(&t, None).unwrap().is_none());
    assert!(store.allocation_rule_history(&t).unwrap().is_empty());

    let first = store.save_allocation_rules(&t, "{\"version\": 1, \"rules\": []}", "ana", "start").unwrap();
    assert!(first.created);
    assert_eq!(first.version.version, 1);
    let again = store.save_allocation_rules(&t, "{\"version\": 1, \"rules\": []}", "bo", "again").unwrap();
    assert!(!again.created, "the same rules make no new version");
    assert_eq!((again.version.version, again.version.created_by.as_str()), (1, "ana"));

    let second = store.save_allocation_rules(&t, "{\"version\": 1, \"rules\": [1]}", "bo", "nat 60/40").unwrap();
    assert!(second.created);
    assert_eq!(second.version.version, 2);
    let current = store.allocation_rules(&t, None).unwrap().unwrap();
    assert_eq!((current.version, current.note.as_str(), current.created_by.as_str()), (2, "nat 60/40", "bo"));
    assert_eq!(store.allocation_rules(&t, Some(1)).unwrap().unwrap().rules, "{\"version\": 1, \"rules\": []}");
    assert!(store.allocation_rules(&t, Some(3)).unwrap().is_none());
    let history: Vec<i64> = store.allocation_rule_history(&t).unwrap().iter().map(|v| v.version).collect();
    assert_eq!(history, vec![2, 1]);

    // Another tenant numbers its own versions and sees none of these.
    let other = TenantId::parse("other").unwrap();
    assert!(store.allocation_rules(&other, None).unwrap().is_none());
    let theirs = store.save_allocation_rules(&other, "{}", "eve", "").unwrap();
    assert_eq!(theirs.version.version, 1);
    assert_eq!(store.allocation_rule_history(&t).unwrap().len(), 2);
}

#[test]
fn rule_sets_keep_their_versions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("r.sqlite").to_str().unwrap()).unwrap();
    versions_of_rules(&mut store);
}

#[test]
fn rule_sets_keep_their_versions_on_postgres_as_the_application_role() {
    let pg = PgTestDb::new();
    let mut store = pg.boxed();
    versions_of_rules(store.as_mut());
}
