//! Prometheus metrics at `/metrics` (prefix `valdrix_`): requests by route and status with a
//! latency histogram, statement timeouts, the database pool, statements refused for want of a
//! tenant, and what the store counts itself (restatement alerts, records written).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::pool::StorePool;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (`None` if another recorder was
/// installed first).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
                )
                .ok()?;
            builder.install_recorder().ok()
        })
        .as_ref()
}

/// Middleware: counts and times every request by method, route template and status.
pub async fn track(req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("valdrix_http_requests_total", &labels).increment(1);
    metrics::histogram!("valdrix_http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

/// The metrics page: gauges read now, then everything recorded.
pub fn render(stores: &StorePool) -> String {
    let usage = stores.usage();
    metrics::gauge!("valdrix_db_pool_connections_in_use").set(usage.in_use as f64);
    metrics::gauge!("valdrix_db_pool_connections_max").set(usage.size as f64);
    metrics::counter!("valdrix_tenantless_queries_total").absolute(valdrix_store::postgres::tenantless_queries());
    // Present from the start, so that a dashboard shows 0 rather than nothing.
    metrics::counter!("valdrix_statement_timeouts_total").increment(0);
    metrics::counter!("valdrix_restatement_alerts_total").increment(0);
    metrics::counter!("valdrix_rate_limited_requests_total").increment(0);
    handle().map(|h| h.render()).unwrap_or_default()
}
