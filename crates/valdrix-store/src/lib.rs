//! The Valdrix store: ingestion runs, daily cost records with their lineage, and typed cost
//! queries.
//!
//! [`Store`] is the API the CLI and the server use. [`SqliteStore`] is the embedded backend: one
//! file, nothing to install; amounts are kept as canonical decimal text and added up in Rust,
//! because SQLite's `SUM` would return a float. [`PgStore`] is the server's backend: amounts are
//! `NUMERIC`, tenants are isolated by row-level security. Both run the same logic (`engine`)
//! over one SQL layer (`db`); [`open`] picks one from a database URL.

pub mod allocation;
mod backend;
pub(crate) mod db;
mod engine;
pub mod error;
pub mod forecasts;
pub mod keys;
pub mod postgres;
pub mod query;
pub mod scope;
pub mod sqlite;
pub mod testing;
pub mod trust;
pub mod zombies;

pub use error::{Result, StoreError};
pub use postgres::{Maintenance, PgOptions, PgStore};
pub use query::{CostQuery, CostRow, Dimension, Filter, Metric};
pub use sqlite::SqliteStore;

/// Opens the store a URL names (`postgres://…` or a SQLite path / `sqlite://` URL), applying
/// pending migrations.
pub fn open(url: &str) -> Result<Box<dyn Store + Send>> {
    if postgres::is_postgres_url(url) {
        Ok(Box::new(PgStore::open(url)?))
    } else {
        Ok(Box::new(SqliteStore::open(url)?))
    }
}
pub use trust::{
    AuditEntry, AuditEvent, ChangeReason, Closure, CurrencyChange, Forced, Freshness, HistoryPoint, PeriodInfo,
    PeriodState, RecordHistory, RestatementAlert, RunAudit, RunChanges, TrustPolicy,
};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use valdrix_core::{CostRecord, RecordSource, TenantId, Totals};

/// Money totals of one currency in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotals {
    /// Σ BilledCost.
    pub billed: rust_decimal::Decimal,
    /// Σ EffectiveCost.
    pub effective: rust_decimal::Decimal,
    /// Σ ListCost.
    pub list: rust_decimal::Decimal,
    /// Σ ContractedCost.
    pub contracted: rust_decimal::Decimal,
}

impl From<&Totals> for CurrencyTotals {
    fn from(t: &Totals) -> Self {
        CurrencyTotals {
            billed: t.billed_cost,
            effective: t.effective_cost,
            list: t.list_cost,
            contracted: t.contracted_cost,
        }
    }
}

/// What an ingestion run wrote, for the run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// Stream identity: a newer delivery of the same stream replaces the older one.
    pub stream: String,
    /// The file, folder or URL the user gave.
    pub source_uri: String,
    /// Files read, in order.
    pub files: Vec<String>,
    /// Format name.
    pub format: String,
    /// SHA-256 of the files' bytes.
    pub checksum: String,
    /// CUR assembly id.
    pub assembly_id: Option<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Normalised lines.
    pub lines: u64,
    /// Totals per currency.
    pub totals: BTreeMap<String, CurrencyTotals>,
    /// When reading started.
    pub started_at: DateTime<Utc>,
    /// Time spent reading and rolling up, in milliseconds.
    pub read_ms: u64,
    /// When records become final and when restatements alert.
    pub policy: TrustPolicy,
    /// Set to deliver into a billing period closed by hand (recorded in the audit log).
    pub forced: Option<Forced>,
    /// What to do when another stream already holds the delivery's billing scope.
    pub overlap: scope::OverlapPolicy,
}

impl NewRun {
    /// A run of one file with nothing counted yet, under the default trust and overlap
    /// policies: the caller sets what it read with struct update syntax.
    pub fn of_file(stream: &str, file: &str, format: &str, checksum: &str, started_at: DateTime<Utc>) -> NewRun {
        NewRun {
            stream: stream.into(),
            source_uri: file.into(),
            files: vec![file.into()],
            format: format.into(),
            checksum: checksum.into(),
            assembly_id: None,
            bytes: 0,
            rows_read: 0,
            lines: 0,
            totals: BTreeMap::new(),
            started_at,
            read_ms: 0,
            policy: TrustPolicy::default(),
            forced: None,
            overlap: scope::OverlapPolicy::default(),
        }
    }
}

/// A recorded ingestion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run number.
    pub run_id: i64,
    /// Tenant.
    pub tenant: String,
    /// Stream identity.
    pub stream: String,
    /// What the user gave.
    pub source_uri: String,
    /// Files read.
    pub files: Vec<String>,
    /// Format name.
    pub format: String,
    /// SHA-256 of the input.
    pub checksum: String,
    /// CUR assembly id.
    pub assembly_id: Option<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Normalised lines kept.
    pub lines: u64,
    /// Daily records written.
    pub records: u64,
    /// Records of the previous delivery that this run replaced.
    pub records_replaced: u64,
    /// Earliest billing period start.
    pub billing_period_start: Option<NaiveDate>,
    /// Latest billing period end.
    pub billing_period_end: Option<NaiveDate>,
    /// First charge day.
    pub charge_date_min: Option<NaiveDate>,
    /// Last charge day.
    pub charge_date_max: Option<NaiveDate>,
    /// Totals per currency.
    pub totals: BTreeMap<String, CurrencyTotals>,
    /// `succeeded`.
    pub status: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: String,
    /// Reading time in ms.
    pub read_ms: u64,
    /// Writing time in ms.
    pub write_ms: u64,
    /// What the delivery changed.
    pub changes: RunChanges,
}

/// Why an input was not written again.
#[derive(Debug, Clone, PartialEq)]
pub enum Duplicate {
    /// The same bytes are the current delivery of this or another stream.
    SameContent(RunSummary),
}

/// The store API shared by every backend.
pub trait Store {
    /// Applies pending migrations.
    fn migrate(&mut self) -> Result<()>;

    /// A run whose input had the same checksum and is still the current delivery of its stream:
    /// ingesting that input again would change nothing.
    fn current_run_with_checksum(&self, tenant: &TenantId, checksum: &str) -> Result<Option<RunSummary>>;

    /// Starts a transaction spanning several writes (one ingest command); `commit` makes them
    /// visible together, `rollback` (or a crash) discards them all.
    fn begin(&mut self) -> Result<()>;

    /// Commits the transaction started by `begin`.
    fn commit(&mut self) -> Result<()>;

    /// Discards the transaction started by `begin`.
    fn rollback(&mut self) -> Result<()>;

    /// Writes a delivery of `run.stream`: within each billing period the delivery covers, its
    /// records replace the stream's, and every change (restated, added late, removed: set to
    /// zero, never deleted) is written to the audit log; restatements past the policy's
    /// thresholds raise alerts. A period closed by hand refuses the delivery unless
    /// `run.forced`. Atomic: on any error nothing is written. Inside `begin` … `commit` it joins
    /// that transaction.
    fn replace_stream(&mut self, tenant: &TenantId, run: &NewRun, records: &dyn RecordSource) -> Result<RunSummary>;

    /// Ingestion history, newest first.
    fn runs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<RunSummary>>;

    /// The existing stream a `--stream` spelling names: its id as Valdrix prints it, or the bare
    /// NAME of `named:NAME`; `None` when no stream is spelled so.
    fn resolve_stream(&self, tenant: &TenantId, spelling: &str) -> Result<Option<String>>;

    /// Every (provider, billing account, sub account, period) billed by more than one stream.
    fn stream_overlaps(&self, tenant: &TenantId) -> Result<Vec<scope::StreamOverlap>>;

    /// A page of the ingestion history: runs older than run `before` (all when `None`), newest
    /// first (keyset pagination: pages stay consistent while new runs arrive).
    fn runs_before(&self, tenant: &TenantId, before: Option<i64>, limit: usize) -> Result<Vec<RunSummary>>;

    /// Grouped cost totals, per currency.
    fn costs(&self, tenant: &TenantId, q: &CostQuery) -> Result<Vec<CostRow>>;

    /// Calls `f` with every record matching the query's date range and filters (grouping is
    /// ignored), in charge-date order.
    fn for_each_record(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        f: &mut dyn FnMut(CostRecord) -> Result<()>,
    ) -> Result<()>;

    /// The same as [`Store::for_each_record`], with each record's stable id
    /// ([`trust::record_id`]), for answers that must name their source records.
    fn for_each_record_with_id(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        f: &mut dyn FnMut(String, CostRecord) -> Result<()>,
    ) -> Result<()>;

    /// Totals per currency over all stored records of the tenant.
    fn totals(&self, tenant: &TenantId) -> Result<BTreeMap<String, CurrencyTotals>>;

    /// Records matching the query's range and filters, with their ids, largest |BilledCost|
    /// first (then by day and id); with `after`, only those after that position (the next page).
    fn records(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        after: Option<&RecordCursor>,
        limit: usize,
    ) -> Result<Vec<RecordRow>>;

    /// Every value a record has had, delivery by delivery. `record_id` may shorten the key to a
    /// unique prefix.
    fn record_history(&self, tenant: &TenantId, record_id: &str) -> Result<RecordHistory>;

    /// What a run changed: counts, net change per currency, the largest changes.
    fn run_audit(&self, tenant: &TenantId, run_id: i64, largest: usize) -> Result<RunAudit>;

    /// Every audit entry of a run, in record order.
    fn audit_entries(&self, tenant: &TenantId, run_id: i64) -> Result<Vec<AuditEntry>>;

    /// Each billing period of each stream with its state at `now` and its totals, newest first.
    fn periods(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<PeriodInfo>>;

    /// Closes a billing period (`YYYY-MM`) by hand.
    fn close_period(&mut self, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<Closure>;

    /// Reopens a billing period closed by hand.
    fn reopen_period(&mut self, tenant: &TenantId, period: &str, actor: &str, reason: &str) -> Result<()>;

    /// Closes, reopens and forced deliveries, oldest first.
    fn audit_events(&self, tenant: &TenantId) -> Result<Vec<AuditEvent>>;

    /// Restatement alerts, newest first (of one run when given; older than alert `before` when
    /// given: keyset pages).
    fn alerts(
        &self,
        tenant: &TenantId,
        run_id: Option<i64>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RestatementAlert>>;

    /// How far the stored costs are complete and final at `now`.
    fn freshness(&self, tenant: &TenantId, now: DateTime<Utc>, policy: &TrustPolicy) -> Result<Freshness>;

    /// Stores a new API key of the tenant (hashed secret).
    fn create_api_key(&mut self, tenant: &TenantId, key: &keys::NewApiKey) -> Result<keys::ApiKeyInfo>;

    /// A key of the tenant with the SHA-256 of its secret, to check a presented key against.
    fn api_key(&self, tenant: &TenantId, key_id: &str) -> Result<Option<(keys::ApiKeyInfo, Vec<u8>)>>;

    /// The tenant's API keys, oldest first.
    fn api_keys(&self, tenant: &TenantId) -> Result<Vec<keys::ApiKeyInfo>>;

    /// Revokes a key of the tenant; false when it has no such key.
    fn revoke_api_key(&mut self, tenant: &TenantId, key_id: &str) -> Result<bool>;

    /// Ends the dashboard sessions of a key issued until `at_ms` (Unix milliseconds): signing
    /// out ends the session on the server. False when the tenant has no such key.
    fn end_key_sessions(&mut self, tenant: &TenantId, key_id: &str, at_ms: i64) -> Result<bool>;

    /// Saves an allocation rule set (canonical JSON) as the tenant's new current version,
    /// recording who and why; the same rules as the current version save nothing.
    fn save_allocation_rules(
        &mut self,
        tenant: &TenantId,
        rules: &str,
        actor: &str,
        note: &str,
    ) -> Result<allocation::SavedRuleSet>;

    /// A version of the tenant's allocation rule set (none: the current one).
    fn allocation_rules(&self, tenant: &TenantId, version: Option<i64>) -> Result<Option<allocation::RuleSetVersion>>;

    /// Every version of the tenant's allocation rule set, newest first.
    fn allocation_rule_history(&self, tenant: &TenantId) -> Result<Vec<allocation::RuleSetVersion>>;

    /// Keeps forecasts as they were made (numbered per tenant, in order); their ids.
    fn save_forecasts(&mut self, tenant: &TenantId, forecasts: &[forecasts::NewForecast]) -> Result<Vec<i64>>;

    /// The tenant's kept forecasts, newest first.
    fn forecasts(&self, tenant: &TenantId, limit: usize) -> Result<Vec<forecasts::StoredForecast>>;

    /// Marks days of a monitored series as expected; false when the same mark exists.
    fn mark_anomaly_expected(&mut self, tenant: &TenantId, mark: &forecasts::AnomalyFeedback) -> Result<bool>;

    /// Takes a mark back; false when there was none.
    fn unmark_anomaly_expected(
        &mut self,
        tenant: &TenantId,
        series: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<bool>;

    /// The tenant's marks.
    fn anomaly_feedback(&self, tenant: &TenantId) -> Result<Vec<forecasts::AnomalyFeedback>>;

    /// Saves an anomaly monitor under its name, replacing one of the same name; true when it is
    /// new.
    fn save_anomaly_monitor(&mut self, tenant: &TenantId, monitor: &forecasts::AnomalyMonitor) -> Result<bool>;

    /// Deletes an anomaly monitor and forgets what it reported; false when there was none.
    fn delete_anomaly_monitor(&mut self, tenant: &TenantId, name: &str) -> Result<bool>;

    /// One anomaly monitor by name.
    fn anomaly_monitor(&self, tenant: &TenantId, name: &str) -> Result<Option<forecasts::AnomalyMonitor>>;

    /// The tenant's anomaly monitors, by name.
    fn anomaly_monitors(&self, tenant: &TenantId) -> Result<Vec<forecasts::AnomalyMonitor>>;

    /// What the monitor `monitor` has reported.
    fn anomaly_reports(&self, tenant: &TenantId, monitor: &str) -> Result<Vec<forecasts::AnomalyReport>>;

    /// Records that the monitor `monitor` reported `reports` (kept by series, currency and first
    /// day); for each, whether it was new.
    fn report_anomalies(
        &mut self,
        tenant: &TenantId,
        monitor: &str,
        reports: &[forecasts::AnomalyReport],
    ) -> Result<Vec<bool>>;

    /// Daily totals (grouped as the query asks, always by day too) restricted to final days: the
    /// series a forecast may learn from.
    fn final_daily_costs(
        &self,
        tenant: &TenantId,
        q: &CostQuery,
        now: DateTime<Utc>,
        policy: &TrustPolicy,
    ) -> Result<Vec<CostRow>>;

    /// Records a zombie scan against what earlier scans of the account found: new findings,
    /// findings still present, reopened and resolved ones (see [`zombies::NewZombieScan`]).
    fn record_zombie_scan(
        &mut self,
        tenant: &TenantId,
        scan: &zombies::NewZombieScan,
    ) -> Result<zombies::ZombieScanSummary>;

    /// The tenant's zombie scans, newest first.
    fn zombie_scans(&self, tenant: &TenantId, limit: usize) -> Result<Vec<zombies::ZombieScanSummary>>;

    /// Stored zombie findings: open ones first, the costliest first.
    fn zombies(&self, tenant: &TenantId, filter: &zombies::ZombieFilter) -> Result<Vec<zombies::StoredZombie>>;

    /// Marks a finding ignored by a person (or takes the mark away); false when there is no such
    /// finding.
    fn set_zombie_ignored(
        &mut self,
        tenant: &TenantId,
        key: &zombies::ZombieKey,
        ignored: bool,
        actor: &str,
        reason: &str,
    ) -> Result<bool>;

    /// A finding's transitions, oldest first.
    fn zombie_history(&self, tenant: &TenantId, key: &zombies::ZombieKey) -> Result<Vec<zombies::ZombieEvent>>;

    /// Makes a remediation plan of pending steps (numbered from 1 in the order given; their
    /// numbers and states are the store's) and logs it.
    fn create_remediation_plan(
        &mut self,
        tenant: &TenantId,
        cloud: &str,
        account: &str,
        actor: &str,
        steps: &[zombies::RemediationStep],
    ) -> Result<zombies::RemediationPlan>;

    /// A remediation plan with its steps.
    fn remediation_plan(&self, tenant: &TenantId, plan_id: i64) -> Result<Option<zombies::RemediationPlan>>;

    /// The tenant's remediation plans, newest first.
    fn remediation_plans(&self, tenant: &TenantId, limit: usize) -> Result<Vec<zombies::RemediationPlan>>;

    /// Logs an event of a plan and applies the step and plan states it carries. A plan moves
    /// only planned → approved → executed or failed, or to cancelled before execution;
    /// anything else is [`StoreError::Conflict`].
    fn remediation_event(
        &mut self,
        tenant: &TenantId,
        plan_id: i64,
        event: &zombies::RemediationEvent,
    ) -> Result<zombies::RemediationPlan>;

    /// A plan's log, oldest first.
    fn remediation_log(&self, tenant: &TenantId, plan_id: i64) -> Result<Vec<zombies::RemediationLogEntry>>;
}

/// One stored record, with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRow {
    /// Stable id (see [`trust::record_id`]).
    pub record_id: String,
    /// Charge day.
    pub charge_date: NaiveDate,
    /// ProviderName.
    pub provider: String,
    /// BillingAccountId.
    pub account: String,
    /// ServiceName.
    pub service: String,
    /// ResourceId.
    pub resource: Option<String>,
    /// Usage type.
    pub usage_type: Option<String>,
    /// ChargeCategory.
    pub charge_category: String,
    /// BillingCurrency.
    pub currency: String,
    /// BilledCost.
    pub billed: rust_decimal::Decimal,
    /// EffectiveCost.
    pub effective: rust_decimal::Decimal,
    /// The run that last wrote it.
    pub run_id: i64,
    /// Removed by a newer delivery (kept at zero).
    pub removed: bool,
}

/// A position in the order of [`Store::records`] (largest |BilledCost| first, then day, then
/// id): the last row of a page, to ask for the rows after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    /// |BilledCost| of the row.
    pub abs_billed: rust_decimal::Decimal,
    /// Its id (which ends with its day).
    pub record_id: String,
    /// Its day, `YYYYMMDD` (ordered as the date is; kept as text so that any cursor of the
    /// right shape is a position, whether or not it names a real day).
    pub day: String,
}

impl RecordCursor {
    /// The cursor just past `row`.
    pub fn after(row: &RecordRow) -> RecordCursor {
        RecordCursor {
            abs_billed: row.billed.abs(),
            record_id: row.record_id.clone(),
            day: row.charge_date.format("%Y%m%d").to_string(),
        }
    }

    /// As text: `ABS_BILLED~RECORD_ID`.
    pub fn encode(&self) -> String {
        format!("{}~{}", self.abs_billed, self.record_id)
    }

    /// Parses [`RecordCursor::encode`]'s text.
    pub fn parse(text: &str) -> Option<RecordCursor> {
        let (amount, id) = text.split_once('~')?;
        let abs_billed: rust_decimal::Decimal = amount.parse().ok()?;
        let (key, day) = id.rsplit_once('-')?;
        let well_formed = !abs_billed.is_sign_negative()
            && day.len() == 8
            && day.bytes().all(|b| b.is_ascii_digit())
            && !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then(|| RecordCursor { abs_billed, record_id: id.to_string(), day: day.to_string() })
    }

    /// Whether `row` comes after this position.
    pub fn precedes(&self, row: &RecordRow) -> bool {
        let row_day = row.charge_date.format("%Y%m%d").to_string();
        (std::cmp::Reverse(row.billed.abs()), row_day.as_str(), row.record_id.as_str())
            > (std::cmp::Reverse(self.abs_billed), self.day.as_str(), self.record_id.as_str())
    }
}
