-- Signing out of the dashboard ends the key's sessions on the server, not only in the browser:
-- a session cookie issued before this instant (Unix milliseconds) no longer signs in.
ALTER TABLE api_keys ADD COLUMN sessions_after_ms INTEGER;
