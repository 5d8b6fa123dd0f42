-- Transactions. Rows are appended in insertion order (seq); the two indexes
-- that random ids and random timestamps reach are kept small (integers
-- only), so that the pages a large file's ingest touches stay in the page
-- cache. See the doc of PutTransactions for the design.
--
-- A transaction is found by the 64-bit hash of its id (id_hash, unique). The
-- rare id whose hash another id has already is stored with a NULL id_hash
-- and found through transactions_unhashed. transaction_id is unique by
-- construction: PutTransactions inserts an id only where the unique hash
-- index says it is new or, on a hash conflict, after looking it up, in one
-- write transaction, and all writes go through one connection. A UNIQUE index
-- on the text would be a third, large, randomly written B-tree.
--
-- The columns have no NOT NULL constraints: only PutTransactions writes the
-- table, from Go values that cannot be NULL, and each constraint is a few
-- more VDBE instructions per row on the ingest path (measured: about 10%).
CREATE TABLE transactions (
	seq            INTEGER PRIMARY KEY,
	id_hash        INTEGER,        -- 64-bit FNV-1a of transaction_id; NULL on a collision
	transaction_id TEXT,
	amount         TEXT,
	amount_minor   INTEGER,
	currency       TEXT,
	ts             INTEGER, -- Unix seconds of the timestamp (UTC)
	ts_ns          INTEGER, -- nanoseconds within that second
	merchant       TEXT,
	status         TEXT,
	file_id        TEXT,    -- the file that last inserted or updated the row
	ingested_at    INTEGER, -- Unix nanoseconds
	outcome        INTEGER  -- what file_id's write did: 0 inserted, 1 updated
);

CREATE UNIQUE INDEX transactions_id_hash ON transactions (id_hash);
CREATE INDEX transactions_unhashed ON transactions (transaction_id) WHERE id_hash IS NULL;

-- Serves from <= timestamp < to, oldest first; ties are sorted by id.
CREATE INDEX transactions_ts ON transactions (ts, ts_ns);

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
