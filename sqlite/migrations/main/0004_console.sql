-- The web console: the file list (newest first), key roles and revocation.
CREATE INDEX file_status_created ON file_status (created_at, file_id);

ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT '';      -- '' or 'admin'
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0; -- Unix nanoseconds; 0 while valid
