-- Anomalies a kept monitor has reported (see the SQLite migration 0011).
CREATE TABLE anomaly_reports (
    tenant_id    TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
    monitor      TEXT COLLATE "C" NOT NULL,
    series       TEXT COLLATE "C" NOT NULL,
    currency     TEXT COLLATE "C" NOT NULL,
    first_day    TEXT COLLATE "C" NOT NULL,
    reported_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, monitor, series, currency, first_day)
);
ALTER TABLE anomaly_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE anomaly_reports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON anomaly_reports
    USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant());
GRANT SELECT, INSERT, DELETE ON anomaly_reports TO valdrix_app;
