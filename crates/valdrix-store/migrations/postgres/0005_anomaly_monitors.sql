-- Anomaly monitors (see the SQLite migration 0010).
CREATE TABLE anomaly_monitors (
    tenant_id     TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
    name          TEXT COLLATE "C" NOT NULL,
    by_dimension  TEXT NOT NULL,
    metric        TEXT NOT NULL,
    top_values    BIGINT NOT NULL,
    min_impact    TEXT NOT NULL,
    min_percent   TEXT NOT NULL,
    level         TEXT NOT NULL,
    direction     TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
ALTER TABLE anomaly_monitors ENABLE ROW LEVEL SECURITY;
ALTER TABLE anomaly_monitors FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON anomaly_monitors
    USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON anomaly_monitors TO valdrix_app;
