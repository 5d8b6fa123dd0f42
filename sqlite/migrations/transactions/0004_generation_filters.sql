-- The filter and time range of each sealed generation (one older than the
-- newest), written in the transaction of the first batch of the next one,
-- so that opening a shard reads a row per generation instead of every id
-- hash (gens.go). A generation without a row here is read from its rows.
CREATE TABLE generations (
	gen    INTEGER PRIMARY KEY,
	min_ts INTEGER NOT NULL,
	max_ts INTEGER NOT NULL,
	filter BLOB    NOT NULL
);
