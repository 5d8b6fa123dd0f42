-- Column-mapping profiles by name, as YAML text (PUT /profiles/{name}).
CREATE TABLE profiles (
	name       TEXT NOT NULL PRIMARY KEY,
	yaml       TEXT NOT NULL,
	updated_at INTEGER NOT NULL -- Unix nanoseconds, UTC
) WITHOUT ROWID;
