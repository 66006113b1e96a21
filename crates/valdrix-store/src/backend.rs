//! The one implementation of [`Store`]: every method runs its engine function inside the
//! backend's tenant scope. A backend (SQLite, PostgreSQL) provides only what differs between
//! them: how a tenant's context is set, transactions and migrations.

use valdrix_core::TenantId;

use crate::db::Db;
use crate::error::Result;
use crate::Store;

/// What a database gives the store. Sealed: [`Db`] is the crate's own, so no backend can be
/// written outside it, and the lint that says so is expected.
#[allow(private_bounds)]
pub trait Backend {
    /// Runs `f` with `tenant`'s context set (on PostgreSQL inside a transaction, under row-level
    /// security); a statement outside any scope is refused.
    fn scoped<T>(&self, tenant: &TenantId, f: impl FnOnce(Db<'_>) -> Result<T>) -> Result<T>;
    /// Applies the migrations this build has and the database lacks.
    fn migrate_schema(&mut self) -> Result<()>;
    /// Opens a transaction that later calls join until it is committed or rolled back.
    fn open_transaction(&mut self) -> Result<()>;
    /// Commits the transaction [`Backend::open_transaction`] opened.
    fn commit_transaction(&mut self) -> Result<()>;
    /// Rolls back the transaction [`Backend::open_transaction`] opened, if there is one.
    fn rollback_transaction(&mut self) -> Result<()>;
}

impl<B: Backend> Store for B {
    fn migrate(&mut self) -> Result<()> {
        self.migrate_schema()
    }

    fn begin(&mut self) -> Result<()> {
        self.open_transaction()
    }

    fn commit(&mut self) -> Result<()> {
        self.commit_transaction()
    }

    fn rollback(&mut self) -> Result<()> {
        self.rollback_transaction()
    }

    fn current_run_with_checksum(
        &self,
        tenant: &valdrix_core::TenantId,
        checksum: &str,
    ) -> crate::Result<Option<crate::RunSummary>> {
        self.scoped(tenant, |db| crate::engine::write::current_run_with_checksum(db, tenant, checksum))
    }

    fn replace_stream(
        &mut self,
        tenant: &valdrix_core::TenantId,
        run: &crate::NewRun,
        records: &dyn valdrix_core::RecordSource,
    ) -> crate::Result<crate::RunSummary> {
        self.scoped(tenant, |db| crate::engine::write::replace_stream(db, tenant, run, records))
    }

    fn runs(&self, tenant: &valdrix_core::TenantId, limit: usize) -> crate::Result<Vec<crate::RunSummary>> {
        self.scoped(tenant, |db| crate::engine::runs::runs(db, tenant, None, limit))
    }

    fn resolve_stream(&self, tenant: &valdrix_core::TenantId, spelling: &str) -> crate::Result<Option<String>> {
        self.scoped(tenant, |db| crate::scope::sql::resolve(db, tenant, spelling))
    }

    fn stream_overlaps(&self, tenant: &valdrix_core::TenantId) -> crate::Result<Vec<crate::scope::StreamOverlap>> {
        self.scoped(tenant, |db| crate::scope::sql::overlaps(db, tenant))
    }

    fn runs_before(
        &self,
        tenant: &valdrix_core::TenantId,
        before: Option<i64>,
        limit: usize,
    ) -> crate::Result<Vec<crate::RunSummary>> {
        self.scoped(tenant, |db| crate::engine::runs::runs(db, tenant, before, limit))
    }

    fn costs(&self, tenant: &valdrix_core::TenantId, q: &crate::CostQuery) -> crate::Result<Vec<crate::CostRow>> {
        self.scoped(tenant, |db| crate::engine::query::costs(db, tenant, q))
    }

    fn for_each_record(
        &self,
        tenant: &valdrix_core::TenantId,
        q: &crate::CostQuery,
        f: &mut dyn FnMut(valdrix_core::CostRecord) -> crate::Result<()>,
    ) -> crate::Result<()> {
        self.scoped(tenant, |db| crate::engine::query::for_each_record(db, tenant, q, f))
    }

    fn for_each_record_with_id(
        &self,
        tenant: &valdrix_core::TenantId,
        q: &crate::CostQuery,
        f: &mut dyn FnMut(String, valdrix_core::CostRecord) -> crate::Result<()>,
    ) -> crate::Result<()> {
        self.scoped(tenant, |db| crate::engine::query::for_each_record_with_id(db, tenant, q, f))
    }

    fn totals(
        &self,
        tenant: &valdrix_core::TenantId,
    ) -> crate::Result<std::collections::BTreeMap<String, crate::CurrencyTotals>> {
        self.scoped(tenant, |db| crate::engine::runs::totals(db, tenant))
    }

    fn records(
        &self,
        tenant: &valdrix_core::TenantId,
        q: &crate::CostQuery,
        after: Option<&crate::RecordCursor>,
        limit: usize,
    ) -> crate::Result<Vec<crate::RecordRow>> {
        self.scoped(tenant, |db| crate::trust::sql::records(db, tenant, q, after, limit))
    }

    fn record_history(&self, tenant: &valdrix_core::TenantId, record_id: &str) -> crate::Result<crate::RecordHistory> {
        self.scoped(tenant, |db| crate::trust::sql::record_history(db, tenant, record_id))
    }

    fn run_audit(
        &self,
        tenant: &valdrix_core::TenantId,
        run_id: i64,
        largest: usize,
    ) -> crate::Result<crate::RunAudit> {
        self.scoped(tenant, |db| crate::trust::sql::run_audit(db, tenant, run_id, largest))
    }

    fn audit_entries(&self, tenant: &valdrix_core::TenantId, run_id: i64) -> crate::Result<Vec<crate::AuditEntry>> {
        self.scoped(tenant, |db| crate::trust::sql::audit_entries(db, tenant, run_id))
    }

    fn periods(
        &self,
        tenant: &valdrix_core::TenantId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<Vec<crate::PeriodInfo>> {
        self.scoped(tenant, |db| crate::trust::sql::periods(db, tenant, now))
    }

    fn close_period(
        &mut self,
        tenant: &valdrix_core::TenantId,
        period: &str,
        actor: &str,
        reason: &str,
    ) -> crate::Result<crate::Closure> {
        self.scoped(tenant, |db| crate::trust::sql::close_period(db, tenant, period, actor, reason))
    }

    fn reopen_period(
        &mut self,
        tenant: &valdrix_core::TenantId,
        period: &str,
        actor: &str,
        reason: &str,
    ) -> crate::Result<()> {
        self.scoped(tenant, |db| crate::trust::sql::reopen_period(db, tenant, period, actor, reason))
    }

    fn audit_events(&self, tenant: &valdrix_core::TenantId) -> crate::Result<Vec<crate::AuditEvent>> {
        self.scoped(tenant, |db| crate::trust::sql::audit_events(db, tenant))
    }

    fn alerts(
        &self,
        tenant: &valdrix_core::TenantId,
        run_id: Option<i64>,
        before: Option<i64>,
        limit: usize,
    ) -> crate::Result<Vec<crate::RestatementAlert>> {
        self.scoped(tenant, |db| crate::trust::sql::alerts(db, tenant, run_id, before, limit))
    }

    fn freshness(
        &self,
        tenant: &valdrix_core::TenantId,
        now: chrono::DateTime<chrono::Utc>,
        policy: &crate::TrustPolicy,
    ) -> crate::Result<crate::Freshness> {
        self.scoped(tenant, |db| crate::trust::sql::freshness(db, tenant, now, policy))
    }

    fn create_api_key(
        &mut self,
        tenant: &valdrix_core::TenantId,
        key: &crate::keys::NewApiKey,
    ) -> crate::Result<crate::keys::ApiKeyInfo> {
        self.scoped(tenant, |db| crate::keys::sql::create(db, tenant, key))
    }

    fn api_key(
        &self,
        tenant: &valdrix_core::TenantId,
        key_id: &str,
    ) -> crate::Result<Option<(crate::keys::ApiKeyInfo, Vec<u8>)>> {
        self.scoped(tenant, |db| crate::keys::sql::get(db, tenant, key_id))
    }

    fn api_keys(&self, tenant: &valdrix_core::TenantId) -> crate::Result<Vec<crate::keys::ApiKeyInfo>> {
        self.scoped(tenant, |db| crate::keys::sql::list(db, tenant))
    }

    fn revoke_api_key(&mut self, tenant: &valdrix_core::TenantId, key_id: &str) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::keys::sql::revoke(db, tenant, key_id))
    }

    fn end_key_sessions(&mut self, tenant: &valdrix_core::TenantId, key_id: &str, at_ms: i64) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::keys::sql::end_sessions(db, tenant, key_id, at_ms))
    }

    fn save_allocation_rules(
        &mut self,
        tenant: &valdrix_core::TenantId,
        rules: &str,
        actor: &str,
        note: &str,
    ) -> crate::Result<crate::allocation::SavedRuleSet> {
        self.scoped(tenant, |db| crate::allocation::sql::save(db, tenant, rules, actor, note))
    }

    fn allocation_rules(
        &self,
        tenant: &valdrix_core::TenantId,
        version: Option<i64>,
    ) -> crate::Result<Option<crate::allocation::RuleSetVersion>> {
        self.scoped(tenant, |db| crate::allocation::sql::get(db, tenant, version))
    }

    fn allocation_rule_history(
        &self,
        tenant: &valdrix_core::TenantId,
    ) -> crate::Result<Vec<crate::allocation::RuleSetVersion>> {
        self.scoped(tenant, |db| crate::allocation::sql::history(db, tenant))
    }

    fn save_forecasts(
        &mut self,
        tenant: &valdrix_core::TenantId,
        forecasts: &[crate::forecasts::NewForecast],
    ) -> crate::Result<Vec<i64>> {
        self.scoped(tenant, |db| crate::forecasts::sql::save(db, tenant, forecasts))
    }

    fn forecasts(
        &self,
        tenant: &valdrix_core::TenantId,
        limit: usize,
    ) -> crate::Result<Vec<crate::forecasts::StoredForecast>> {
        self.scoped(tenant, |db| crate::forecasts::sql::list(db, tenant, limit))
    }

    fn mark_anomaly_expected(
        &mut self,
        tenant: &valdrix_core::TenantId,
        mark: &crate::forecasts::AnomalyFeedback,
    ) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::forecasts::sql::mark(db, tenant, mark))
    }

    fn unmark_anomaly_expected(
        &mut self,
        tenant: &valdrix_core::TenantId,
        series: &str,
        first_day: &str,
        last_day: &str,
    ) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::forecasts::sql::unmark(db, tenant, series, first_day, last_day))
    }

    fn anomaly_feedback(
        &self,
        tenant: &valdrix_core::TenantId,
    ) -> crate::Result<Vec<crate::forecasts::AnomalyFeedback>> {
        self.scoped(tenant, |db| crate::forecasts::sql::feedback(db, tenant))
    }

    fn save_anomaly_monitor(
        &mut self,
        tenant: &valdrix_core::TenantId,
        monitor: &crate::forecasts::AnomalyMonitor,
    ) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::forecasts::sql::save_monitor(db, tenant, monitor))
    }

    fn delete_anomaly_monitor(&mut self, tenant: &valdrix_core::TenantId, name: &str) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::forecasts::sql::delete_monitor(db, tenant, name))
    }

    fn anomaly_monitor(
        &self,
        tenant: &valdrix_core::TenantId,
        name: &str,
    ) -> crate::Result<Option<crate::forecasts::AnomalyMonitor>> {
        self.scoped(tenant, |db| crate::forecasts::sql::monitor(db, tenant, name))
    }

    fn anomaly_monitors(
        &self,
        tenant: &valdrix_core::TenantId,
    ) -> crate::Result<Vec<crate::forecasts::AnomalyMonitor>> {
        self.scoped(tenant, |db| crate::forecasts::sql::monitors(db, tenant))
    }

    fn anomaly_reports(
        &self,
        tenant: &valdrix_core::TenantId,
        monitor: &str,
    ) -> crate::Result<Vec<crate::forecasts::AnomalyReport>> {
        self.scoped(tenant, |db| crate::forecasts::sql::anomaly_reports(db, tenant, monitor))
    }

    fn report_anomalies(
        &mut self,
        tenant: &valdrix_core::TenantId,
        monitor: &str,
        reports: &[crate::forecasts::AnomalyReport],
    ) -> crate::Result<Vec<bool>> {
        self.scoped(tenant, |db| crate::forecasts::sql::report_anomalies(db, tenant, monitor, reports))
    }

    fn final_daily_costs(
        &self,
        tenant: &valdrix_core::TenantId,
        q: &crate::CostQuery,
        now: chrono::DateTime<chrono::Utc>,
        policy: &crate::TrustPolicy,
    ) -> crate::Result<Vec<crate::CostRow>> {
        self.scoped(tenant, |db| crate::trust::sql::final_daily_costs(db, tenant, q, now, policy))
    }

    fn record_zombie_scan(
        &mut self,
        tenant: &valdrix_core::TenantId,
        scan: &crate::zombies::NewZombieScan,
    ) -> crate::Result<crate::zombies::ZombieScanSummary> {
        self.scoped(tenant, |db| crate::zombies::sql::record_scan(db, tenant, scan))
    }

    fn zombie_scans(
        &self,
        tenant: &valdrix_core::TenantId,
        limit: usize,
    ) -> crate::Result<Vec<crate::zombies::ZombieScanSummary>> {
        self.scoped(tenant, |db| crate::zombies::sql::scans(db, tenant, limit))
    }

    fn zombies(
        &self,
        tenant: &valdrix_core::TenantId,
        filter: &crate::zombies::ZombieFilter,
    ) -> crate::Result<Vec<crate::zombies::StoredZombie>> {
        self.scoped(tenant, |db| crate::zombies::sql::list(db, tenant, filter))
    }

    fn set_zombie_ignored(
        &mut self,
        tenant: &valdrix_core::TenantId,
        key: &crate::zombies::ZombieKey,
        ignored: bool,
        actor: &str,
        reason: &str,
    ) -> crate::Result<bool> {
        self.scoped(tenant, |db| crate::zombies::sql::set_ignored(db, tenant, key, ignored, actor, reason))
    }

    fn zombie_history(
        &self,
        tenant: &valdrix_core::TenantId,
        key: &crate::zombies::ZombieKey,
    ) -> crate::Result<Vec<crate::zombies::ZombieEvent>> {
        self.scoped(tenant, |db| crate::zombies::sql::history(db, tenant, key))
    }

    fn create_remediation_plan(
        &mut self,
        tenant: &valdrix_core::TenantId,
        cloud: &str,
        account: &str,
        actor: &str,
        steps: &[crate::zombies::RemediationStep],
    ) -> crate::Result<crate::zombies::RemediationPlan> {
        self.scoped(tenant, |db| crate::zombies::sql::create_plan(db, tenant, cloud, account, actor, steps))
    }

    fn remediation_plan(
        &self,
        tenant: &valdrix_core::TenantId,
        plan_id: i64,
    ) -> crate::Result<Option<crate::zombies::RemediationPlan>> {
        self.scoped(tenant, |db| crate::zombies::sql::plan(db, tenant, plan_id))
    }

    fn remediation_plans(
        &self,
        tenant: &valdrix_core::TenantId,
        limit: usize,
    ) -> crate::Result<Vec<crate::zombies::RemediationPlan>> {
        self.scoped(tenant, |db| crate::zombies::sql::plans(db, tenant, limit))
    }

    fn remediation_event(
        &mut self,
        tenant: &valdrix_core::TenantId,
        plan_id: i64,
        event: &crate::zombies::RemediationEvent,
    ) -> crate::Result<crate::zombies::RemediationPlan> {
        self.scoped(tenant, |db| crate::zombies::sql::plan_event(db, tenant, plan_id, event))
    }

    fn remediation_log(
        &self,
        tenant: &valdrix_core::TenantId,
        plan_id: i64,
    ) -> crate::Result<Vec<crate::zombies::RemediationLogEntry>> {
        self.scoped(tenant, |db| crate::zombies::sql::plan_log(db, tenant, plan_id))
    }
}
