-- A transactions shard. Each shard file holds the transactions whose id
-- hash routes to it (see DB), so an id is only ever in one shard. Rows are
-- appended in insertion order (seq); the two indexes that random ids and
-- random timestamps reach are kept small (integers only), so that the pages
-- a large file's ingest touches stay in the page cache. See the doc of
-- PutTransactions for the design.
--
-- A transaction is found by the 64-bit hash of its id (id_hash, unique). The
-- rare id whose hash another id has already is stored with a NULL id_hash
-- and found through transactions_unhashed. transaction_id is unique by
-- construction: PutTransactions inserts an id only where the unique hash
-- index says it is new or, on a hash conflict, after looking it up, in one
-- write transaction, and all writes of a shard go through one connection.
-- A UNIQUE index on the text would be a third, large, randomly written B-tree.
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
