use super::*;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

fn line(cost: &str, tags: &[(&'static str, &'static str)]) -> CostLine<'static> {
    let mut l = CostLine::new(
        Cow::Borrowed("AWS"),
        Cow::Borrowed("123"),
        NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        Cow::Borrowed("USD"),
    );
    l.service_name = Cow::Borrowed("EC2");
    l.billed_cost = Decimal::from_str(cost).unwrap();
    l.tags = tags.iter().map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v))).collect();
    l
}

#[test]
fn same_grain_sums_exactly_and_tag_order_does_not_matter() {
    let mut r = Rollup::new();
    r.add(line("0.1", &[("a", "1"), ("b", "2")])).unwrap();
    r.add(line("0.2", &[("b", "2"), ("a", "1")])).unwrap();
    r.add(line("0.3", &[("a", "other")])).unwrap();
    let recs = r.finish().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].totals.billed_cost.to_string(), "0.3");
    assert_eq!(recs[0].totals.line_count, 2);
}

#[test]
fn series_are_grains_without_their_day() {
    let mut r = Rollup::new();
    let day =
        |l: CostLine<'static>, d: u32| CostLine { charge_date: NaiveDate::from_ymd_opt(2024, 1, d).unwrap(), ..l };
    r.add(day(line("1", &[("team", "web")]), 2)).unwrap();
    r.add(day(line("2", &[]), 2)).unwrap();
    r.add(day(line("4", &[("team", "web")]), 3)).unwrap();
    r.add(day(line("8", &[]), 4)).unwrap();
    assert_eq!(r.series_numbers(), [0, 1, 0, 1]);
    let plain: Vec<CostRecord> = (0..r.len()).map(|i| r.record(i)).collect();
    assert_eq!(plain.series_numbers(), r.series_numbers());
    assert_eq!(r.totals(2).billed_cost.to_string(), "4");
    assert_eq!(
        plain[0].grain.series_key("t", "s"),
        plain[2].grain.series_key("t", "s"),
        "the day is not part of a series key"
    );
    assert_ne!(plain[0].grain.series_key("t", "s"), plain[1].grain.series_key("t", "s"));
    assert_ne!(plain[0].grain.series_key("t", "s"), plain[0].grain.series_key("t", "other stream"));
    assert_eq!(r.record(0).grain.tags.get("team"), Some("web"));
    assert_eq!(r.totals_by_currency()["USD"].billed_cost.to_string(), "15");
}

#[test]
fn spilled_rollups_equal_one_in_memory() {
    // Three teams over three days, each record seen several times with a different SKU: a
    // record keeps the SKU of its first line, spilled or not.
    let lines: Vec<CostLine<'static>> = (0..36u32)
        .map(|n| {
            let team = ["a", "b", "c"][(n % 3) as usize];
            let mut l = line(["0.1", "0.25", "3", "-0.05"][(n % 4) as usize], &[("team", team)]);
            l.charge_date = NaiveDate::from_ymd_opt(2024, 1, 1 + (n / 4) % 3).unwrap();
            l.sku_id = Some(Cow::Owned(format!("SKU-{n}")));
            l
        })
        .collect();
    let sorted = |mut v: Vec<CostRecord>| {
        v.sort_by(|a, b| a.grain.cmp(&b.grain));
        v
    };
    let mut one = Rollup::new();
    let mut spilled = Rollup::with_budget(2);
    for l in &lines {
        one.add(l.clone()).unwrap();
        spilled.add(l.clone()).unwrap();
    }
    assert!(spilled.spilled());
    let expected = sorted(one.finish().unwrap());
    assert_eq!(expected.len(), 9);
    let got = spilled.finish().unwrap();
    assert!(got.windows(2).all(|w| w[0].grain.charge_date <= w[1].grain.charge_date), "in day order");
    assert_eq!(sorted(got), expected);
    // Halves rolled up apart (as reader threads do), both spilling, then merged.
    let (mut first, mut second) = (Rollup::with_budget(2), Rollup::with_budget(3));
    for l in &lines[..17] {
        first.add(l.clone()).unwrap();
    }
    for l in &lines[17..] {
        second.add(l.clone()).unwrap();
    }
    first.merge(second);
    assert_eq!(sorted(first.finish().unwrap()), expected);
}

#[test]
fn merged_rollups_equal_one_rollup_over_all_lines() {
    let lines = [("0.1", "a"), ("0.2", "b"), ("0.3", "a"), ("0.4", "c")];
    let mut one = Rollup::new();
    for (c, t) in lines {
        one.add(line(c, &[("team", t)])).unwrap();
    }
    let (mut first, mut second) = (Rollup::new(), Rollup::new());
    for (c, t) in &lines[..2] {
        first.add(line(c, &[("team", t)])).unwrap();
    }
    for (c, t) in &lines[2..] {
        second.add(line(c, &[("team", t)])).unwrap();
    }
    first.merge(second);
    assert_eq!(first.lines(), 4);
    assert_eq!(first.finish().unwrap(), one.finish().unwrap());
}

#[test]
fn enormous_tag_values_are_rejected() {
    let big: &'static str = Box::leak("x".repeat(MAX_TAG_VALUE_BYTES + 1).into_boxed_str());
    let mut r = Rollup::new();
    let e = r.add(line("1", &[("team", big)])).unwrap_err();
    assert!(e.message.contains("team"), "{}", e.message);
}
