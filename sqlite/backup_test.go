package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
)

// TestBackupWhileInUse copies a database in use (rows still in the group
// commit) and opens the copy: the same status records and rows.
func TestBackupWhileInUse(t *testing.T) {
	t.Parallel()
	db := reopen(t, filepath.Join(t.TempDir(), "txpipe.db"))
	defer db.Close()
	ctx := t.Context()
	for i := range 3 {
		if _, err := db.PutTransactions(ctx, fullBatch("bk", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := &txpipe.FileStatus{FileID: "bk", Status: txpipe.StatusCompleted, Rows: 3000, CreatedAt: fullBase, UpdatedAt: fullBase}
	if _, _, err := db.CreateStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	files, err := db.Backup(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("backup wrote %v, want the main file and 2 shards", files)
	}
	if _, err := db.Backup(ctx, dir); err == nil {
		t.Error("a second backup into the same dir succeeded, want an error")
	}
	// The original goes on.
	if _, err := db.PutTransactions(ctx, fullBatch("bk", 3)); err != nil {
		t.Fatal(err)
	}

	cp := reopen(t, filepath.Join(dir, "txpipe.db"))
	defer cp.Close()
	got, err := cp.GetStatus(ctx, "bk")
	if err != nil || got.Status != txpipe.StatusCompleted {
		t.Fatalf("status in the copy = %+v, %v", got, err)
	}
	if n := countRows(t, cp, fullBase, fullBase.Add(24*time.Hour)); n != 3000 {
		t.Errorf("%d rows in the copy, want 3000", n)
	}
}
