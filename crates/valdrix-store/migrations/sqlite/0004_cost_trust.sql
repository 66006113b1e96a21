-- Cost trust. A newer delivery of a billing period no longer replaces the stored records
-- silently: it is compared record by record with them, and every change is written to
-- record_audit. Records missing from the newer delivery stay, set to zero (line_count 0), so
-- that a record's current value is always its first value plus the deltas of its audit entries.

-- Each billing period of each stream: its deliveries, the charge days its records cover (what a
-- newer delivery is compared with) and whether the provider has invoiced it (final).
CREATE TABLE stream_periods (
    tenant_id      TEXT NOT NULL,
    stream_id      INTEGER NOT NULL,
    period_start   TEXT NOT NULL,    -- BillingPeriodStart, YYYY-MM-DD
    period_end     TEXT,             -- BillingPeriodEnd (exclusive), when the data gives it
    first_run_id   INTEGER NOT NULL, -- the delivery whose records were first stored
    current_run_id INTEGER NOT NULL, -- the newest delivery
    day_min        TEXT,             -- charge days of the stored records (removed ones included)
    day_max        TEXT,
    invoice_id     TEXT,             -- invoice id(s) of the newest delivery: present = invoiced
    final_run_id   INTEGER,          -- the first delivery that carried an invoice id
    PRIMARY KEY (tenant_id, stream_id, period_start)
);

-- Every delivery of every stream period, in order.
CREATE TABLE period_deliveries (
    tenant_id    TEXT NOT NULL,
    stream_id    INTEGER NOT NULL,
    period_start TEXT NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES ingest_runs(run_id),
    PRIMARY KEY (tenant_id, stream_id, period_start, run_id)
);

-- One entry per record a delivery changed. Amounts are canonical decimal text; delta = new - old.
CREATE TABLE record_audit (
    tenant_id     TEXT NOT NULL,
    audit_id      INTEGER NOT NULL,
    run_id        INTEGER NOT NULL REFERENCES ingest_runs(run_id), -- the delivery that changed it
    old_run_id    INTEGER,                                         -- where the old value came from
    series_no     INTEGER NOT NULL,
    charge_date   TEXT NOT NULL,
    reason        TEXT NOT NULL CHECK (reason IN ('restated', 'added_late', 'removed')),
    old_billed    TEXT NOT NULL,
    new_billed    TEXT NOT NULL,
    old_effective TEXT NOT NULL,
    new_effective TEXT NOT NULL,
    post_final    INTEGER NOT NULL, -- the old value was final (by age, invoice or close)
    PRIMARY KEY (tenant_id, audit_id)
);
CREATE INDEX record_audit_run ON record_audit (tenant_id, run_id);
CREATE INDEX record_audit_record ON record_audit (tenant_id, series_no, charge_date);

-- Billing periods (YYYY-MM) closed by hand: later deliveries are refused unless forced.
CREATE TABLE period_closes (
    tenant_id  TEXT NOT NULL,
    period     TEXT NOT NULL,
    closed_at  TEXT NOT NULL,
    closed_by  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, period)
);

-- What people did to periods: closes, reopens, deliveries forced into a closed period.
CREATE TABLE audit_events (
    tenant_id  TEXT NOT NULL,
    event_id   INTEGER NOT NULL,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('period_closed', 'period_reopened', 'forced_delivery')),
    period     TEXT NOT NULL,
    run_id     INTEGER,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

-- Restatements that moved an aggregate (day x billing account x service) past the thresholds.
CREATE TABLE restatement_alerts (
    tenant_id          TEXT NOT NULL,
    alert_id           INTEGER NOT NULL,
    run_id             INTEGER NOT NULL REFERENCES ingest_runs(run_id),
    created_at         TEXT NOT NULL,
    charge_date        TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    service_name       TEXT NOT NULL,
    currency           TEXT NOT NULL,
    metric             TEXT NOT NULL CHECK (metric IN ('billed', 'effective')),
    old_amount         TEXT NOT NULL,
    new_amount         TEXT NOT NULL,
    percent_threshold  TEXT NOT NULL,
    floor              TEXT NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE INDEX restatement_alerts_run ON restatement_alerts (tenant_id, run_id);

-- Stores written before this version: each stream period was delivered once, by the run that
-- wrote its records.
INSERT INTO stream_periods (tenant_id, stream_id, period_start, period_end, first_run_id, current_run_id,
                            day_min, day_max, invoice_id, final_run_id)
SELECT c.tenant_id, s.stream_id, s.billing_period_start, MAX(a.billing_period_end), MAX(c.run_id), MAX(c.run_id),
       MIN(c.charge_date), MAX(c.charge_date), MAX(NULLIF(a.invoice_id, '')),
       CASE WHEN MAX(NULLIF(a.invoice_id, '')) IS NULL THEN NULL ELSE MAX(c.run_id) END
FROM cost_records c
JOIN cost_series s ON s.tenant_id = c.tenant_id AND s.series_no = c.series_no
JOIN record_attrs a ON a.tenant_id = c.tenant_id AND a.run_id = c.run_id AND a.attrs_no = c.attrs_no
GROUP BY c.tenant_id, s.stream_id, s.billing_period_start;

INSERT INTO period_deliveries (tenant_id, stream_id, period_start, run_id)
SELECT tenant_id, stream_id, period_start, current_run_id FROM stream_periods;

-- What each delivery changed: JSON {added, added_late, restated, removed, post_final, alerts}.
ALTER TABLE ingest_runs ADD COLUMN changes TEXT NOT NULL DEFAULT '{}';
