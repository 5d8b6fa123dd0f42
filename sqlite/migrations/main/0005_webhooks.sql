-- The durable webhook outbox: each subscriber URL with its signing secret,
-- and one delivery per run result and subscriber, written in the same
-- transaction as the run's final status.
CREATE TABLE webhooks (
	url        TEXT    NOT NULL PRIMARY KEY,
	secret     TEXT    NOT NULL, -- HMAC-SHA256 key of the signatures
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
	id         INTEGER NOT NULL PRIMARY KEY,
	url        TEXT    NOT NULL,
	file_id    TEXT    NOT NULL,
	body       TEXT    NOT NULL, -- the txpipe.Notification as JSON
	state      TEXT    NOT NULL, -- pending, delivered, dead
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER NOT NULL, -- Unix nanoseconds: due (pending) or leased until
	last_error TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
