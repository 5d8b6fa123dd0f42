-- Rows and amount (in minor units) per UTC day and currency, kept by
-- PutTransactions in the same write transaction as the rows, so GET /volumes
-- reads a few hundred rows however many transactions are stored. day is
-- days since 1970-01-01 (floor of ts / 86400). Rows stored before this
-- migration are summed once here.
CREATE TABLE volumes (
	day          INTEGER NOT NULL,
	currency     TEXT    NOT NULL,
	rows         INTEGER NOT NULL,
	amount_minor INTEGER NOT NULL,
	PRIMARY KEY (day, currency)
) WITHOUT ROWID;

INSERT INTO volumes (day, currency, rows, amount_minor)
	SELECT (ts - ((ts % 86400) + 86400) % 86400) / 86400, currency, count(*), sum(amount_minor)
	FROM transactions GROUP BY 1, 2;
