//! Allocation: worked examples from the FinOps literature, and properties over random records
//! and random rule sets (conservation per currency to the last digit; every allocated amount
//! traceable to source records).

use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use valdrix_analytics::allocation::{
    allocate, unallocated_by, Condition, Dim, Kind, Match, Method, Options, OwnerSource, Record, Rule, RuleError,
    Usage, UNALLOCATED,
};

type Id = std::sync::Arc<str>;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn record(id: &str, service: &str, account: &str, amount: &str, tags: &[(&str, &str)]) -> Record {
    Record {
        id: id.into(),
        currency: "USD".into(),
        billed: d(amount),
        effective: d(amount),
        dims: [(Dim::Service, service.to_string()), (Dim::Account, account.to_string())].into_iter().collect(),
        tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

fn rule(id: &str, priority: i32, conditions: Vec<Condition>, method: Method) -> Rule {
    Rule { id: id.into(), priority, matcher: Match(conditions), method, description: None }
}

fn team_by_tag() -> Rule {
    rule("owner", 10, vec![], Method::Owner(vec![OwnerSource::Tag("team".into())]))
}

/// Records of one service.
fn service_is(service: &str) -> Vec<Condition> {
    vec![Condition::Is(Dim::Service, vec![service.into()])]
}

/// Support spread over teams A and B by their direct spend.
fn support_by_direct_spend() -> Rule {
    rule("support", 20, service_is("Support"), Method::ProportionalToDirect(vec!["A".into(), "B".into()]))
}

/// (target, kind) → effective.
fn by_target(records: &[Record], rules: &[Rule], opts: Options) -> BTreeMap<(String, Kind), Decimal> {
    let a = allocate(records, rules, opts).unwrap();
    let mut out = BTreeMap::new();
    for c in &a.contributions {
        *out.entry((c.target.clone(), c.kind)).or_default() += c.effective;
    }
    out
}

#[test]
fn a_shared_nat_gateway_of_4500_splits_60_40() {
    let records = vec![record("nat-1", "NAT Gateway", "111", "4500.00", &[])];
    let rules = vec![rule(
        "nat",
        1,
        service_is("NAT Gateway"),
        Method::Percentages(vec![("A".into(), d("60")), ("B".into(), d("40"))]),
    )];
    let a = allocate(&records, &rules, Options::default()).unwrap();
    let shares: Vec<(&str, Decimal)> = a.contributions.iter().map(|c| (c.target.as_str(), c.billed)).collect();
    assert_eq!(shares, vec![("A", d("2700.00")), ("B", d("1800.00"))]);
    assert_eq!(a.contributions[0].records.iter().map(|id| &**id).collect::<Vec<_>>(), vec!["nat-1"]);
    assert!(a.contributions[0].basis.starts_with("60% of a pool of 4500.00"), "{}", a.contributions[0].basis);
}

#[test]
fn support_is_spread_by_each_teams_ec2_spend() {
    let records = vec![
        record("ec2-a", "EC2", "111", "600.00", &[("team", "A")]),
        record("ec2-b", "EC2", "111", "300.00", &[("team", "B")]),
        record("support", "Support", "111", "90.00", &[]),
    ];
    let rules = vec![team_by_tag(), support_by_direct_spend()];
    let t = by_target(&records, &rules, Options::default());
    assert_eq!(t[&("A".into(), Kind::Shared)], d("60.00"));
    assert_eq!(t[&("B".into(), Kind::Shared)], d("30.00"));
    assert_eq!(t[&("A".into(), Kind::Direct)], d("600.00"));
    let a = allocate(&records, &rules, Options::default()).unwrap();
    let explained = a.explain("A");
    assert!(explained.iter().any(|c| c.basis.contains("direct spend 600.00 of 900.00 (66.6667%)")), "{explained:?}");
}

#[test]
fn untagged_spend_is_redistributed_in_proportion_to_tagged_spend() {
    let records = vec![
        record("a", "EC2", "111", "300.00", &[("team", "A")]),
        record("b", "EC2", "111", "100.00", &[("team", "B")]),
        record("untagged", "S3", "111", "40.00", &[]),
    ];
    let plain = by_target(&records, &[team_by_tag()], Options::default());
    assert_eq!(plain[&(UNALLOCATED.into(), Kind::Unallocated)], d("40.00"));
    let spread = by_target(&records, &[team_by_tag()], Options { redistribute_unallocated: true });
    assert_eq!(spread[&("A".into(), Kind::Redistributed)], d("30.00"));
    assert_eq!(spread[&("B".into(), Kind::Redistributed)], d("10.00"));
    // The bucket is still reported, and netted out by its own redistribution.
    assert_eq!(spread[&(UNALLOCATED.into(), Kind::Unallocated)], d("40.00"));
    assert_eq!(spread[&(UNALLOCATED.into(), Kind::Redistributed)], d("-40.00"));
    let a = allocate(&records, &[team_by_tag()], Options { redistribute_unallocated: true }).unwrap();
    let totals = a.totals();
    assert_eq!(totals[&("A".into(), "USD".into())].effective(), d("330.00"));
    assert_eq!(totals[&(UNALLOCATED.into(), "USD".into())].effective(), d("0.00"));
}

#[test]
fn the_bucket_says_which_services_and_resources_lack_the_tag() {
    let records = vec![
        record("a", "EC2", "111", "300.00", &[("team", "A")]),
        record("s3-1", "S3", "111", "25.00", &[]),
        record("s3-2", "S3", "111", "15.00", &[]),
        record("lambda", "Lambda", "111", "5.00", &[]),
    ];
    let a = allocate(&records, &[team_by_tag()], Options::default()).unwrap();
    let top = unallocated_by(&records, &a, Dim::Service, 1);
    assert_eq!(top.len(), 1);
    assert_eq!((top[0].value.as_deref(), top[0].effective, top[0].records), (Some("S3"), d("40.00"), 2));
    let all = unallocated_by(&records, &a, Dim::Service, 10);
    assert_eq!(all.iter().map(|g| g.effective).sum::<Decimal>(), d("45.00"));
}

#[test]
fn fixed_amounts_then_the_remainder() {
    let records = vec![record("support", "Support", "111", "1000.00", &[])];
    let fixed =
        Method::Fixed { amounts: vec![("A".into(), d("300")), ("B".into(), d("200"))], remainder: "Platform".into() };
    let t = by_target(&records, &[rule("support", 1, vec![], fixed.clone())], Options::default());
    assert_eq!(t[&("A".into(), Kind::Shared)], d("300"));
    assert_eq!(t[&("B".into(), Kind::Shared)], d("200"));
    assert_eq!(t[&("Platform".into(), Kind::Shared)], d("500.00"));
    // A pool smaller than the fixed amounts gives what it has, in order.
    let small = vec![record("support", "Support", "111", "250.00", &[])];
    let t = by_target(&small, &[rule("support", 1, vec![], fixed)], Options::default());
    assert_eq!((t[&("A".into(), Kind::Shared)], t[&("B".into(), Kind::Shared)]), (d("250.00"), d("0")));
    assert_eq!(t[&("Platform".into(), Kind::Shared)], d("0.00"));
}

#[test]
fn owners_fall_back_from_tag_to_tag_to_the_account_table_and_overrides_win() {
    let records = vec![
        record("r1", "EC2", "111", "10", &[("team", "A")]),
        record("r2", "EC2", "111", "20", &[("owner", "B")]),
        record("r3", "EC2", "222", "30", &[]),
        record("r4", "EC2", "333", "40", &[]),
        record("r5", "EC2", "111", "50", &[("team", "A")]),
    ];
    let table: BTreeMap<String, String> = [("222".to_string(), "C".to_string())].into();
    let rules = vec![
        rule(
            "owner",
            10,
            vec![],
            Method::Owner(vec![
                OwnerSource::Tag("team".into()),
                OwnerSource::Tag("owner".into()),
                OwnerSource::Table(Dim::Account, table),
            ]),
        ),
        rule("r5-is-platforms", 99, vec![Condition::RecordIs(vec!["r5".into()])], Method::Override("Platform".into())),
    ];
    let t = by_target(&records, &rules, Options::default());
    assert_eq!(t[&("A".into(), Kind::Direct)], d("10"));
    assert_eq!(t[&("B".into(), Kind::Direct)], d("20"));
    assert_eq!(t[&("C".into(), Kind::Direct)], d("30"));
    assert_eq!(t[&("Platform".into(), Kind::Direct)], d("50"));
    assert_eq!(t[&(UNALLOCATED.into(), Kind::Unallocated)], d("40"));
}

#[test]
fn usage_even_and_patterns() {
    let records = vec![
        record("lb-1", "ELB", "111", "100.00", &[]),
        Record {
            dims: [(Dim::Resource, "arn:aws:elasticloadbalancing:shared-lb".to_string())].into(),
            ..record("x", "ELB", "111", "12.00", &[])
        },
    ];
    let rules = vec![
        rule(
            "shared-lb",
            1,
            vec![Condition::like(Dim::Resource, "arn:aws:*:shared-*")],
            Method::Even(vec!["A".into(), "B".into(), "C".into()]),
        ),
        rule(
            "lb-by-requests",
            2,
            service_is("ELB"),
            Method::ProportionalToUsage(Usage {
                any_period: vec![("A".into(), d("750000")), ("B".into(), d("250000"))],
                ..Default::default()
            }),
        ),
    ];
    let t = by_target(&records, &rules, Options::default());
    assert_eq!(t[&("A".into(), Kind::Shared)], d("75.00") + d("4.00"));
    assert_eq!(t[&("B".into(), Kind::Shared)], d("25.00") + d("4.00"));
    assert_eq!(t[&("C".into(), Kind::Shared)], d("4.00"));
}

fn in_period(period: &str, r: Record) -> Record {
    Record { period: period.into(), id: format!("{}@{period}", r.id).into(), ..r }
}

fn with_quantity(r: Record, q: &str, unit: &str) -> Record {
    Record { quantity: Some(d(q)), unit: Some(unit.into()), ..r }
}

#[test]
fn shared_data_transfer_follows_each_teams_gigabytes_in_the_bill() {
    let records = vec![
        with_quantity(record("a-out", "Data Transfer", "111", "9.00", &[("team", "A")]), "300", "GB"),
        with_quantity(record("b-out", "Data Transfer", "111", "3.00", &[("team", "B")]), "100", "GB"),
        with_quantity(record("b-ec2", "EC2", "111", "500.00", &[("team", "B")]), "720", "Hrs"),
        record("nat", "NAT Gateway", "111", "80.00", &[]),
    ];
    let rules = vec![
        team_by_tag(),
        rule(
            "nat-by-gb",
            20,
            service_is("NAT Gateway"),
            Method::ProportionalToQuantity {
                targets: vec!["A".into(), "B".into()],
                of: Match(service_is("Data Transfer")),
            },
        ),
    ];
    let a = allocate(&records, &rules, Options::default()).unwrap();
    let nat: Vec<(&str, Decimal, &str)> = a
        .contributions
        .iter()
        .filter(|c| c.kind == Kind::Shared)
        .map(|c| (c.target.as_str(), c.effective, c.basis.as_str()))
        .collect();
    assert_eq!((nat[0].0, nat[0].1), ("A", d("60.00")));
    assert_eq!((nat[1].0, nat[1].1), ("B", d("20.00")));
    assert!(nat[0].2.starts_with("usage 300 GB of 400 GB in the bill (75%)"), "{}", nat[0].2);

    // Counting quantities in two units is refused, not added up.
    let mixed = Method::ProportionalToQuantity { targets: vec!["A".into(), "B".into()], of: Match::default() };
    let rules = vec![team_by_tag(), rule("nat-by-anything", 20, vec![], mixed)];
    let a = allocate(&records, &rules, Options::default()).unwrap();
    assert!(a.unsplit[0].contains("the quantities it counts are in"), "{:?}", a.unsplit);
}

#[test]
fn shared_costs_split_period_by_period() {
    // Support in October follows October's EC2 spend, in November November's; usage figures
    // given for one month apply to it alone.
    let records = vec![
        in_period("2026-10", record("ec2", "EC2", "111", "300.00", &[("team", "A")])),
        in_period("2026-10", record("ec2", "EC2", "111", "100.00", &[("team", "B")])),
        in_period("2026-11", record("ec2", "EC2", "111", "100.00", &[("team", "A")])),
        in_period("2026-11", record("ec2b", "EC2", "111", "300.00", &[("team", "B")])),
        in_period("2026-10", record("support", "Support", "111", "40.00", &[])),
        in_period("2026-11", record("support", "Support", "111", "40.00", &[])),
        in_period("2026-10", record("lb", "ELB", "111", "10.00", &[])),
        in_period("2026-11", record("lb", "ELB", "111", "10.00", &[])),
    ];
    let usage = Usage {
        any_period: vec![("A".into(), d("1")), ("B".into(), d("1"))],
        periods: [("2026-11".to_string(), vec![("A".into(), d("4")), ("B".into(), d("1"))])].into(),
    };
    let rules = vec![
        team_by_tag(),
        support_by_direct_spend(),
        rule("lb", 30, service_is("ELB"), Method::ProportionalToUsage(usage)),
    ];
    let a = allocate(&records, &rules, Options::default()).unwrap();
    let t = a.totals_by_period();
    let shared = |p: &str, who: &str| t[&(p.to_string(), who.to_string(), "USD".to_string())].shared_effective;
    assert_eq!(shared("2026-10", "A"), d("30.00") + d("5.00"));
    assert_eq!(shared("2026-10", "B"), d("10.00") + d("5.00"));
    assert_eq!(shared("2026-11", "A"), d("10.00") + d("8.00"));
    assert_eq!(shared("2026-11", "B"), d("30.00") + d("2.00"));
    let lb_nov = a.contributions.iter().find(|c| c.rule.as_deref() == Some("lb") && c.period == "2026-11").unwrap();
    assert!(lb_nov.basis.starts_with("usage 4 of 5 in 2026-11 (80%)"), "{}", lb_nov.basis);
}

#[test]
fn shared_rules_without_direct_spend_leave_the_pool_unallocated_and_say_so() {
    let records = vec![record("support", "Support", "111", "90.00", &[])];
    let rules = vec![rule("support", 1, vec![], Method::ProportionalToDirect(vec!["A".into()]))];
    let a = allocate(&records, &rules, Options::default()).unwrap();
    assert_eq!(a.contributions.len(), 1);
    assert_eq!(a.contributions[0].target, UNALLOCATED);
    assert!(a.unsplit[0].contains("rule support: none of its targets has direct spend in USD"), "{:?}", a.unsplit);
}

#[test]
fn bad_rules_are_refused() {
    let pct = |v: &str| Method::Percentages(vec![("A".into(), d(v)), ("B".into(), d("40"))]);
    assert_eq!(
        allocate(&[], &[rule("p", 1, vec![], pct("50"))], Options::default()),
        Err(RuleError::Percentages("p".into(), d("90")))
    );
    let twice = vec![rule("p", 1, vec![], pct("60")), rule("p", 2, vec![], pct("60"))];
    assert_eq!(allocate(&[], &twice, Options::default()), Err(RuleError::Duplicate("p".into())));
    assert!(matches!(
        allocate(&[], &[rule("e", 1, vec![], Method::Even(vec![]))], Options::default()),
        Err(RuleError::NoTarget(_))
    ));
}

// Random records and rule sets ---------------------------------------------------------------

const TEAMS: [&str; 4] = ["A", "B", "C", "D"];
const SERVICES: [&str; 4] = ["EC2", "S3", "Support", "NAT Gateway"];

fn arb_record() -> impl Strategy<Value = Record> {
    (
        (0usize..4, 0usize..2, -1_000_000_000i64..10_000_000_000, 0u32..11),
        (proptest::option::of(0usize..4), any::<bool>(), 0usize..2, proptest::option::of(0u32..500)),
    )
        .prop_map(|((service, currency, mantissa, scale), (team, credit_effective, period, quantity))| {
            let billed = Decimal::new(mantissa, scale);
            let effective = if credit_effective { billed * Decimal::new(9, 1) } else { billed };
            let mut tags = BTreeMap::new();
            if let Some(t) = team {
                tags.insert("team".to_string(), TEAMS[t].to_string());
            }
            Record {
                id: "".into(),
                currency: ["USD", "EUR"][currency].into(),
                billed,
                effective,
                dims: [(Dim::Service, SERVICES[service].to_string())].into(),
                tags,
                period: ["2026-10", "2026-11"][period].into(),
                quantity: quantity.map(Decimal::from),
                unit: quantity.map(|_| "GB".to_string()),
            }
        })
}

fn arb_method() -> impl Strategy<Value = Method> {
    let targets = proptest::sample::subsequence(TEAMS.to_vec(), 1..=4)
        .prop_map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
    prop_oneof![
        Just(Method::Owner(vec![OwnerSource::Tag("team".into())])),
        targets.clone().prop_map(Method::Even),
        targets.clone().prop_map(Method::ProportionalToDirect),
        (targets.clone(), proptest::collection::vec(0u32..1000, 4))
            .prop_filter("some usage", |(_, u)| u.iter().any(|x| *x > 0))
            .prop_map(|(t, u)| {
                let figures: Vec<(String, Decimal)> =
                    t.into_iter().zip(u).map(|(t, u)| (t, Decimal::from(u))).collect();
                // Every period, or one period only (the other then stays unsplit).
                if figures.len().is_multiple_of(2) {
                    Method::ProportionalToUsage(Usage { any_period: figures, ..Default::default() })
                } else {
                    Method::ProportionalToUsage(Usage {
                        periods: [("2026-11".to_string(), figures)].into(),
                        ..Default::default()
                    })
                }
            }),
        (targets.clone(), proptest::option::of(0usize..4)).prop_map(|(targets, service)| {
            Method::ProportionalToQuantity {
                targets,
                of: Match(service.map(|s| Condition::Is(Dim::Service, vec![SERVICES[s].into()])).into_iter().collect()),
            }
        }),
        (0u32..=100).prop_map(|p| Method::Percentages(vec![
            ("A".into(), Decimal::from(p)),
            ("B".into(), Decimal::from(100 - p))
        ])),
        (0u32..5000, 0u32..5000).prop_map(|(a, b)| Method::Fixed {
            amounts: vec![("A".into(), Decimal::new(a.into(), 1)), ("B".into(), Decimal::new(b.into(), 1))],
            remainder: "C".into(),
        }),
    ]
}

fn arb_rules() -> impl Strategy<Value = Vec<Rule>> {
    proptest::collection::vec((arb_method(), proptest::option::of(0usize..4), -5i32..5), 0..8).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (method, service, priority))| Rule {
                id: format!("r{i}"),
                priority,
                matcher: Match(
                    service.map(|s| Condition::Is(Dim::Service, vec![SERVICES[s].into()])).into_iter().collect(),
                ),
                method,
                description: None,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn allocations_add_up_to_the_bill_per_currency_and_trace_to_their_records(
        mut records in proptest::collection::vec(arb_record(), 0..40),
        rules in arb_rules(),
        redistribute in any::<bool>(),
    ) {
        for (i, r) in records.iter_mut().enumerate() {
            r.id = format!("rec-{i}").into();
        }
        let a = allocate(&records, &rules, Options { redistribute_unallocated: redistribute }).unwrap();
        let mut source: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
        for r in &records {
            let e = source.entry(r.currency.as_str()).or_default();
            e.0 += r.billed;
            e.1 += r.effective;
        }
        let mut allocated: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
        for c in &a.contributions {
            let e = allocated.entry(c.currency.as_str()).or_default();
            e.0 += c.billed;
            e.1 += c.effective;
        }
        // Exactly, to the last digit, both costs, every currency (and none invented).
        prop_assert_eq!(&source, &allocated);
        // Traceable: what the contributions naming one set of records (a direct owner's, a
        // shared pool's, the bucket's) add up to is what those records hold; redistribution
        // moves the bucket's records and nets out.
        let mut by_pool: BTreeMap<(Vec<Id>, bool), (Decimal, Decimal)> = BTreeMap::new();
        for c in &a.contributions {
            let e = by_pool.entry((c.records.to_vec(), c.kind == Kind::Redistributed)).or_default();
            e.0 += c.billed;
            e.1 += c.effective;
        }
        for ((ids, redistributed), (billed, effective)) in &by_pool {
            let of = |f: fn(&Record) -> Decimal| ids.iter().map(|id| records.iter().find(|r| &r.id == id).map(f).unwrap_or_default()).sum::<Decimal>();
            if *redistributed {
                prop_assert_eq!((*billed, *effective), (Decimal::ZERO, Decimal::ZERO));
            } else {
                prop_assert_eq!((*billed, *effective), (of(|r| r.billed), of(|r| r.effective)));
            }
        }
        // Every record is claimed exactly once (directly, by one shared rule, or left in the
        // bucket), and every contribution names records of its own currency.
        let by_id: BTreeMap<&str, &Record> = records.iter().map(|r| (&*r.id, r)).collect();
        let mut claims: BTreeMap<&str, usize> = BTreeMap::new();
        let mut shared_rules: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for c in &a.contributions {
            prop_assert!(!c.records.is_empty());
            for id in c.records.iter() {
                let r = by_id.get(&**id).copied();
                prop_assert!(r.is_some_and(|r| r.currency == c.currency), "{} in {:?}", id, c);
            }
            match c.kind {
                Kind::Direct | Kind::Unallocated => {
                    for id in c.records.iter() { *claims.entry(&**id).or_default() += 1; }
                }
                Kind::Shared => {
                    for id in c.records.iter() { shared_rules.entry(&**id).or_default().insert(c.rule.as_deref().unwrap_or("")); }
                }
                Kind::Redistributed => {}
            }
        }
        for (id, rules) in &shared_rules {
            prop_assert_eq!(rules.len(), 1, "{} shared by several rules", id);
            *claims.entry(id).or_default() += 1;
        }
        for r in &records {
            prop_assert_eq!(claims.get(&*r.id).copied().unwrap_or(0), 1, "{} claimed", &r.id);
        }
    }
}
