package sqlite

// SetIDHash replaces the hash of transaction ids, so a test can make them
// collide. Use it on a new database only.
func SetIDHash(db *DB, f func(id string) int64) { db.idHash = f }
