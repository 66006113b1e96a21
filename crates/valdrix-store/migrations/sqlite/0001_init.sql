-- Valdrix embedded store, schema version 1.
-- Money is canonical decimal text (SQLite would turn numeric money into floats); sums are done
-- in Rust with exact decimals. Every tenant-owned table carries tenant_id first in its keys.

CREATE TABLE tenants (
    tenant_id   TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE ingest_runs (
    run_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL REFERENCES tenants(tenant_id),
    stream               TEXT NOT NULL,
    source_uri           TEXT NOT NULL,
    files                TEXT NOT NULL,          -- JSON array of file names or URLs
    format               TEXT NOT NULL,
    checksum             TEXT NOT NULL,          -- SHA-256 over the files' bytes, in order
    assembly_id          TEXT,
    bytes                INTEGER NOT NULL,
    rows_read            INTEGER NOT NULL,
    lines                INTEGER NOT NULL,       -- normalised lines (a GCP row with credits gives several)
    records              INTEGER NOT NULL,       -- daily records written
    records_replaced     INTEGER NOT NULL,       -- records of the previous delivery of the stream
    billing_period_start TEXT,
    billing_period_end   TEXT,
    charge_date_min      TEXT,
    charge_date_max      TEXT,
    totals               TEXT NOT NULL,          -- JSON: currency -> {billed, effective, list, contracted}
    status               TEXT NOT NULL,
    started_at           TEXT NOT NULL,
    finished_at          TEXT NOT NULL,
    read_ms              INTEGER NOT NULL,
    write_ms             INTEGER NOT NULL
);
CREATE INDEX ingest_runs_tenant ON ingest_runs (tenant_id, run_id);
CREATE INDEX ingest_runs_checksum ON ingest_runs (tenant_id, checksum);
CREATE INDEX ingest_runs_stream ON ingest_runs (tenant_id, stream, run_id);

CREATE TABLE cost_records (
    tenant_id                    TEXT NOT NULL,
    charge_date                  TEXT NOT NULL,   -- YYYY-MM-DD, UTC
    record_id                    TEXT NOT NULL,   -- stable hash of tenant, stream and grain
    stream                       TEXT NOT NULL,
    run_id                       INTEGER NOT NULL REFERENCES ingest_runs(run_id),
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
    -- descriptive FOCUS columns, from the first line of the record
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
    -- Clustered by day: cost queries read date ranges, and ingests append in this order.
    PRIMARY KEY (tenant_id, charge_date, record_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX cost_records_id ON cost_records (tenant_id, record_id);
CREATE INDEX cost_records_stream ON cost_records (tenant_id, stream);
