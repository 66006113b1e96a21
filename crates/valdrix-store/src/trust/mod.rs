//! Cost trust: what a newer delivery changed (the audit log), each record's history, when costs
//! become final, restatement alerts and closed billing periods.
//!
//! A delivery of a stream covers one or more billing periods. Within each period it is compared
//! record by record with what the store holds: a record whose BilledCost or EffectiveCost moved
//! is `restated`, a record the period did not have is `added_late`, and a record the delivery no
//! longer has is `removed`: set to zero, never deleted. So a record's current value is always its
//! first value plus the deltas of its audit entries, and so are the totals.

pub(crate) mod sql;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::RunSummary;

/// The rules of cost trust that are configuration, not constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustPolicy {
    /// A record is preliminary until this many hours after its charge day ends.
    pub final_after_hours: u32,
    /// A restatement alerts when it moves an aggregate (day × billing account × service) by more
    /// than this many percent…
    pub alert_percent: Decimal,
    /// …and by more than this amount, in the aggregate's currency.
    pub alert_floor: Decimal,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        TrustPolicy { final_after_hours: 48, alert_percent: Decimal::TWO, alert_floor: Decimal::TEN }
    }
}

impl TrustPolicy {
    /// The last charge day that is final by age at `now`: its end plus `final_after_hours` has
    /// passed.
    pub fn final_by_age_through(&self, now: DateTime<Utc>) -> NaiveDate {
        let cutoff = now - Duration::hours(i64::from(self.final_after_hours));
        // Day D ends at D+1 00:00; it is final once D+1 + hours <= now, i.e. D+1 <= cutoff's day
        // when cutoff is past midnight of that day.
        cutoff.date_naive() - Duration::days(1)
    }

    /// Whether the charge day `day` is final by age at `now`.
    pub fn is_final_by_age(&self, day: NaiveDate, now: DateTime<Utc>) -> bool {
        day <= self.final_by_age_through(now)
    }
}

/// Who forced a delivery into a closed billing period, and why (kept in the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced {
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
}

/// Why a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// A newer delivery gave the record another BilledCost or EffectiveCost.
    Restated,
    /// A newer delivery of a period brought a record the period did not have.
    AddedLate,
    /// A newer complete delivery of a period no longer has the record: it is set to zero.
    Removed,
}

impl ChangeReason {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Restated => "restated",
            ChangeReason::AddedLate => "added_late",
            ChangeReason::Removed => "removed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<ChangeReason> {
        Some(match s {
            "restated" => ChangeReason::Restated,
            "added_late" => ChangeReason::AddedLate,
            "removed" => ChangeReason::Removed,
            _ => return None,
        })
    }
}

/// One audit entry: a record a delivery changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The delivery (run) that changed it.
    pub run_id: i64,
    /// The delivery the old value came from (none when the record is new).
    pub old_run_id: Option<i64>,
    /// The record's stable id (see [`record_id`]).
    pub record_id: String,
    /// Charge day.
    pub charge_date: NaiveDate,
    /// Why.
    pub reason: ChangeReason,
    /// BillingAccountId.
    pub account: String,
    /// ServiceName.
    pub service: String,
    /// BillingCurrency.
    pub currency: String,
    /// BilledCost before.
    pub old_billed: Decimal,
    /// BilledCost after.
    pub new_billed: Decimal,
    /// EffectiveCost before.
    pub old_effective: Decimal,
    /// EffectiveCost after.
    pub new_effective: Decimal,
    /// The old value was already final (by age, invoice or close): a post-final restatement.
    pub post_final: bool,
}

impl AuditEntry {
    /// New BilledCost minus old.
    pub fn billed_delta(&self) -> Decimal {
        self.new_billed - self.old_billed
    }

    /// New EffectiveCost minus old.
    pub fn effective_delta(&self) -> Decimal {
        self.new_effective - self.old_effective
    }

    /// |Δ BilledCost| in percent of the old value; none when the old value is zero.
    pub fn billed_change_percent(&self) -> Option<Decimal> {
        percent_change(self.old_billed, self.new_billed)
    }
}

/// |new − old| in percent of |old|; none when old is zero.
pub fn percent_change(old: Decimal, new: Decimal) -> Option<Decimal> {
    if old.is_zero() {
        return None;
    }
    ((new - old).abs().checked_mul(Decimal::ONE_HUNDRED)?).checked_div(old.abs()).map(|p| p.round_dp(4).normalize())
}

/// How many records a delivery added, restated and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunChanges {
    /// Records the periods did not have before (all of them on a period's first delivery).
    pub added: u64,
    /// Of those, records added to a period delivered before (audited as `added_late`).
    pub added_late: u64,
    /// Records whose value changed.
    pub restated: u64,
    /// Records set to zero because the delivery no longer has them.
    pub removed: u64,
    /// Changes to values that were already final.
    pub post_final: u64,
    /// Restatement alerts raised.
    pub alerts: u64,
}

/// Net change of one currency in a run's audit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CurrencyChange {
    /// Σ Δ BilledCost.
    pub billed_delta: Decimal,
    /// Σ Δ EffectiveCost.
    pub effective_delta: Decimal,
    /// Audit entries in this currency.
    pub entries: u64,
    /// Mean |Δ BilledCost| % over entries whose old value was not zero.
    pub mean_abs_percent: Option<Decimal>,
    /// Largest |Δ BilledCost| % over those entries.
    pub max_abs_percent: Option<Decimal>,
}

/// What one delivery changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunAudit {
    /// The run.
    pub run: RunSummary,
    /// Net change per currency.
    pub currencies: BTreeMap<String, CurrencyChange>,
    /// The entries with the largest |Δ BilledCost|, largest first.
    pub largest: Vec<AuditEntry>,
}

/// One value a record had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// The delivery that gave (or confirmed) the value.
    pub run: RunSummary,
    /// `first`, `unchanged`, `restated`, `added_late`, `removed`.
    pub change: String,
    /// BilledCost after this delivery.
    pub billed: Decimal,
    /// EffectiveCost after this delivery.
    pub effective: Decimal,
    /// A change to a value that was already final.
    pub post_final: bool,
}

/// Every value a record has had, delivery by delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordHistory {
    /// The record's id.
    pub record_id: String,
    /// Its stream.
    pub stream: String,
    /// Charge day.
    pub charge_date: NaiveDate,
    /// Billing period (`YYYY-MM`).
    pub billing_period: String,
    /// Grain, as `FOCUS column → value` (empty values left out).
    pub grain: BTreeMap<String, String>,
    /// Values, oldest first.
    pub points: Vec<HistoryPoint>,
}

/// The state of a billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodState {
    /// The billing period has not ended: charges still accrue.
    Open,
    /// Ended, not invoiced yet: the provider may still restate it.
    Preliminary,
    /// Invoiced by the provider.
    Final,
    /// Closed by hand: later deliveries are refused unless forced.
    Closed,
}

impl PeriodState {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodState::Open => "open",
            PeriodState::Preliminary => "preliminary",
            PeriodState::Final => "final",
            PeriodState::Closed => "closed",
        }
    }
}

/// A hand close of a billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    /// `YYYY-MM`.
    pub period: String,
    /// When.
    pub closed_at: String,
    /// Who.
    pub closed_by: String,
    /// Why.
    pub reason: String,
}

/// One billing period of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// `YYYY-MM`.
    pub period: String,
    /// The stream (source) that delivered it.
    pub stream: String,
    /// Its state.
    pub state: PeriodState,
    /// Deliveries so far.
    pub deliveries: u64,
    /// The newest delivery.
    pub current_run_id: i64,
    /// Invoice id(s) of the newest delivery.
    pub invoice_id: Option<String>,
    /// The first delivery that carried an invoice id.
    pub final_run_id: Option<i64>,
    /// The hand close, if any.
    pub closed: Option<Closure>,
    /// Σ BilledCost and Σ EffectiveCost per currency.
    pub totals: BTreeMap<String, (Decimal, Decimal)>,
}

/// Something a person did to a period, kept in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Order of events.
    pub event_id: i64,
    /// When.
    pub at: String,
    /// `period_closed`, `period_reopened` or `forced_delivery`.
    pub kind: String,
    /// `YYYY-MM`.
    pub period: String,
    /// The forced delivery's run.
    pub run_id: Option<i64>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
}

/// A restatement that moved an aggregate (day × billing account × service) that had records
/// before past the thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestatementAlert {
    /// Alert number.
    pub alert_id: i64,
    /// The delivery that restated.
    pub run_id: i64,
    /// When it was raised.
    pub created_at: String,
    /// Charge day.
    pub charge_date: NaiveDate,
    /// BillingAccountId.
    pub account: String,
    /// ServiceName.
    pub service: String,
    /// BillingCurrency.
    pub currency: String,
    /// `billed` or `effective`.
    pub metric: String,
    /// The aggregate before.
    pub old_amount: Decimal,
    /// The aggregate after.
    pub new_amount: Decimal,
    /// The percent threshold in force.
    pub percent_threshold: Decimal,
    /// The money floor in force.
    pub floor: Decimal,
}

impl RestatementAlert {
    /// New minus old.
    pub fn delta(&self) -> Decimal {
        self.new_amount - self.old_amount
    }

    /// |Δ| in percent of the old amount; none when it was zero.
    pub fn percent(&self) -> Option<Decimal> {
        percent_change(self.old_amount, self.new_amount)
    }
}

/// How far stored costs are complete and final.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The last charge day with data that had ended when its newest delivery was read.
    pub complete_through: Option<NaiveDate>,
    /// The last day through which every day is final (by age or by its period's invoice or
    /// close); none while no day with data is.
    pub final_through: Option<NaiveDate>,
}

/// A record's stable id: its series key in hex, then its charge day (`YYYYMMDD`). The series key
/// hashes the tenant, the stream and the grain but the day, so the id is the same in every store
/// and across every delivery of the stream.
pub fn record_id(series_key: &[u8], day: NaiveDate) -> String {
    let mut s = String::with_capacity(series_key.len() * 2 + 9);
    for b in series_key {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('-');
    s.push_str(&day.format("%Y%m%d").to_string());
    s
}

/// Splits a record id (or a unique prefix of its key with the day: `5f3ae1-20231003`) into the
/// key's hex prefix and the day.
pub fn parse_record_id(id: &str) -> Option<(String, NaiveDate)> {
    let (key, day) = id.trim().rsplit_once('-')?;
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day = NaiveDate::parse_from_str(day, "%Y%m%d").ok()?;
    let key = key.to_ascii_lowercase();
    if key.len() < 4 || key.len() > 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((key, day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_is_final_48_hours_after_it_ends() {
        let p = TrustPolicy::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
        // Ends 2026-11-21 00:00; final from 2026-11-23 00:00.
        let before = Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 59).single().unwrap_or_default();
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).single().unwrap_or_default();
        assert!(!p.is_final_by_age(day, before));
        assert!(p.is_final_by_age(day, at));
        let p6 = TrustPolicy { final_after_hours: 6, ..TrustPolicy::default() };
        let six = Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).single().unwrap_or_default();
        assert!(p6.is_final_by_age(day, six));
        assert!(!p6.is_final_by_age(day, six - Duration::seconds(1)));
    }

    #[test]
    fn record_ids_round_trip() {
        let day = NaiveDate::from_ymd_opt(2023, 10, 3).unwrap_or_default();
        let id = record_id(&[0x5f, 0x3a, 0xe1, 0x00], day);
        assert_eq!(id, "5f3ae100-20231003");
        assert_eq!(parse_record_id(&id), Some(("5f3ae100".to_string(), day)));
        assert_eq!(parse_record_id("5F3A-20231003"), Some(("5f3a".to_string(), day)));
        assert_eq!(parse_record_id("5f3-20231003"), None);
        assert_eq!(parse_record_id("zz3a-20231003"), None);
        assert_eq!(parse_record_id("5f3a-2023103"), None);
    }

    #[test]
    fn percent_change_is_relative_to_the_old_value() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert_eq!(percent_change(d("100"), d("103")), Some(d("3")));
        assert_eq!(percent_change(d("-50"), d("-49")), Some(d("2")));
        assert_eq!(percent_change(d("0"), d("5")), None);
    }
}
