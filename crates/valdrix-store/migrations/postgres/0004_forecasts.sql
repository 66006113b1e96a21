-- Forecasts as made, and anomalies marked as expected (see the SQLite migration 0009).
CREATE TABLE forecast_snapshots (
    tenant_id        TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
    id               BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    series           TEXT NOT NULL,
    query            TEXT NOT NULL,
    currency         TEXT NOT NULL,
    model            TEXT NOT NULL,
    trained_through  TEXT COLLATE "C" NOT NULL,
    points           TEXT NOT NULL,
    backtest         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE anomaly_feedback (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
    series      TEXT NOT NULL,
    first_day   TEXT COLLATE "C" NOT NULL,
    last_day    TEXT COLLATE "C" NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, series, first_day, last_day)
);
ALTER TABLE forecast_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE forecast_snapshots FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON forecast_snapshots
    USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant());
ALTER TABLE anomaly_feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE anomaly_feedback FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON anomaly_feedback
    USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant());
-- A forecast as made is kept as made; a mark can be taken back.
GRANT SELECT, INSERT ON forecast_snapshots TO valdrix_app;
GRANT SELECT, INSERT, DELETE ON anomaly_feedback TO valdrix_app;
