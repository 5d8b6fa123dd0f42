package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

// TestBackupRestore backs up a running server's data dir, restores it into
// a new one and serves it: the file's record and its transactions are
// there; restore refuses a data dir that has a database.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	url, key := startServer(t, dataDir)
	c := &httpapi.Client{Endpoint: url, APIKey: key}
	res, err := c.Upload(t.Context(), "b.csv", strings.NewReader("transaction_id,amount,currency,timestamp,merchant,status\nb1,1.00,USD,2026-01-02T03:04:05Z,Shop,completed\nb2,2.00,USD,2026-01-02T03:04:06Z,Shop,completed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context(), res.Record.FileID, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "bk")
	if code, out, errOut := localCLI(t, dataDir, "backup", backup); code != exitOK {
		t.Fatalf("backup = %d %q %q", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := localCLI(t, restored, "restore", backup); code != exitOK {
		t.Fatalf("restore = %d %q %q", code, out, errOut)
	}
	if code, _, _ := localCLI(t, restored, "restore", backup); code != exitUsage {
		t.Errorf("restore into a data dir with a database = %d, want %d", code, exitUsage)
	}
	url2, _ := startServer(t, restored)
	c2 := &httpapi.Client{Endpoint: url2, APIKey: key} // the keys come along
	st, err := c2.Status(t.Context(), res.Record.FileID)
	if err != nil || st.Status != txpipe.StatusCompleted || st.Inserted != 2 {
		t.Fatalf("restored status = %+v, %v; want COMPLETED with 2 inserted", st, err)
	}
	page, err := c2.Transactions(t.Context(), txpipe.TxQuery{From: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), Limit: 10})
	if err != nil || len(page.Items) != 2 {
		t.Errorf("restored transactions = %d, %v; want 2", len(page.Items), err)
	}
}
