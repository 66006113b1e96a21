-- Daily totals per common dimension: one row per tenant, charge day, dimension ('total' for the
-- day's total, or provider, account, sub_account, service, region, charge_category), value ('' for
-- none) and currency, with the four money sums (canonical decimal text) and the number of live
-- records. Kept exact by each delivery's deltas; dashboards and most cost questions read it
-- instead of the records. Filled from the records by the store right after this migration.
CREATE TABLE daily_totals (
    tenant_id        TEXT NOT NULL,
    charge_date      TEXT NOT NULL,
    dimension        TEXT NOT NULL,
    value            TEXT NOT NULL,
    currency         TEXT NOT NULL,
    billed_cost      TEXT NOT NULL,
    effective_cost   TEXT NOT NULL,
    list_cost        TEXT NOT NULL,
    contracted_cost  TEXT NOT NULL,
    records          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, dimension, charge_date, value, currency)
) WITHOUT ROWID;
CREATE INDEX daily_totals_day ON daily_totals (tenant_id, charge_date);
