-- Allocation rule sets, per tenant, every version kept (see the SQLite migration 0008).
CREATE TABLE allocation_rule_sets (
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants (tenant_id),
    version     BIGINT NOT NULL,
    rules       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
ALTER TABLE allocation_rule_sets ENABLE ROW LEVEL SECURITY;
ALTER TABLE allocation_rule_sets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON allocation_rule_sets
    USING (tenant_id = valdrix_tenant()) WITH CHECK (tenant_id = valdrix_tenant());
-- Versions are kept: the application may add them, never change or remove them.
GRANT SELECT, INSERT ON allocation_rule_sets TO valdrix_app;
