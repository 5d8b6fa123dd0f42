-- Settings of the store that must not change once data is written, such as
-- the number of transaction shards (name 'transaction_shards').
CREATE TABLE settings (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
