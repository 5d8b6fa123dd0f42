package sqlite_test

import (
	"bufio"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
)

const crashChildEnv = "TXPIPE_SQLITE_CRASH_CHILD"

var crashBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// crashBatch is batch i of the crash test's file: 1,000 rows in hour i.
func crashBatch(i int) []txpipe.Transaction {
	txs := make([]txpipe.Transaction, 1000)
	for j := range txs {
		txs[j] = txpipe.Transaction{
			ID: fmt.Sprintf("b%04d-%04d", i, j), Amount: "1.00", AmountMinor: 100, Currency: "USD",
			Timestamp: crashBase.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Millisecond),
			Merchant:  "m", Status: txpipe.TxCompleted, FileID: "crash-file",
		}
	}
	return txs
}

const crashProgressEvery = 10

// crashChild writes batches and, every crashProgressEvery batches, records
// the rows written in the file's status record, as the engine saves a run's
// progress, until it is killed.
func crashChild(t *testing.T, path string) {
	db := reopen(t, path)
	st := &txpipe.FileStatus{FileID: "crash-file", Status: txpipe.StatusProcessing, CreatedAt: crashBase, UpdatedAt: crashBase}
	if _, _, err := db.CreateStatus(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := db.PutTransactions(t.Context(), crashBatch(i)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%crashProgressEvery == 0 {
			st.Rows = int64(i+1) * 1000
			if err := db.UpdateStatus(t.Context(), st); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("progress %d\n", st.Rows)
		}
	}
}

// TestKilledWriterKeepsProgressOrder kills a process that writes
// transactions (group-committed) and records its progress, at a random
// moment, and checks the database: intact, and every row the recorded
// progress covers stored.
func TestKilledWriterKeepsProgressOrder(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	for round := range 1 {
		path := filepath.Join(t.TempDir(), "txpipe.db")
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKilledWriterKeepsProgressOrder$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		seen := 0
		for seen < 2+round && lines.Scan() {
			if strings.HasPrefix(lines.Text(), "progress ") {
				seen++
			}
		}
		time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if seen < 2+round {
			t.Fatalf("child ended after %d progress lines", seen)
		}

		// The main file and every transaction shard are intact.
		files, err := filepath.Glob(filepath.Join(filepath.Dir(path), "*.db"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 3 {
			t.Errorf("database files %v, want the main file and at least 2 shards", files)
		}
		for _, f := range files {
			raw, err := sql.Open("sqlite", f)
			if err != nil {
				t.Fatal(err)
			}
			var check string
			if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
				t.Fatalf("%s: integrity_check = %q, %v", f, check, err)
			}
			raw.Close()
		}

		db := reopen(t, path)
		st, err := db.GetStatus(t.Context(), "crash-file")
		if err != nil {
			t.Fatal(err)
		}
		batches := int(st.Rows / 1000)
		if batches < (2+round)*crashProgressEvery {
			t.Errorf("recorded progress %d rows, want at least %d", st.Rows, (2+round)*crashProgressEvery*1000)
		}
		for i := 0; i < batches; i++ {
			page, err := db.ListTransactions(t.Context(), txpipe.TxQuery{
				From: crashBase.Add(time.Duration(i) * time.Hour), To: crashBase.Add(time.Duration(i+1) * time.Hour), Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 1000 {
				t.Fatalf("batch %d covered by the recorded progress: %d rows stored, want 1000", i, len(page.Items))
			}
		}
		// The run resumes from its progress: writing the next batches again
		// counts them as this file's inserts, stored before the kill or not.
		for i := batches; i < batches+crashProgressEvery; i++ {
			c, err := db.PutTransactions(t.Context(), crashBatch(i))
			if err != nil {
				t.Fatal(err)
			}
			if c != (txpipe.Counts{Inserted: 1000}) {
				t.Errorf("resumed batch %d: counts %+v, want 1000 inserted", i, c)
			}
		}
		t.Logf("round %d: killed after %d recorded rows", round, st.Rows)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
