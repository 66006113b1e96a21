-- API keys of the server: the SHA-256 of the secret, never the secret.
CREATE TABLE api_keys (
    tenant_id    TEXT NOT NULL REFERENCES tenants (tenant_id),
    key_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    secret_hash  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   TEXT,
    PRIMARY KEY (tenant_id, key_id)
);
