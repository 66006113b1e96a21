-- Forecasts as they were made, kept to be compared with what happens as days become final:
-- what was forecast (`series`: `total` or `DIMENSION=VALUE`, in `currency`, read by `query`,
-- the spend query as JSON), the model, the last day trained on, the forecast days (JSON) and
-- the backtest's scores (JSON).
CREATE TABLE forecast_snapshots (
    tenant_id        TEXT NOT NULL REFERENCES tenants (tenant_id),
    id               INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    series           TEXT NOT NULL,
    query            TEXT NOT NULL,
    currency         TEXT NOT NULL,
    model            TEXT NOT NULL,
    trained_through  TEXT NOT NULL,
    points           TEXT NOT NULL,
    backtest         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Days of a monitored series a person marked as expected: never reported as anomalies, never
-- trained on.
CREATE TABLE anomaly_feedback (
    tenant_id   TEXT NOT NULL REFERENCES tenants (tenant_id),
    series      TEXT NOT NULL,
    first_day   TEXT NOT NULL,
    last_day    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, series, first_day, last_day)
);
