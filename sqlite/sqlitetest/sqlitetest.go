// Package sqlitetest gives tests an empty, migrated txpipe database quickly:
// sqlite.Open creates one per test process, and each test gets a copy of its
// files. Opening a copy skips the migrations and their syncs, about a tenth
// of the time of a new database; the tests of creating and migrating a
// database call sqlite.Open on an empty directory themselves.
package sqlitetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/txpipe/txpipe/sqlite"
)

// template holds the files of a new, closed database by name.
var template = sync.OnceValues(newTemplate)

// newTemplate creates a database with sqlite.Open, closes it and reads its
// files.
func newTemplate() (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "sqlitetest-")
	if err != nil {
		return nil, fmt.Errorf("template directory: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "txpipe.db"), nil)
	if err != nil {
		return nil, fmt.Errorf("template database: %w", err)
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("close the template database: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the template database: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read the template database: %w", err)
		}
		files[e.Name()] = b
	}
	return files, nil
}

// Seed writes an empty, migrated database into dir, as sqlite.Open leaves a
// new one, and returns the path to open it by (dir/txpipe.db).
func Seed(t testing.TB, dir string) string {
	t.Helper()
	files, err := template()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatalf("seed %s: %v", dir, err)
		}
	}
	return filepath.Join(dir, "txpipe.db")
}

// Open opens an empty, migrated database in a new temporary directory; it
// is closed when t ends, and the test fails if closing fails.
func Open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), Seed(t, t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close the database: %v", err)
		}
	})
	return db
}
