-- Anomalies a kept monitor has reported (`valdrix anomalies --monitors --new`), so that a daily
-- run reports each one once: by monitor, series, currency and first day (an anomaly that grows
-- a day longer keeps its first day and is not reported again).
CREATE TABLE anomaly_reports (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id),
    monitor      TEXT NOT NULL,
    series       TEXT NOT NULL,
    currency     TEXT NOT NULL,
    first_day    TEXT NOT NULL,
    reported_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, monitor, series, currency, first_day)
);
