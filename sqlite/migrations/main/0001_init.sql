-- The main database: file status records, the local engine's jobs, dead
-- letters and API keys. Transactions are in the shard files (see
-- migrations/transactions); databases made before the shards have an empty
-- transactions table here, unused.

CREATE TABLE file_status (
	file_id    TEXT    NOT NULL PRIMARY KEY,
	status     TEXT    NOT NULL,
	record     TEXT    NOT NULL, -- the txpipe.FileStatus as JSON
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE TABLE jobs (
	file_id     TEXT    NOT NULL PRIMARY KEY,
	phase       TEXT    NOT NULL,
	step        INTEGER NOT NULL,
	attempt     INTEGER NOT NULL,
	state       TEXT    NOT NULL, -- workflow.RunState as JSON
	due_at      INTEGER NOT NULL, -- Unix nanoseconds
	leased_until INTEGER NOT NULL DEFAULT 0 -- Unix nanoseconds; 0 when not held
);
CREATE INDEX jobs_due ON jobs (due_at);

CREATE TABLE dead_letters (
	file_id TEXT    NOT NULL PRIMARY KEY,
	state   TEXT    NOT NULL, -- workflow.RunState as JSON
	failure TEXT    NOT NULL,
	sent_at INTEGER NOT NULL  -- Unix nanoseconds
);

CREATE TABLE api_keys (
	id              TEXT    NOT NULL PRIMARY KEY,
	name            TEXT    NOT NULL,
	hash            TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the secret
	quota_per_day   INTEGER NOT NULL,
	rate_per_second REAL    NOT NULL,
	burst           INTEGER NOT NULL,
	created_at      INTEGER NOT NULL
);

CREATE TABLE api_key_usage (
	key_id   TEXT    NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	day      TEXT    NOT NULL, -- UTC, 2006-01-02
	requests INTEGER NOT NULL,
	PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
