-- Allocation rule sets, per tenant, every version kept: the rules (canonical JSON, as
-- `valdrix allocate rules export` writes them), who saved them, when and why.
CREATE TABLE allocation_rule_sets (
    tenant_id   TEXT NOT NULL REFERENCES tenants (tenant_id),
    version     INTEGER NOT NULL,
    rules       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    note        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
