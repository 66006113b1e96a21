//! Writing one delivery: within the billing periods it covers, the stream's stored records are
//! compared with the delivery's, day by day, and every difference goes to the audit log.
//!
//! A day's stored records of those periods are read and merged, in series order, with the
//! delivery's records of that day. Only what differs is written: a new record is inserted, a
//! record whose sums or descriptive columns changed is updated in place (taking the new run), and
//! a stored record the delivery no longer has is set to zero (line count 0), keeping its run and
//! descriptive columns: removed, never deleted. A record the delivery confirms is not touched, so
//! its run stays the delivery its value came from, and restating 1 % of a month writes about 1 %
//! of its rows.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use valdrix_core::{RecordSource, TenantId};

use super::totals::TotalsDelta;
use crate::db::{p, Db, Inserter, Stmt, P};

use super::parse::parse_dec;
use super::periods::PriorPeriod;
use super::query::{attrs_columns, ATTR_COLUMNS};
use super::series::{Aggregates, AttrNumbers, DateSpan, DecimalTexts, RunSeries};
use crate::error::{Result, StoreError};
use crate::trust::{ChangeReason, RunChanges, TrustPolicy};

/// A stored record of the day, as its deletion returned it.
struct OldRow {
    series_no: i64,
    run_id: i64,
    attrs_no: i64,
    sums: [Option<String>; 6],
    line_count: i64,
}

/// What the stored records of a delivery's periods were, in series order: their series' period
/// and aggregate, and the days they cover. Empty when no period was delivered before.
struct Scope {
    /// `series_no` → (billing period, aggregate, daily totals key).
    series: HashMap<i64, (NaiveDate, u32, u32)>,
    /// Days with stored records.
    days: BTreeSet<NaiveDate>,
}

/// Fills `valdrix_scope` (a temporary table, empty) with the stream's series of the periods delivered before.
fn load_scope(
    db: Db<'_>,
    tenant: &TenantId,
    stream_id: i64,
    prior: &BTreeMap<NaiveDate, PriorPeriod>,
    aggregates: &mut Aggregates,
    totals: &mut TotalsDelta,
) -> Result<Scope> {
    let mut scope = Scope { series: HashMap::new(), days: BTreeSet::new() };
    let mut select = db.prepare(
        "SELECT series_no, billing_account_id, service_name, currency, provider, sub_account_id, region_id, \
         charge_category FROM cost_series WHERE tenant_id = ?1 AND stream_id = ?2 AND billing_period_start = ?3",
    )?;
    let mut insert = db.prepare("INSERT INTO valdrix_scope (series_no) VALUES (?1)")?;
    for (period, p) in prior {
        select.for_each(p![tenant.as_str(), stream_id, period.to_string()], |r| {
            let no: i64 = r.get(0)?;
            let (account, service, currency): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
            let agg = aggregates.number(&account, &service, &currency);
            let values = [
                r.get::<String>(4)?,
                account,
                r.get::<Option<String>>(5)?.unwrap_or_default(),
                service,
                r.get::<Option<String>>(6)?.unwrap_or_default(),
                r.get::<String>(7)?,
            ];
            scope.series.insert(no, (*period, agg, totals.key_of_columns(values, currency)));
            insert.execute(p![no])?;
            Ok(())
        })?;
        if let (Some(min), Some(max)) = (p.day_min, p.day_max) {
            scope.days.extend(min.iter_days().take_while(|d| *d <= max));
        }
    }
    Ok(scope)
}

/// What writing a delivery's records found, beyond the records themselves.
pub(super) struct Written {
    /// Counts of changes.
    pub changes: RunChanges,
    /// Stored records of the periods before (removed ones included).
    pub replaced: u64,
    /// Charge days of each period's records after the delivery (old and new).
    pub days: BTreeMap<NaiveDate, (NaiveDate, NaiveDate)>,
    /// Invoice ids each period's new records carry.
    pub invoices: BTreeMap<NaiveDate, BTreeSet<String>>,
    /// BillingPeriodEnd each period's new records give.
    pub ends: BTreeMap<NaiveDate, NaiveDate>,
    /// What the delivery changed in the daily totals.
    pub totals: TotalsDelta,
}

/// Sums of one aggregate on one day, before and after the delivery.
#[derive(Default)]
struct AggregateMove {
    old_billed: Decimal,
    new_billed: Decimal,
    old_effective: Decimal,
    new_effective: Decimal,
}

/// A change to one record, as the audit log keeps it (amounts as canonical text).
struct Change {
    reason: ChangeReason,
    old_run: Option<i64>,
    old_billed: String,
    new_billed: String,
    old_effective: String,
    new_effective: String,
    period: NaiveDate,
    aggregate: u32,
}

/// The run a delivery is written as, and what governs it.
pub(super) struct Delivery<'a> {
    pub tenant: &'a TenantId,
    pub run_id: i64,
    pub started_at: DateTime<Utc>,
    pub policy: &'a TrustPolicy,
    pub records: &'a dyn RecordSource,
    pub prior: &'a BTreeMap<NaiveDate, PriorPeriod>,
    /// The stream's name (its earlier runs are found by it).
    pub stream: &'a str,
}

/// A stored amount (canonical decimal text).
fn dec(text: &str) -> Result<Decimal> {
    parse_dec(text, "amount")
}

/// Two canonical decimal texts that may differ in spelling only (`-0`, `1.50`).
fn same_amount(a: &str, b: &str) -> Result<bool> {
    Ok(a == b || dec(a)? == dec(b)?)
}

/// The hash of a set of descriptive columns, in `ATTR_COLUMNS` order.
fn attrs_hash<'a>(values: impl Iterator<Item = Option<&'a str>>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

/// The descriptive columns of the stream's stored records, hashed, by (run, attribute set).
fn stored_attr_hashes(db: Db<'_>, tenant: &TenantId, stream: &str) -> Result<HashMap<(i64, i64), u64>> {
    let cols: Vec<&str> = ATTR_COLUMNS.iter().map(|a| a.1).collect();
    let sql = format!(
        "SELECT run_id, attrs_no, {} FROM record_attrs WHERE tenant_id = ?1 AND run_id IN \
         (SELECT run_id FROM ingest_runs WHERE tenant_id = ?1 AND stream = ?2)",
        cols.join(", ")
    );
    let mut out = HashMap::new();
    let mut values: Vec<Option<String>> = Vec::with_capacity(cols.len());
    db.for_each(&sql, p![tenant.as_str(), stream], |r| {
        values.clear();
        for k in 0..cols.len() {
            values.push(r.get(2 + k)?);
        }
        out.insert((r.get(0)?, r.get(1)?), attrs_hash(values.iter().map(|v| v.as_deref())));
        Ok(())
    })?;
    Ok(out)
}

/// What a record's descriptive columns say of its billing period: its end, its invoice id.
fn period_facts(record: &valdrix_core::CostRecord, period: NaiveDate, out: &mut Written) {
    if let Some(end) = record.attr("BillingPeriodEnd").and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()) {
        out.ends.entry(period).or_insert(end);
    }
    if let Some(inv) = record.attr("InvoiceId").filter(|v| !v.trim().is_empty()) {
        out.invoices.entry(period).or_default().insert(inv.to_string());
    }
}

/// The descriptive columns of the delivery's records, hashed once per attribute set; on the
/// way, each billing period's invoice ids and end (every attribute set is either hashed here or
/// written by [`RowWriter::write`]).
#[derive(Default)]
struct NewAttrs {
    of_group: HashMap<u32, u64>,
}

impl NewAttrs {
    fn hash(&mut self, records: &dyn RecordSource, i: usize, period: NaiveDate, out: &mut Written) -> u64 {
        let group = records.attrs_group(i);
        if let Some(h) = group.and_then(|g| self.of_group.get(&g)) {
            return *h;
        }
        let record = records.record(i);
        period_facts(&record, period, out);
        let h = attrs_hash(ATTR_COLUMNS.iter().map(|(name, _)| record.attr(name)));
        if let Some(g) = group {
            self.of_group.insert(g, h);
        }
        h
    }
}

/// Writes the delivery's records that differ from the stored ones, and zeroes removed ones.
struct RowWriter<'c> {
    insert: Inserter<'c>,
    update: Stmt<'c>,
    attrs: Inserter<'c>,
    numbers: AttrNumbers,
}

impl RowWriter<'_> {
    /// Writes record `i` (sums already in `texts`): inserted, or updated in place when the
    /// record is stored (`exists`). Its descriptive columns are written with the first record
    /// of their set that is written.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        d: &Delivery<'_>,
        i: usize,
        day_text: &str,
        series_no: i64,
        exists: bool,
        texts: &DecimalTexts,
        t: &valdrix_core::Totals,
        period: NaiveDate,
        out: &mut Written,
    ) -> Result<()> {
        let (attrs_no, new_attrs) = self.numbers.number(d.records, i);
        if new_attrs {
            let record = d.records.record(i);
            period_facts(&record, period, out);
            let mut values = vec![P::Text(d.tenant.as_str()), P::Int(d.run_id), P::Int(attrs_no)];
            values.extend(ATTR_COLUMNS.iter().map(|(name, _)| record.attr(name).map_or(P::Null, P::Text)));
            self.attrs.push(&values)?;
        }
        let (tenant, day, sums) =
            (d.tenant.as_str(), day_text, [texts.get(0), texts.get(1), texts.get(2), texts.get(3)]);
        let values: &[P<'_>] = &[
            P::Text(tenant),
            P::Text(day),
            P::Int(series_no),
            P::Int(d.run_id),
            P::Int(attrs_no),
            P::Text(sums[0]),
            P::Text(sums[1]),
            P::Text(sums[2]),
            P::Text(sums[3]),
            texts.get_opt(4, t).map_or(P::Null, P::Text),
            texts.get_opt(5, t).map_or(P::Null, P::Text),
            P::Int(t.line_count as i64),
        ];
        if exists {
            self.update.execute(values)?;
        } else {
            self.insert.push(values)?;
        }
        Ok(())
    }

    /// Writes the rows still buffered.
    fn flush(&mut self) -> Result<()> {
        self.insert.flush()?;
        self.attrs.flush()
    }

    /// Sets a removed record to zero, keeping its run and descriptive columns.
    fn zero(&mut self, tenant: &TenantId, day_text: &str, o: &OldRow) -> Result<()> {
        let zero = "0";
        let quantity = |q: &Option<String>| q.as_ref().map(|_| zero);
        self.update.execute(p![
            tenant.as_str(),
            day_text,
            o.series_no,
            o.run_id,
            o.attrs_no,
            zero,
            zero,
            zero,
            zero,
            quantity(&o.sums[4]),
            quantity(&o.sums[5]),
            0i64,
        ])?;
        Ok(())
    }
}

/// Writes a delivery's records (see the module comment), its audit entries and its alerts.
pub(super) fn write_records(
    db: Db<'_>,
    d: &Delivery<'_>,
    stream_id: i64,
    series: &mut RunSeries,
    span: &mut DateSpan,
) -> Result<Written> {
    let tenant = d.tenant;
    let records = d.records;
    // The series whose stored records the delivery is compared with (statements below name it).
    db.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS valdrix_scope (series_no BIGINT PRIMARY KEY); DELETE FROM valdrix_scope;",
    )?;
    let scope = if d.prior.is_empty() {
        Scope { series: HashMap::new(), days: BTreeSet::new() }
    } else {
        load_scope(db, tenant, stream_id, d.prior, &mut series.aggregates, &mut series.totals)?
    };
    // Taken out of `series`, which the record order below borrows.
    let mut daily = std::mem::take(&mut series.totals);
    let series_no = |i: usize| series.series_no[series.of_record[i] as usize];
    // The delivery's records in (day, series) order; a source already in day order is taken as
    // it comes and each day sorted below.
    let order: Box<dyn Iterator<Item = (NaiveDate, i64, u32)>> = if records.sorted_by_day() {
        Box::new((0..records.len()).map(|i| (records.charge_date(i), series_no(i), i as u32)))
    } else {
        let mut order: Vec<(NaiveDate, i64, u32)> =
            (0..records.len()).map(|i| (records.charge_date(i), series_no(i), i as u32)).collect();
        order.sort_unstable();
        Box::new(order.into_iter())
    };
    let mut order = order.peekable();
    let mut old_days = scope.days.iter().copied().peekable();

    let mut rows = RowWriter {
        insert: Inserter::new(
            db,
            "cost_records",
            &[
                "tenant_id",
                "charge_date",
                "series_no",
                "run_id",
                "attrs_no",
                "billed_cost",
                "effective_cost",
                "list_cost",
                "contracted_cost",
                "consumed_quantity",
                "pricing_quantity",
                "line_count",
            ],
        )?,
        update: db.prepare(
            "UPDATE cost_records SET run_id = ?4, attrs_no = ?5, billed_cost = ?6, effective_cost = ?7, list_cost = ?8, \
             contracted_cost = ?9, consumed_quantity = ?10, pricing_quantity = ?11, line_count = ?12 \
             WHERE tenant_id = ?1 AND charge_date = ?2 AND series_no = ?3",
        )?,
        attrs: Inserter::new(db, "record_attrs", &attrs_columns())?,
        numbers: AttrNumbers::default(),
    };
    let mut select_day = db.prepare(
        "SELECT series_no, run_id, attrs_no, billed_cost, effective_cost, list_cost, contracted_cost, \
         consumed_quantity, pricing_quantity, line_count FROM cost_records \
         WHERE tenant_id = ?1 AND charge_date = ?2 AND series_no IN (SELECT series_no FROM valdrix_scope)",
    )?;
    let mut audit = db.prepare(
        "INSERT INTO record_audit (tenant_id, audit_id, run_id, old_run_id, series_no, charge_date, reason, \
         old_billed, new_billed, old_effective, new_effective, post_final) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    let mut alert = db.prepare(
        "INSERT INTO restatement_alerts (tenant_id, alert_id, run_id, created_at, charge_date, billing_account_id, \
         service_name, currency, metric, old_amount, new_amount, percent_threshold, floor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let mut audit_id: i64 = db.query_row(
        "SELECT COALESCE(MAX(audit_id), 0) FROM record_audit WHERE tenant_id = ?1",
        p![tenant.as_str()],
        |r| r.get(0),
    )?;
    let mut alert_id: i64 = db.query_row(
        "SELECT COALESCE(MAX(alert_id), 0) FROM restatement_alerts WHERE tenant_id = ?1",
        p![tenant.as_str()],
        |r| r.get(0),
    )?;
    let now_text = Utc::now().to_rfc3339();
    // Descriptive columns of the stored records, to tell whether a record with unchanged sums
    // needs rewriting all the same (an invoice id that appeared, a renamed account).
    let old_attrs = if scope.series.is_empty() { HashMap::new() } else { stored_attr_hashes(db, tenant, d.stream)? };
    let mut new_attrs = NewAttrs::default();

    let mut out = Written {
        changes: RunChanges::default(),
        replaced: 0,
        days: BTreeMap::new(),
        invoices: BTreeMap::new(),
        ends: BTreeMap::new(),
        totals: TotalsDelta::default(),
    };
    let mut texts = DecimalTexts::default();
    let mut new_of_day: Vec<(i64, u32)> = Vec::new();
    let mut old_of_day: Vec<OldRow> = Vec::new();
    let mut moves: HashMap<u32, AggregateMove> = HashMap::new();
    let zero = "0";

    loop {
        let day = match (order.peek().map(|o| o.0), old_days.peek().copied()) {
            (None, None) => break,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (Some(a), Some(b)) => a.min(b),
        };
        if old_days.peek() == Some(&day) {
            old_days.next();
        }
        new_of_day.clear();
        while let Some(&(d2, no, i)) = order.peek() {
            if d2 != day {
                break;
            }
            new_of_day.push((no, i));
            order.next();
        }
        new_of_day.sort_unstable();
        let day_text = day.to_string();
        span.widen(None, None, Some(day));
        old_of_day.clear();
        if !scope.series.is_empty() {
            select_day.for_each(p![tenant.as_str(), day_text], |r| {
                old_of_day.push(OldRow {
                    series_no: r.get(0)?,
                    run_id: r.get(1)?,
                    attrs_no: r.get(2)?,
                    sums: [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
                    line_count: r.get(9)?,
                });
                Ok(())
            })?;
            old_of_day.sort_unstable_by_key(|o| o.series_no);
            out.replaced += old_of_day.len() as u64;
        }
        let final_by_age = d.policy.is_final_by_age(day, d.started_at);
        let post_final = |period: NaiveDate| final_by_age || d.prior.get(&period).is_some_and(|p| p.final_or_closed);
        moves.clear();

        let (mut a, mut b) = (0usize, 0usize);
        while a < new_of_day.len() || b < old_of_day.len() {
            let new_no = new_of_day.get(a).map(|n| n.0);
            let old_no = old_of_day.get(b).map(|o| o.series_no);
            let (take_new, take_old) = match (new_no, old_no) {
                (Some(x), Some(y)) => (x <= y, y <= x),
                (Some(_), None) => (true, false),
                (None, _) => (false, true),
            };
            let old = if take_old {
                b += 1;
                Some(&old_of_day[b - 1])
            } else {
                None
            };
            // The new record: its sums' texts stay in `texts`.
            let mut new_record: Option<(NaiveDate, u32)> = None;
            if take_new {
                let (no, i) = new_of_day[a];
                let i = i as usize;
                a += 1;
                let s = series.of_record[i] as usize;
                let period = series.period[s];
                let t = records.totals(i);
                texts.set(&t);
                let range = out.days.entry(period).or_insert((day, day));
                range.0 = range.0.min(day);
                range.1 = range.1.max(day);
                new_record = Some((period, series.aggregate[s]));
                // Descriptive columns are hashed only to compare with a stored record's.
                let unchanged = match old {
                    Some(o)
                        if o.line_count == t.line_count as i64
                            && (0..6).all(|k| o.sums[k].as_deref() == texts.get_opt(k, &t)) =>
                    {
                        old_attrs.get(&(o.run_id, o.attrs_no)) == Some(&new_attrs.hash(records, i, period, &mut out))
                    }
                    _ => false,
                };
                if !unchanged {
                    rows.write(d, i, &day_text, no, old.is_some(), &texts, &t, period, &mut out)?;
                    let was_live = old.filter(|o| o.line_count > 0).map(|o| &o.sums);
                    daily.change(day, series.rollup[s], was_live, Some(&t))?;
                }
            }
            // The change, if any.
            let change: Option<Change> = match (new_record, old) {
                (Some((period, agg)), None) => {
                    out.changes.added += 1;
                    d.prior.contains_key(&period).then(|| Change {
                        reason: ChangeReason::AddedLate,
                        old_run: None,
                        old_billed: zero.to_string(),
                        new_billed: texts.get(0).to_string(),
                        old_effective: zero.to_string(),
                        new_effective: texts.get(1).to_string(),
                        period,
                        aggregate: agg,
                    })
                }
                (Some((period, agg)), Some(o)) => {
                    let old_billed = o.sums[0].clone().unwrap_or_default();
                    let old_effective = o.sums[1].clone().unwrap_or_default();
                    let reason = if o.line_count == 0 {
                        // Removed by an earlier delivery, back again.
                        out.changes.added += 1;
                        Some(ChangeReason::AddedLate)
                    } else if !same_amount(&old_billed, texts.get(0))? || !same_amount(&old_effective, texts.get(1))? {
                        Some(ChangeReason::Restated)
                    } else {
                        None
                    };
                    reason.map(|reason| Change {
                        reason,
                        old_run: Some(o.run_id),
                        old_billed,
                        new_billed: texts.get(0).to_string(),
                        old_effective,
                        new_effective: texts.get(1).to_string(),
                        period,
                        aggregate: agg,
                    })
                }
                (None, Some(o)) => {
                    let (period, agg, _) = scope.series.get(&o.series_no).copied().ok_or_else(|| {
                        StoreError::Internal(format!("series {} is not in the delivery's scope", o.series_no))
                    })?;
                    let range = out.days.entry(period).or_insert((day, day));
                    range.0 = range.0.min(day);
                    range.1 = range.1.max(day);
                    // Removed before: stays as it is. Otherwise set to zero, keeping its run and
                    // descriptive columns.
                    (o.line_count != 0).then(|| Change {
                        reason: ChangeReason::Removed,
                        old_run: Some(o.run_id),
                        old_billed: o.sums[0].clone().unwrap_or_default(),
                        new_billed: zero.to_string(),
                        old_effective: o.sums[1].clone().unwrap_or_default(),
                        new_effective: zero.to_string(),
                        period,
                        aggregate: agg,
                    })
                }
                (None, None) => None,
            };
            let Some(Change {
                reason,
                old_run,
                old_billed,
                new_billed,
                old_effective,
                new_effective,
                period,
                aggregate: agg,
            }) = change
            else {
                continue;
            };
            if let (ChangeReason::Removed, Some(o)) = (reason, old) {
                rows.zero(tenant, &day_text, o)?;
                if let Some(&(_, _, key)) = scope.series.get(&o.series_no) {
                    daily.change(day, key, Some(&o.sums), None)?;
                }
            }
            let series_of_change = old.map(|o| o.series_no).or(new_no).unwrap_or_default();
            let is_post_final = post_final(period);
            match reason {
                ChangeReason::Restated => out.changes.restated += 1,
                ChangeReason::AddedLate => out.changes.added_late += 1,
                ChangeReason::Removed => out.changes.removed += 1,
            }
            if is_post_final {
                out.changes.post_final += 1;
            }
            audit_id += 1;
            audit.execute(p![
                tenant.as_str(),
                audit_id,
                d.run_id,
                old_run,
                series_of_change,
                day_text,
                reason.as_str(),
                old_billed,
                new_billed,
                old_effective,
                new_effective,
                is_post_final,
            ])?;
            let m = moves.entry(agg).or_default();
            m.old_billed += dec(&old_billed)?;
            m.new_billed += dec(&new_billed)?;
            m.old_effective += dec(&old_effective)?;
            m.new_effective += dec(&new_effective)?;
        }

        // Alerts: the moved aggregates' sums over the stream's records of the day, before and
        // after: all the aggregate's old records, with the changed ones' old values swapped for
        // their new ones (`moves`). Only aggregates that had records before can be restated: a
        // day × account × service seen for the first time (a month growing by a day) is new
        // data, audited as added late but not alerted on.
        if moves.is_empty() {
            continue;
        }
        let mut old_sums: HashMap<u32, (Decimal, Decimal)> = HashMap::new();
        for o in old_of_day.iter().filter(|o| o.line_count > 0) {
            let Some(&(_, agg, _)) = scope.series.get(&o.series_no) else { continue };
            if !moves.contains_key(&agg) {
                continue;
            }
            let e = old_sums.entry(agg).or_default();
            e.0 += dec(o.sums[0].as_deref().unwrap_or(zero))?;
            e.1 += dec(o.sums[1].as_deref().unwrap_or(zero))?;
        }
        for (agg, m) in &moves {
            // Old sums of the aggregate = all its live old rows; changed rows are among them
            // (a record removed before counts zero on both sides).
            let Some(&(old_b, old_e)) = old_sums.get(agg) else { continue };
            let new_b = old_b - m.old_billed + m.new_billed;
            let new_e = old_e - m.old_effective + m.new_effective;
            for (metric, old_v, new_v) in [("billed", old_b, new_b), ("effective", old_e, new_e)] {
                if !moves_past(old_v, new_v, d.policy) {
                    continue;
                }
                let (account, service, currency) = series.aggregates.name(*agg);
                alert_id += 1;
                alert.execute(p![
                    tenant.as_str(),
                    alert_id,
                    d.run_id,
                    now_text,
                    day_text,
                    account,
                    service,
                    currency,
                    metric,
                    old_v.normalize().to_string(),
                    new_v.normalize().to_string(),
                    d.policy.alert_percent.normalize().to_string(),
                    d.policy.alert_floor.normalize().to_string(),
                ])?;
                out.changes.alerts += 1;
                metrics::counter!("valdrix_restatement_alerts_total").increment(1);
                tracing::info!(
                    event = "restatement_alert",
                    run_id = d.run_id,
                    charge_date = %day,
                    account = %account,
                    service = %service,
                    currency = %currency,
                    metric,
                    old = %old_v.normalize(),
                    new = %new_v.normalize(),
                    "a restatement moved an aggregate past the alert thresholds"
                );
            }
        }
    }
    rows.flush()?;
    for end in out.ends.values() {
        span.widen(None, Some(*end), None);
    }
    out.totals = daily;
    Ok(out)
}

/// Whether an aggregate moving from `old` to `new` passes both thresholds: more than the money
/// floor, and more than the percentage of the old amount (any move from zero counts).
pub(super) fn moves_past(old: Decimal, new: Decimal, policy: &TrustPolicy) -> bool {
    let delta = (new - old).abs();
    if delta <= policy.alert_floor {
        return false;
    }
    if old.is_zero() {
        return true;
    }
    match delta.checked_mul(Decimal::ONE_HUNDRED) {
        Some(scaled) => scaled > policy.alert_percent * old.abs(),
        None => true,
    }
}

/// Updates each delivered period's state and appends the delivery to its history.
pub(super) fn record_periods(
    db: Db<'_>,
    tenant: &TenantId,
    stream_id: i64,
    run_id: i64,
    periods: &BTreeSet<NaiveDate>,
    written: &Written,
) -> Result<()> {
    let mut upsert = db.prepare(
        "INSERT INTO stream_periods (tenant_id, stream_id, period_start, period_end, first_run_id, current_run_id, \
         day_min, day_max, invoice_id, final_run_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, CASE WHEN CAST(?8 AS TEXT) IS NULL THEN NULL ELSE CAST(?5 AS BIGINT) END) \
         ON CONFLICT (tenant_id, stream_id, period_start) DO UPDATE SET \
         period_end = COALESCE(excluded.period_end, stream_periods.period_end), current_run_id = excluded.current_run_id, \
         day_min = excluded.day_min, day_max = excluded.day_max, invoice_id = excluded.invoice_id, \
         final_run_id = COALESCE(stream_periods.final_run_id, excluded.final_run_id)",
    )?;
    let mut delivered = db.prepare(
        "INSERT INTO period_deliveries (tenant_id, stream_id, period_start, run_id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in periods {
        let days = written.days.get(p);
        let invoice =
            written.invoices.get(p).filter(|s| !s.is_empty()).map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "));
        upsert.execute(p![
            tenant.as_str(),
            stream_id,
            p.to_string(),
            written.ends.get(p).map(|e| e.to_string()),
            run_id,
            days.map(|d| d.0.to_string()),
            days.map(|d| d.1.to_string()),
            invoice,
        ])?;
        delivered.execute(p![tenant.as_str(), stream_id, p.to_string(), run_id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn alerts_need_both_the_percentage_and_the_floor() {
        let d = |s: &str| Decimal::from_str(s).unwrap_or_default();
        let p = TrustPolicy { final_after_hours: 48, alert_percent: d("2"), alert_floor: d("10") };
        // 3 % of 1000 = 30 > 10: alert.
        assert!(moves_past(d("1000"), d("1030"), &p));
        // 3 % of 100 = 3, under the floor.
        assert!(!moves_past(d("100"), d("103"), &p));
        // 1.5 % of 10000 = 150: over the floor, under the percentage.
        assert!(!moves_past(d("10000"), d("10150"), &p));
        // Exactly 2 % is not more than 2 %.
        assert!(!moves_past(d("1000"), d("1020"), &p));
        // From nothing, past the floor.
        assert!(moves_past(d("0"), d("10.01"), &p));
        assert!(!moves_past(d("0"), d("10"), &p));
        // Downwards too.
        assert!(moves_past(d("-1000"), d("-1030"), &p));
    }
}
