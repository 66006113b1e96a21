-- Cost series. Most records of a bill are the same resource, SKU and tags day after day: their
-- grain (about 140 bytes of text) was stored again for every day. A series holds that grain once;
-- a record is now its series, its day and its sums, about a third of the bytes, and an ingest
-- hashes one key per series instead of one per record. A record is identified by (series_key,
-- charge_date); series keys are computed by `valdrix_series_key`, the same function ingestion
-- uses (registered on every connection before migrations run).

CREATE TABLE cost_series (
    tenant_id                    TEXT NOT NULL,
    series_no                    INTEGER NOT NULL, -- numbered per tenant, in order of first ingest
    series_key                   BLOB NOT NULL,    -- stable hash of tenant, stream and grain but the day (16 bytes)
    stream_id                    INTEGER NOT NULL,
    provider                     TEXT NOT NULL,
    billing_account_id           TEXT NOT NULL,
    sub_account_id               TEXT,
    billing_period_start         TEXT NOT NULL,
    service_name                 TEXT NOT NULL,
    region_id                    TEXT,
    resource_id                  TEXT,
    usage_type                   TEXT,
    charge_category              TEXT NOT NULL,
    charge_class                 TEXT,
    pricing_category             TEXT,
    commitment_discount_id       TEXT,
    commitment_discount_status   TEXT,
    tags                         TEXT NOT NULL,   -- canonical JSON object, keys sorted
    currency                     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, series_no),
    UNIQUE (tenant_id, series_key)
);
CREATE INDEX cost_series_stream ON cost_series (tenant_id, stream_id);

INSERT INTO cost_series
SELECT c.tenant_id,
       ROW_NUMBER() OVER (PARTITION BY c.tenant_id ORDER BY c.stream_id, MIN(c.charge_date), MIN(c.record_id)),
       valdrix_series_key(c.tenant_id, s.stream, c.provider, c.billing_account_id, c.sub_account_id,
                          c.billing_period_start, c.service_name, c.region_id, c.resource_id, c.usage_type,
                          c.charge_category, c.charge_class, c.pricing_category, c.commitment_discount_id,
                          c.commitment_discount_status, c.tags, c.currency),
       c.stream_id, c.provider, c.billing_account_id, c.sub_account_id, c.billing_period_start,
       c.service_name, c.region_id, c.resource_id, c.usage_type, c.charge_category, c.charge_class,
       c.pricing_category, c.commitment_discount_id, c.commitment_discount_status, c.tags, c.currency
FROM cost_records c JOIN streams s ON s.tenant_id = c.tenant_id AND s.stream_id = c.stream_id
GROUP BY c.tenant_id, c.stream_id, c.provider, c.billing_account_id, c.sub_account_id, c.billing_period_start,
         c.service_name, c.region_id, c.resource_id, c.usage_type, c.charge_category, c.charge_class,
         c.pricing_category, c.commitment_discount_id, c.commitment_discount_status, c.tags, c.currency;

CREATE TABLE cost_records_series (
    tenant_id                    TEXT NOT NULL,
    charge_date                  TEXT NOT NULL,   -- YYYY-MM-DD, UTC
    series_no                    INTEGER NOT NULL, -- cost_series (tenant_id, series_no)
    run_id                       INTEGER NOT NULL REFERENCES ingest_runs(run_id),
    attrs_no                     INTEGER NOT NULL, -- record_attrs (tenant_id, run_id, attrs_no)
    -- exact sums
    billed_cost                  TEXT NOT NULL,
    effective_cost               TEXT NOT NULL,
    list_cost                    TEXT NOT NULL,
    contracted_cost              TEXT NOT NULL,
    consumed_quantity            TEXT,
    pricing_quantity             TEXT,
    line_count                   INTEGER NOT NULL,
    -- Clustered by day: cost queries read date ranges, and ingests append in this order.
    PRIMARY KEY (tenant_id, charge_date, series_no)
) WITHOUT ROWID;

INSERT INTO cost_records_series
SELECT c.tenant_id, c.charge_date, x.series_no, c.run_id, c.attrs_no, c.billed_cost, c.effective_cost,
       c.list_cost, c.contracted_cost, c.consumed_quantity, c.pricing_quantity, c.line_count
FROM cost_records c JOIN streams s ON s.tenant_id = c.tenant_id AND s.stream_id = c.stream_id
JOIN cost_series x ON x.tenant_id = c.tenant_id
 AND x.series_key = valdrix_series_key(c.tenant_id, s.stream, c.provider, c.billing_account_id, c.sub_account_id,
                          c.billing_period_start, c.service_name, c.region_id, c.resource_id, c.usage_type,
                          c.charge_category, c.charge_class, c.pricing_category, c.commitment_discount_id,
                          c.commitment_discount_status, c.tags, c.currency);

DROP TABLE cost_records;
ALTER TABLE cost_records_series RENAME TO cost_records;
-- A restated stream's records are found through the runs that wrote them.
CREATE INDEX cost_records_run ON cost_records (tenant_id, run_id);
