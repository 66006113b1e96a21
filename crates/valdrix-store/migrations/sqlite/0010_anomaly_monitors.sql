-- Anomaly monitors: what a tenant checks for anomalies, and how, kept under a name so that a
-- daily run (`valdrix anomalies --monitors`) and the API check the same thing every day. The
-- parameters are those of `valdrix anomalies` and `GET /api/v1/anomalies`: the dimension whose
-- values are monitored apart (`by_dimension`, empty for the total alone), the amount, how many
-- values are kept apart, the money floor, the percentage, the interval level (percent) and the
-- direction. Numbers are kept as the text they were given in.
CREATE TABLE anomaly_monitors (
    tenant_id     TEXT NOT NULL REFERENCES tenants (tenant_id),
    name          TEXT NOT NULL,
    by_dimension  TEXT NOT NULL,
    metric        TEXT NOT NULL,
    top_values    INTEGER NOT NULL,
    min_impact    TEXT NOT NULL,
    min_percent   TEXT NOT NULL,
    level         TEXT NOT NULL,
    direction     TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
