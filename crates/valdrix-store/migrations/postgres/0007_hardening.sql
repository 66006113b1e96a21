-- Signing out ends the key's sessions on the server (see the SQLite migration 0012). The
-- application role already updates api_keys (revocation) under its row-level security policy.
ALTER TABLE api_keys ADD COLUMN sessions_after_ms BIGINT;

-- Cost partitions only for plausible billing months: the application role could otherwise
-- create one for year 1 or 2999 (ingestion refuses such dates first; this is the database's
-- own bound). The range is 2000-01 to two years past the current month.
CREATE OR REPLACE FUNCTION valdrix_ensure_partition(month_start text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first date := date_trunc('month', month_start::date)::date;
    name  text := 'cost_records_' || to_char(first, 'YYYYMM');
BEGIN
    IF first < DATE '2000-01-01' OR first > (date_trunc('month', current_date) + interval '2 years')::date THEN
        RAISE EXCEPTION 'no cost partition for %: outside the plausible billing months (2000-01 to two years ahead)',
            to_char(first, 'YYYY-MM') USING ERRCODE = '22008';
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    -- Two ingests may race for the same month: one creates it, the other waits here.
    PERFORM pg_advisory_xact_lock(720572640, to_char(first, 'YYYYMM')::int);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF cost_records FOR VALUES FROM (%L) TO (%L)',
        name, to_char(first, 'YYYY-MM-DD'), to_char((first + interval '1 month')::date, 'YYYY-MM-DD'));
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %I USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant())',
        name);
END
$$;
