//! A delivery's scope checked against the other streams of the tenant before anything is
//! written, the overlaps already in a store, and the spellings of a stream id.

use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

use valdrix_core::{RecordSource, TenantId};

use crate::db::{p, Db};
use crate::error::{Result, StoreError};
use crate::scope::{HeldScope, OverlapPolicy, ScopeConflict, StreamOverlap};
use crate::CurrencyTotals;

/// (provider, billing account, billing period start).
type ScopeKey = (String, String, NaiveDate);

/// What a delivery bills: each (provider, billing account, period) with its sub accounts, read
/// from the first record of each series (`of_record`: [`RecordSource::series_numbers`]).
pub(crate) fn of(records: &dyn RecordSource, of_record: &[u32]) -> BTreeMap<ScopeKey, BTreeSet<Option<String>>> {
    let mut seen = vec![false; of_record.iter().map(|&s| s as usize + 1).max().unwrap_or(0)];
    let mut out: BTreeMap<ScopeKey, BTreeSet<Option<String>>> = BTreeMap::new();
    for (i, &s) in of_record.iter().enumerate() {
        if std::mem::replace(&mut seen[s as usize], true) {
            continue;
        }
        let g = records.record_without_attrs(i).grain;
        out.entry((g.provider, g.billing_account_id, g.billing_period_start)).or_default().insert(g.sub_account_id);
    }
    out
}

/// Refuses the delivery of `stream` (`stream_id`) when another stream holds part of its scope,
/// as `policy` defines holding.
pub(crate) fn check(
    db: Db<'_>,
    tenant: &TenantId,
    stream: &str,
    stream_id: i64,
    scope: &BTreeMap<ScopeKey, BTreeSet<Option<String>>>,
    policy: OverlapPolicy,
) -> Result<()> {
    if policy == OverlapPolicy::Allow || scope.is_empty() {
        return Ok(());
    }
    let periods: BTreeSet<NaiveDate> = scope.keys().map(|k| k.2).collect();
    let holders = "SELECT sp.stream_id, s.stream, sp.current_run_id FROM stream_periods sp \
         JOIN streams s ON s.tenant_id = sp.tenant_id AND s.stream_id = sp.stream_id \
         WHERE sp.tenant_id = ?1 AND sp.period_start = ?2 AND sp.stream_id <> ?3 ORDER BY sp.stream_id";
    let billed = "SELECT DISTINCT provider, billing_account_id, sub_account_id FROM cost_series \
         WHERE tenant_id = ?1 AND stream_id = ?2 AND billing_period_start = ?3";
    // (stream id, provider, account) → (stream, periods, shared sub accounts, newest run)
    type Held = (String, BTreeSet<String>, BTreeSet<String>, i64);
    let mut held: BTreeMap<(i64, String, String), Held> = BTreeMap::new();
    for period in periods {
        // What the delivering stream bills already: where it shares an account with another
        // stream, the two were kept side by side before (`Disjoint`), and only a sub account in
        // both is an overlap now.
        let own: BTreeSet<(String, String)> = db
            .query_map(billed, p![tenant.as_str(), stream_id, period.to_string()], |r| {
                Ok((r.get::<String>(0)?, r.get::<String>(1)?))
            })?
            .into_iter()
            .collect();
        let others = db.query_map(holders, p![tenant.as_str(), period.to_string(), stream_id], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<i64>(2)?))
        })?;
        for (other_id, other, run_id) in others {
            let rows = db.query_map(billed, p![tenant.as_str(), other_id, period.to_string()], |r| {
                Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<Option<String>>(2)?))
            })?;
            for (provider, account, sub) in rows {
                let Some(subs) = scope.get(&(provider.clone(), account.clone(), period)) else { continue };
                let by_sub = policy == OverlapPolicy::Disjoint || own.contains(&(provider.clone(), account.clone()));
                if by_sub && !subs.contains(&sub) {
                    continue;
                }
                let entry = held
                    .entry((other_id, provider, account))
                    .or_insert_with(|| (other.clone(), BTreeSet::new(), BTreeSet::new(), run_id));
                entry.1.insert(period.format("%Y-%m").to_string());
                if by_sub {
                    entry.2.insert(sub.unwrap_or_else(|| "(none)".into()));
                }
                entry.3 = entry.3.max(run_id);
            }
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    let mut out = Vec::with_capacity(held.len());
    for ((_, provider, billing_account_id), (other, periods, subs, run_id)) in held {
        let (files, totals) = db
            .query_opt(
                "SELECT files, totals FROM ingest_runs WHERE tenant_id = ?1 AND run_id = ?2",
                p![tenant.as_str(), run_id],
                |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?
            .unwrap_or_default();
        out.push(HeldScope {
            stream: other,
            provider,
            billing_account_id,
            periods: periods.into_iter().collect(),
            sub_accounts: subs.into_iter().collect(),
            run_id,
            files: serde_json::from_str(&files).unwrap_or_default(),
            totals: serde_json::from_str::<BTreeMap<String, CurrencyTotals>>(&totals).unwrap_or_default(),
        });
    }
    Err(StoreError::ScopeHeld(Box::new(ScopeConflict { stream: stream.to_string(), policy, held: out })))
}

/// Every (provider, billing account, sub account, period) that more than one stream bills.
pub(crate) fn overlaps(db: Db<'_>, tenant: &TenantId) -> Result<Vec<StreamOverlap>> {
    let names: BTreeMap<i64, String> = db
        .query_map("SELECT stream_id, stream FROM streams WHERE tenant_id = ?1", p![tenant.as_str()], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
        })?
        .into_iter()
        .collect();
    let mut by_grain: BTreeMap<(String, String, String, Option<String>), BTreeSet<i64>> = BTreeMap::new();
    db.for_each(
        "SELECT DISTINCT provider, billing_account_id, billing_period_start, sub_account_id, stream_id \
         FROM cost_series WHERE tenant_id = ?1",
        p![tenant.as_str()],
        |r| {
            let period: String = r.get(2)?;
            by_grain
                .entry((r.get(0)?, r.get(1)?, period.get(..7).unwrap_or(&period).to_string(), r.get(3)?))
                .or_default()
                .insert(r.get(4)?);
            Ok(())
        },
    )?;
    let mut merged: BTreeMap<(String, String, String, Vec<i64>), Vec<String>> = BTreeMap::new();
    for ((provider, account, period, sub), streams) in by_grain {
        if streams.len() > 1 {
            let subs = merged.entry((provider, account, period, streams.into_iter().collect())).or_default();
            subs.extend(sub);
        }
    }
    Ok(merged
        .into_iter()
        .map(|((provider, billing_account_id, period, ids), sub_accounts)| StreamOverlap {
            provider,
            billing_account_id,
            period,
            sub_accounts,
            streams: ids.iter().map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}"))).collect(),
        })
        .collect())
}

/// The existing stream a spelling names: the stream id as Valdrix prints it (`file:/…`, `cur:…`,
/// `named:NAME`, `upload/NAME`), or the bare NAME of a named stream.
pub(crate) fn resolve(db: Db<'_>, tenant: &TenantId, spelling: &str) -> Result<Option<String>> {
    let named = format!("named:{spelling}");
    for candidate in [spelling, named.as_str()] {
        let sql = "SELECT 1 FROM streams WHERE tenant_id = ?1 AND stream = ?2";
        if db.query_opt(sql, p![tenant.as_str(), candidate], |_| Ok(()))?.is_some() {
            return Ok(Some(candidate.to_string()));
        }
    }
    Ok(None)
}
