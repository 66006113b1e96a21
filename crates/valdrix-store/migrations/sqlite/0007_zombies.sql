-- Zombie scans and the findings they made, per tenant, with each finding's history.
CREATE TABLE zombie_scans (
    tenant_id      TEXT NOT NULL REFERENCES tenants (tenant_id),
    scan_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud          TEXT NOT NULL,
    account        TEXT NOT NULL,
    evaluated_at   TEXT NOT NULL,
    scanned_at     TEXT NOT NULL,
    actor          TEXT NOT NULL,
    complete       INTEGER NOT NULL,
    -- every region's and rule's status, as JSON
    statuses       TEXT NOT NULL,
    findings       INTEGER NOT NULL DEFAULT 0,
    new_findings   INTEGER NOT NULL DEFAULT 0,
    still_present  INTEGER NOT NULL DEFAULT 0,
    resolved       INTEGER NOT NULL DEFAULT 0,
    ignored        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX zombie_scans_tenant ON zombie_scans (tenant_id, scan_id);

-- One row per (cloud, account, rule, region, resource): its latest evidence and its lifecycle.
-- state is open or resolved; an ignore (ignored_at) is a person's decision kept across both.
CREATE TABLE zombie_findings (
    tenant_id        TEXT NOT NULL REFERENCES tenants (tenant_id),
    cloud            TEXT NOT NULL,
    account          TEXT NOT NULL,
    rule             TEXT NOT NULL,
    region           TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    first_scan_id    INTEGER NOT NULL,
    first_seen_at    TEXT NOT NULL,
    last_scan_id     INTEGER NOT NULL,
    last_seen_at     TEXT NOT NULL,
    resolved_at      TEXT,
    ignored_at       TEXT,
    ignored_by       TEXT,
    ignore_reason    TEXT,
    monthly_cost     TEXT,
    monthly_savings  TEXT,
    currency         TEXT,
    cost_source      TEXT NOT NULL,
    finding          TEXT NOT NULL,
    PRIMARY KEY (tenant_id, cloud, account, rule, region, resource_id)
);

-- Transitions only (new, resolved, reopened, ignored, unignored): "still present" is a finding
-- whose last scan is the latest one and whose first is older.
CREATE TABLE zombie_events (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id),
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id      INTEGER,
    cloud        TEXT NOT NULL,
    account      TEXT NOT NULL,
    rule         TEXT NOT NULL,
    region       TEXT NOT NULL,
    resource_id  TEXT NOT NULL,
    event        TEXT NOT NULL CHECK (event IN ('new', 'resolved', 'reopened', 'ignored', 'unignored')),
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    detail       TEXT
);
CREATE INDEX zombie_events_finding ON zombie_events (tenant_id, cloud, account, rule, region, resource_id, event_id);

-- Remediation: a plan of steps made from findings, approved by a person, then executed (dry run
-- first); every step of it in the log.
CREATE TABLE remediation_plans (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id),
    plan_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud        TEXT NOT NULL,
    account      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('planned', 'approved', 'executed', 'failed', 'cancelled')),
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    approved_at  TEXT,
    approved_by  TEXT,
    finished_at  TEXT
);
CREATE INDEX remediation_plans_tenant ON remediation_plans (tenant_id, plan_id);

CREATE TABLE remediation_steps (
    tenant_id        TEXT NOT NULL REFERENCES tenants (tenant_id),
    plan_id          INTEGER NOT NULL,
    step_no          INTEGER NOT NULL,
    rule             TEXT NOT NULL,
    region           TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    action           TEXT NOT NULL,
    monthly_savings  TEXT,
    currency         TEXT,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'skipped')),
    detail           TEXT,
    PRIMARY KEY (tenant_id, plan_id, step_no)
);

CREATE TABLE remediation_log (
    tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id),
    entry_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id    INTEGER NOT NULL,
    step_no    INTEGER,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX remediation_log_plan ON remediation_log (tenant_id, plan_id, entry_id);
