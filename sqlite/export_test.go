package sqlite

// SetIDHash replaces the hash of transaction ids, so a test can make them
// collide. Use it on a new database only.
func SetIDHash(db *DB, f func(id string) int64) { db.idHash = f }

// SetGenerationBits makes every generation of db's shards 2^bits rows, so
// a test reaches several with few rows. Use it on a new database only.
func SetGenerationBits(db *DB, bits int) {
	for _, s := range db.shards {
		s.wmu.Lock()
		s.gens.bits = bits
		s.wmu.Unlock()
	}
}

// SetListArms makes db's transactions queries merge at most n generations
// each.
func SetListArms(db *DB, n int) {
	for _, s := range db.shards {
		s.arms = n
	}
}

// Generations returns the number of generations each shard of db has.
func Generations(db *DB) []int {
	var out []int
	for _, s := range db.shards {
		s.wmu.Lock()
		out = append(out, len(s.gens.list))
		s.wmu.Unlock()
	}
	return out
}

// SealedGenerations returns the number of generations of each shard of db
// whose filter is in its generations table.
func SealedGenerations(db *DB) ([]int, error) {
	var out []int
	for _, s := range db.shards {
		var n int
		if err := s.read.QueryRow(`SELECT count(*) FROM generations`).Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ListPlan returns SQLite's query plan of the transactions query merging
// two generations.
func ListPlan(db *DB) (string, error) {
	rows, err := db.shards[0].read.Query("EXPLAIN QUERY PLAN "+listSQL(2), 0, 0, 0, 1, 0, 0, 0, "", "", 100, 0, 1)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		plan += detail + "\n"
	}
	return plan, rows.Err()
}

// VolumesPlan returns SQLite's query plan of a shard's volumes query.
func VolumesPlan(db *DB) (string, error) {
	rows, err := db.shards[0].read.Query("EXPLAIN QUERY PLAN SELECT day, currency, rows, amount_minor FROM volumes WHERE day >= ? AND day < ? AND rows != 0", 0, 100)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", err
		}
		plan += detail + "\n"
	}
	return plan, rows.Err()
}
