package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Backup writes a consistent copy of the database into dir (created if
// needed, and holding no database yet), while it is in use: each file is
// copied with VACUUM INTO from a read transaction, the main file first, so
// every run the copy records as done has its rows in the copied shards
// (the shards only grow after the main file's records). It returns the
// paths written.
func (db *DB) Backup(ctx context.Context, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create backup dir: %w", err)
	}
	if err := db.Sync(ctx); err != nil {
		return nil, fmt.Errorf("commit before backup: %w", err)
	}
	var written []string
	for _, f := range append([]*file{db.main}, db.allShards()...) {
		dst := filepath.Join(dir, filepath.Base(f.path))
		if _, err := os.Stat(dst); err == nil {
			return written, fmt.Errorf("backup: %s exists already: back up into a new directory", dst)
		}
		if _, err := f.read.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
			return written, fmt.Errorf("back up %s to %s: %w", f.path, dst, translate(err))
		}
		written = append(written, dst)
	}
	return written, nil
}

// IsDatabaseFile reports whether name is one of a database's files (the
// main file or a shard, a tenant's included), as Backup writes them.
func IsDatabaseFile(name string) bool {
	return name == "txpipe.db" || (strings.HasPrefix(name, "txpipe-") && strings.Contains(name, "transactions-") && strings.HasSuffix(name, ".db"))
}
