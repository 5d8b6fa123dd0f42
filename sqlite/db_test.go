package sqlite_test

import (
	"os"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/storetest"
	"github.com/txpipe/txpipe/workflow"
)

// openDB opens a new, empty database (a copy of one sqlite.Open made; the
// tests of a new data dir open it themselves), closed when t ends.
func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	return sqlitetest.Open(t)
}

func TestTransactionStore(t *testing.T) {
	t.Parallel()
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return openDB(t) })
}

func TestStatusStore(t *testing.T) {
	t.Parallel()
	storetest.TestStatusStore(t, func(t *testing.T) workflow.StatusStore { return openDB(t) })
}

// TestTransactionStoreHashCollisions runs the contract with a hash of ids
// that collides all the time, so every path of a collision is taken.
func TestTransactionStoreHashCollisions(t *testing.T) {
	t.Parallel()
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore {
		db := openDB(t)
		sqlite.SetIDHash(db, func(id string) int64 { return int64(len(id) % 3) })
		return db
	})
}

func TestFileList(t *testing.T) {
	t.Parallel()
	storetest.TestFileList(t, func(t *testing.T) storetest.FileLister { return openDB(t) })
}

func TestTransactionFilters(t *testing.T) {
	t.Parallel()
	storetest.TestTransactionFilters(t, func(t *testing.T) storetest.TransactionStore { return openDB(t) })
}

// TestMigrationNumbersUnique: two migrations with one number would see the
// second skipped (its version is already applied), silently.
func TestMigrationNumbersUnique(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"migrations/main", "migrations/transactions"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, e := range entries {
			n, _, _ := strings.Cut(e.Name(), "_")
			if prev, ok := seen[n]; ok {
				t.Errorf("%s: %s and %s have the same number", dir, prev, e.Name())
			}
			seen[n] = e.Name()
		}
	}
}
