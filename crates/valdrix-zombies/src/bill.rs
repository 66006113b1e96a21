//! Prices from the bill: what the customer actually paid for a resource.
//!
//! A finding's monthly cost is the EffectiveCost (amortised: commitments and discounts applied)
//! of the bill lines that name the resource, over the 30 days before the evaluation day, scaled
//! to an average month. When the tenant's bill covers fewer of those days (it arrives a day or
//! two late), the days it does cover are scaled instead, and the figure's source says so.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use valdrix_core::TenantId;
use valdrix_store::{CostQuery, Dimension, Filter, Metric, Store, StoreError};

/// Days of bill a monthly cost is worked out from.
pub const WINDOW_DAYS: i64 = 30;

/// An average month: 365.25 / 12 days.
fn days_per_month() -> Decimal {
    Decimal::new(304375, 4)
}

/// Resource ids priced per store query.
const ID_BATCH: usize = 2_000;

/// What the bill says one resource costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillCost {
    /// Monthly amount.
    pub monthly: Decimal,
    /// Currency.
    pub currency: String,
    /// Where the figure comes from, in words.
    pub basis: String,
}

/// Reads resource costs from a tenant's stored bill.
pub struct BillPrices<'a> {
    store: &'a dyn Store,
    tenant: &'a TenantId,
}

impl<'a> BillPrices<'a> {
    /// Prices from this tenant's bill.
    pub fn new(store: &'a dyn Store, tenant: &'a TenantId) -> Self {
        BillPrices { store, tenant }
    }

    /// Monthly costs of groups of resource ids (one group per finding: the ids its bill lines may
    /// carry), over the window before `now`. A group with no bill line is absent from the answer.
    /// A group billed in several currencies is priced in the one with the most lines (currencies
    /// are never added together) and says so.
    pub fn monthly(&self, groups: &[Vec<String>], now: DateTime<Utc>) -> Result<Vec<Option<BillCost>>, StoreError> {
        let to = now.date_naive();
        let from = to - Duration::days(WINDOW_DAYS);
        let ids: BTreeSet<&String> = groups.iter().flatten().collect();
        if ids.is_empty() {
            return Ok(vec![None; groups.len()]);
        }
        // The days the tenant's bill covers in the window, from the daily totals.
        let covered: BTreeSet<NaiveDate> = self
            .store
            .costs(
                self.tenant,
                &CostQuery {
                    group_by: vec![Dimension::Day],
                    metric: Metric::Effective,
                    from: Some(from),
                    to: Some(to),
                    filters: vec![],
                },
            )?
            .into_iter()
            .filter_map(|r| r.keys.first().cloned().flatten().and_then(|d| d.parse().ok()))
            .collect();
        // Ids in batches: a statement takes a bounded number of parameters (SQLite 32,766).
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        let mut rows = Vec::new();
        for batch in ids.chunks(ID_BATCH) {
            rows.extend(self.store.costs(
                self.tenant,
                &CostQuery {
                    group_by: vec![Dimension::Resource],
                    metric: Metric::Effective,
                    from: Some(from),
                    to: Some(to),
                    filters: vec![Filter { dimension: Dimension::Resource, values: batch.to_vec() }],
                },
            )?);
        }
        // resource id → currency → (amount, lines)
        let mut by_id: HashMap<String, BTreeMap<String, (Decimal, u64)>> = HashMap::new();
        for r in rows {
            if let Some(Some(id)) = r.keys.first() {
                let e = by_id.entry(id.clone()).or_default().entry(r.currency).or_default();
                e.0 += r.amount;
                e.1 += r.records;
            }
        }
        let days = covered.len() as i64;
        Ok(groups
            .iter()
            .map(|group| {
                let mut per: BTreeMap<&str, (Decimal, u64)> = BTreeMap::new();
                for id in group {
                    for (cur, (amount, n)) in by_id.get(id).into_iter().flatten() {
                        let e = per.entry(cur.as_str()).or_default();
                        e.0 += *amount;
                        e.1 += *n;
                    }
                }
                let (currency, (amount, lines)) = per.iter().max_by_key(|(_, (_, n))| *n)?;
                if days == 0 {
                    return None;
                }
                let monthly = (*amount / Decimal::from(days) * days_per_month()).round_dp(2);
                let (first, last) = (covered.first()?, covered.last()?);
                let mut basis = format!(
                    "bill: EffectiveCost {amount} {currency} over {first}..{last} ({days} of {WINDOW_DAYS} days billed, {lines} daily lines), scaled to a month"
                );
                if per.len() > 1 {
                    basis.push_str(&format!("; also billed in {} (not added)", per.len() - 1));
                }
                Some(BillCost { monthly, currency: currency.to_string(), basis })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use valdrix_core::{CostRecord, Grain, Totals};
    use valdrix_store::{NewRun, SqliteStore};

    fn record(day: NaiveDate, resource: &str, currency: &str, cents: i64) -> CostRecord {
        let amount = Decimal::new(cents, 2);
        CostRecord {
            grain: Grain {
                region_id: Some("us-east-1".into()),
                resource_id: Some(resource.into()),
                ..Grain::usage("AWS", "111", "EC2", day, currency)
            },
            attrs: BTreeMap::new(),
            // Effective is half of billed, so a test reading the wrong column fails.
            totals: Totals {
                billed_cost: amount * Decimal::TWO,
                effective_cost: amount,
                list_cost: amount,
                contracted_cost: amount,
                line_count: 1,
                ..Totals::default()
            },
        }
    }

    #[test]
    fn monthly_cost_is_effective_cost_of_the_billed_days_scaled_to_a_month() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path().join("s.sqlite").to_str().unwrap()).unwrap();
        let tenant = TenantId("t".into());
        let now = Utc.with_ymd_and_hms(2026, 6, 30, 9, 0, 0).unwrap();
        let today = now.date_naive();
        let mut records = vec![];
        // 20 billed days (the 10 before the evaluation day have not arrived): 1.00 a day for the
        // volume, under its ARN on some days; a day outside the window that must not count.
        for d in 11..=30 {
            let day = today - Duration::days(d);
            let id = if d % 2 == 0 { "vol-1" } else { "arn:aws:ec2:us-east-1:111:volume/vol-1" };
            records.push(record(day, id, "USD", 100));
            records.push(record(day, "i-other", "USD", 999));
        }
        records.push(record(today - Duration::days(31), "vol-1", "USD", 100_000));
        records.push(record(today - Duration::days(12), "vol-2", "EUR", 50));
        let run = NewRun::of_file("s", "bill.csv", "focus", "c", now);
        store.replace_stream(&tenant, &run, &records).unwrap();
        let bill = BillPrices::new(&store, &tenant);
        let mut groups = vec![
            vec!["vol-1".to_string(), "arn:aws:ec2:us-east-1:111:volume/vol-1".to_string()],
            vec!["vol-1".to_string()],
            vec!["vol-2".to_string()],
            vec!["vol-none".to_string()],
        ];
        // A large scan prices thousands of ids at once (SQLite once refused the query as too deep).
        groups.extend(
            (0..6_000).map(|i| vec![format!("vol-x{i}"), format!("arn:aws:ec2:us-east-1:111:volume/vol-x{i}")]),
        );
        let costs = bill.monthly(&groups, now).unwrap();
        assert!(costs[4..].iter().all(Option::is_none));
        // 20.00 over 20 days, × 30.4375.
        let both = costs[0].as_ref().unwrap();
        assert_eq!(both.monthly, Decimal::new(304375, 4).round_dp(2));
        assert_eq!(both.currency, "USD");
        assert!(
            both.basis.contains("20 of 30 days billed") && both.basis.contains("EffectiveCost 20 USD"),
            "{}",
            both.basis
        );
        // Only the lines under the plain id: 10.00 over the same 20 billed days.
        assert_eq!(costs[1].as_ref().unwrap().monthly, Decimal::new(1521875, 5).round_dp(2));
        assert_eq!(costs[2].as_ref().unwrap().currency, "EUR");
        assert!(costs[3].is_none());
    }
}
