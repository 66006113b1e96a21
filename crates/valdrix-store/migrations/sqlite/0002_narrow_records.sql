-- Narrower cost records. A daily record repeated its stream's name (a path or URL) and 21
-- descriptive columns that are the same for every day of a resource: 800 bytes a record, most
-- of the time of a large ingest spent writing them. Streams become numbers, record ids 16 bytes
-- instead of 32 hex digits (in the table and both indexes), and descriptive columns move to
-- record_attrs, one row per distinct set within a run, which records point to.

CREATE TABLE streams (
    tenant_id  TEXT NOT NULL,
    stream_id  INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, stream_id),
    UNIQUE (tenant_id, stream)
);

INSERT INTO streams (tenant_id, stream_id, stream)
SELECT tenant_id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY stream), stream
FROM (SELECT DISTINCT tenant_id, stream FROM cost_records);

-- Descriptive FOCUS columns, from the first line of the records that point here.
CREATE TABLE record_attrs (
    tenant_id                    TEXT NOT NULL,
    run_id                       INTEGER NOT NULL REFERENCES ingest_runs(run_id),
    attrs_no                     INTEGER NOT NULL,
    billing_period_end           TEXT,
    billing_account_name         TEXT,
    sub_account_name             TEXT,
    service_category             TEXT,
    region_name                  TEXT,
    availability_zone            TEXT,
    resource_name                TEXT,
    resource_type                TEXT,
    sku_id                       TEXT,
    sku_price_id                 TEXT,
    charge_frequency             TEXT,
    charge_description           TEXT,
    commitment_discount_name     TEXT,
    commitment_discount_type     TEXT,
    commitment_discount_category TEXT,
    consumed_unit                TEXT,
    pricing_unit                 TEXT,
    invoice_id                   TEXT,
    publisher_name               TEXT,
    invoice_issuer_name          TEXT,
    pricing_currency             TEXT,
    PRIMARY KEY (tenant_id, run_id, attrs_no)
) WITHOUT ROWID;

-- Existing records keep one attribute row each, numbered in key order within their run.
INSERT INTO record_attrs
SELECT tenant_id, run_id,
       ROW_NUMBER() OVER (PARTITION BY tenant_id, run_id ORDER BY charge_date, record_id),
       billing_period_end, billing_account_name, sub_account_name, service_category, region_name,
       availability_zone, resource_name, resource_type, sku_id, sku_price_id, charge_frequency,
       charge_description, commitment_discount_name, commitment_discount_type,
       commitment_discount_category, consumed_unit, pricing_unit, invoice_id, publisher_name,
       invoice_issuer_name, pricing_currency
FROM cost_records;

CREATE TABLE cost_records_narrow (
    tenant_id                    TEXT NOT NULL,
    charge_date                  TEXT NOT NULL,   -- YYYY-MM-DD, UTC
    record_id                    BLOB NOT NULL,   -- stable hash of tenant, stream and grain (16 bytes)
    stream_id                    INTEGER NOT NULL,
    run_id                       INTEGER NOT NULL REFERENCES ingest_runs(run_id),
    attrs_no                     INTEGER NOT NULL, -- record_attrs (tenant_id, run_id, attrs_no)
    -- grain
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
    -- exact sums
    billed_cost                  TEXT NOT NULL,
    effective_cost               TEXT NOT NULL,
    list_cost                    TEXT NOT NULL,
    contracted_cost              TEXT NOT NULL,
    consumed_quantity            TEXT,
    pricing_quantity             TEXT,
    line_count                   INTEGER NOT NULL,
    -- Clustered by day: cost queries read date ranges, and ingests append in this order.
    PRIMARY KEY (tenant_id, charge_date, record_id)
) WITHOUT ROWID;

INSERT INTO cost_records_narrow
SELECT c.tenant_id, c.charge_date, unhex(c.record_id), s.stream_id, c.run_id,
       ROW_NUMBER() OVER (PARTITION BY c.tenant_id, c.run_id ORDER BY c.charge_date, c.record_id),
       c.provider, c.billing_account_id, c.sub_account_id, c.billing_period_start, c.service_name,
       c.region_id, c.resource_id, c.usage_type, c.charge_category, c.charge_class,
       c.pricing_category, c.commitment_discount_id, c.commitment_discount_status, c.tags,
       c.currency, c.billed_cost, c.effective_cost, c.list_cost, c.contracted_cost,
       c.consumed_quantity, c.pricing_quantity, c.line_count
FROM cost_records c JOIN streams s ON s.tenant_id = c.tenant_id AND s.stream = c.stream;

DROP TABLE cost_records;
ALTER TABLE cost_records_narrow RENAME TO cost_records;
CREATE UNIQUE INDEX cost_records_id ON cost_records (tenant_id, record_id);
CREATE INDEX cost_records_stream ON cost_records (tenant_id, stream_id);
