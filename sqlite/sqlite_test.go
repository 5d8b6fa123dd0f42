package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
)

func reopen(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return db
}

func TestMigrationsAppliedOnceAndDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	db := reopen(t, path)
	v, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("schema version %d after Open, want >= 1", v)
	}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	c, err := db.PutTransactions(t.Context(), []txpipe.Transaction{{
		ID: "a", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: ts, Merchant: "m", Status: "completed", FileID: "f",
	}})
	if err != nil || c.Inserted != 1 {
		t.Fatalf("PutTransactions = %+v, %v", c, err)
	}
	// Close commits the group-committed batch.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = reopen(t, path)
	defer db.Close()
	v2, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v2 != v {
		t.Errorf("schema version %d after reopen, want %d", v2, v)
	}
	page, err := db.ListTransactions(t.Context(), txpipe.TxQuery{From: ts, To: ts.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != "a" || !page.Items[0].Timestamp.Equal(ts) {
		t.Errorf("after reopen: %+v, want transaction a at %v", page.Items, ts)
	}
	// The same file writing it again after the reopen (a resumed run)
	// reports the first outcome.
	c, err = db.PutTransactions(t.Context(), []txpipe.Transaction{{
		ID: "a", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: ts, Merchant: "m", Status: "completed", FileID: "f",
	}})
	if err != nil || c != (txpipe.Counts{Inserted: 1}) {
		t.Errorf("PutTransactions again = %+v, %v; want 1 inserted", c, err)
	}
}

func TestGroupCommitVisibleToOtherConnections(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	db := reopen(t, path)
	defer db.Close()
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if _, err := db.PutTransactions(t.Context(), []txpipe.Transaction{{
		ID: "a", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: ts, Merchant: "m", Status: "completed", FileID: "f",
	}}); err != nil {
		t.Fatal(err)
	}
	// A status update is durable when it returns, and so is every
	// transaction written before it: another process sees both.
	st := &txpipe.FileStatus{FileID: "f", Status: txpipe.StatusCompleted, CreatedAt: ts, UpdatedAt: ts}
	if _, _, err := db.CreateStatus(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	other := reopen(t, path)
	defer other.Close()
	page, err := other.ListTransactions(t.Context(), txpipe.TxQuery{From: ts, To: ts.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Errorf("another connection lists %d transactions, want 1", len(page.Items))
	}
}

func job(fileID string, due time.Time) workflow.Job {
	return workflow.Job{
		FileID: fileID, Phase: workflow.PhaseRun, Step: 0, DueAt: due,
		State: workflow.RunState{FileID: fileID, FileKey: "abc", Filename: fileID + ".csv", Rows: 10},
	}
}

func TestJobQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openDB(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lease := time.Minute

	if j, err := db.ClaimJob(ctx, t0, lease); err != nil || j != nil {
		t.Fatalf("ClaimJob on an empty queue = %+v, %v; want nil, nil", j, err)
	}
	if err := db.EnqueueJob(ctx, job("b", t0.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueJob(ctx, job("a", t0)); err != nil {
		t.Fatal(err)
	}
	// Enqueueing a file's job again keeps the first.
	again := job("a", t0.Add(time.Hour))
	again.Step = 5
	if err := db.EnqueueJob(ctx, again); err != nil {
		t.Fatal(err)
	}
	if n, err := db.JobCount(ctx); err != nil || n != 2 {
		t.Fatalf("JobCount = %d, %v; want 2", n, err)
	}

	// Only a is due at t0.
	j, err := db.ClaimJob(ctx, t0, lease)
	if err != nil {
		t.Fatal(err)
	}
	if j == nil || j.FileID != "a" || j.Step != 0 || j.State.Filename != "a.csv" || !j.DueAt.Equal(t0) {
		t.Fatalf("ClaimJob at t0 = %+v, want job a at step 0", j)
	}
	if j2, err := db.ClaimJob(ctx, t0, lease); err != nil || j2 != nil {
		t.Fatalf("second ClaimJob at t0 = %+v, %v; want nil (a is held, b not due)", j2, err)
	}
	// At t0+2s, b is due; a is still held.
	j2, err := db.ClaimJob(ctx, t0.Add(2*time.Second), lease)
	if err != nil || j2 == nil || j2.FileID != "b" {
		t.Fatalf("ClaimJob at t0+2s = %+v, %v; want b", j2, err)
	}
	j2.DueAt = t0.Add(time.Hour)
	if err := db.SaveJob(ctx, *j2); err != nil {
		t.Fatal(err)
	}
	// a's worker crashed: its lease runs out and a is claimed again.
	j3, err := db.ClaimJob(ctx, t0.Add(lease+time.Second), lease)
	if err != nil || j3 == nil || j3.FileID != "a" {
		t.Fatalf("ClaimJob after a's lease ran out = %+v, %v; want a", j3, err)
	}

	// SaveJob records progress and releases the job at its due time.
	j3.Step, j3.Attempt = 2, 1
	j3.State.Counts = &txpipe.Counts{Inserted: 7, Updated: 2, Unchanged: 1}
	j3.DueAt = t0.Add(10 * time.Minute)
	if err := db.SaveJob(ctx, *j3); err != nil {
		t.Fatal(err)
	}
	if j4, err := db.ClaimJob(ctx, t0.Add(5*time.Minute), lease); err != nil || j4 != nil {
		t.Fatalf("ClaimJob before a's new due time = %+v, %v; want nil", j4, err)
	}
	j4, err := db.ClaimJob(ctx, t0.Add(10*time.Minute), lease)
	if err != nil || j4 == nil || j4.FileID != "a" || j4.Step != 2 || j4.Attempt != 1 ||
		j4.State.Counts == nil || *j4.State.Counts != *j3.State.Counts {
		t.Fatalf("ClaimJob after SaveJob = %+v, %v; want a at step 2 with its counts", j4, err)
	}

	// ReleaseLeases frees every held job at once (a restart).
	if err := db.ReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	j5, err := db.ClaimJob(ctx, t0.Add(10*time.Minute), lease)
	if err != nil || j5 == nil || j5.FileID != "a" {
		t.Fatalf("ClaimJob after ReleaseLeases = %+v, %v; want a", j5, err)
	}

	if err := db.DeleteJob(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteJob(ctx, "a"); err != nil {
		t.Errorf("DeleteJob of a deleted job: %v", err)
	}
	if err := db.SaveJob(ctx, *j4); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("SaveJob of a deleted job: %v, want ENOTFOUND", err)
	}
	if n, err := db.JobCount(ctx); err != nil || n != 1 {
		t.Errorf("JobCount = %d, %v; want 1", n, err)
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := openDB(t)
	if letters, err := db.ListDeadLetters(ctx); err != nil || len(letters) != 0 {
		t.Fatalf("ListDeadLetters on an empty queue = %+v, %v", letters, err)
	}
	for _, id := range []string{"f1", "f2"} {
		st := workflow.RunState{FileID: id, FileKey: "abc", Rows: 3,
			Error: &workflow.StepError{Error: workflow.TransientErrorName, Cause: "transform " + id + ": database is locked"}}
		if err := db.SendDeadLetter(ctx, st); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // distinct SentAt
	}
	letters, err := db.ListDeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 || letters[0].FileID != "f1" || letters[1].FileID != "f2" {
		t.Fatalf("ListDeadLetters = %+v, want f1 then f2", letters)
	}
	if got, want := letters[0].Failure, "transform f1: database is locked"; got != want {
		t.Errorf("Failure = %q, want %q", got, want)
	}
	if letters[0].State.Rows != 3 || letters[0].State.Error == nil || letters[0].State.Error.Error != workflow.TransientErrorName {
		t.Errorf("State = %+v, want the run state sent", letters[0].State)
	}
	if letters[0].SentAt.IsZero() || letters[0].SentAt.Location() != time.UTC {
		t.Errorf("SentAt = %v, want a UTC time", letters[0].SentAt)
	}
	if n, err := db.DeadLetterCount(ctx); err != nil || n != 2 {
		t.Errorf("DeadLetterCount = %d, %v; want 2", n, err)
	}
	d, err := db.GetDeadLetter(ctx, "f2")
	if err != nil || d.FileID != "f2" {
		t.Errorf("GetDeadLetter(f2) = %+v, %v", d, err)
	}
	if err := db.RemoveDeadLetter(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveDeadLetter(ctx, "f1"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("RemoveDeadLetter twice: %v, want ENOTFOUND", err)
	}
	if _, err := db.GetDeadLetter(ctx, "f1"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("GetDeadLetter of a removed letter: %v, want ENOTFOUND", err)
	}
	letters, err = db.ListDeadLetters(ctx)
	if err != nil || len(letters) != 1 || letters[0].FileID != "f2" {
		t.Errorf("ListDeadLetters after removing f1 = %+v, %v", letters, err)
	}
}

func TestAPIKeysAndUsageSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	db := reopen(t, path)
	if n, err := db.KeyCount(ctx); err != nil || n != 0 {
		t.Fatalf("KeyCount of a new database = %d, %v", n, err)
	}
	h := sha256.Sum256([]byte("secret"))
	hash := hex.EncodeToString(h[:])
	if err := db.CreateKey(ctx, txpipe.APIKey{Name: "first", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateKey(ctx, txpipe.APIKey{Name: "same secret", Hash: hash}); txpipe.ErrorCode(err) != txpipe.ECONFLICT {
		t.Errorf("CreateKey with a hash taken: %v, want ECONFLICT", err)
	}
	other := sha256.Sum256([]byte("other secret"))
	if err := db.CreateKey(ctx, txpipe.APIKey{Name: "first", Hash: hex.EncodeToString(other[:])}); txpipe.ErrorCode(err) != txpipe.ECONFLICT ||
		!strings.Contains(err.Error(), `"first"`) {
		t.Errorf("CreateKey with a name taken: %v, want ECONFLICT naming it", err)
	}
	if n, _ := db.KeyCount(ctx); n != 1 {
		t.Errorf("KeyCount after refused keys = %d, want 1", n)
	}
	if err := db.CreateKey(ctx, txpipe.APIKey{Name: "bad", Hash: "not-hex"}); txpipe.ErrorCode(err) != txpipe.EINVALID {
		t.Errorf("CreateKey with a bad hash: %v, want EINVALID", err)
	}
	k, err := db.LookupKey(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == "" || k.Name != "first" || k.QuotaPerDay != 1000 || k.RatePerSecond != 10 || k.Burst != 20 || k.CreatedAt.IsZero() {
		t.Errorf("LookupKey = %+v, want first with the default plan", k)
	}
	if _, err := db.LookupKey(ctx, hex.EncodeToString(make([]byte, 32))); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("LookupKey of an unknown hash: %v, want ENOTFOUND", err)
	}
	if n, err := db.RequestCount(ctx, k.ID, "2026-11-25"); err != nil || n != 0 {
		t.Fatalf("RequestCount before any save = %d, %v; want 0", n, err)
	}
	save := func(usage ...txpipe.KeyUsage) {
		t.Helper()
		if err := db.SaveRequestCounts(ctx, usage); err != nil {
			t.Fatal(err)
		}
	}
	save(txpipe.KeyUsage{KeyID: k.ID, Day: "2026-11-25", Requests: 3}, txpipe.KeyUsage{KeyID: k.ID, Day: "2026-11-26", Requests: 1},
		txpipe.KeyUsage{KeyID: "key_unknown", Day: "2026-11-25", Requests: 9})
	save(txpipe.KeyUsage{KeyID: k.ID, Day: "2026-11-25", Requests: 2}) // a late, lower checkpoint
	if n, err := db.RequestCount(ctx, k.ID, "2026-11-25"); err != nil || n != 3 {
		t.Errorf("RequestCount = %d, %v; want 3 (never lowered)", n, err)
	}
	if n, err := db.RequestCount(ctx, k.ID, "2026-11-26"); err != nil || n != 1 {
		t.Errorf("RequestCount on the next day = %d, %v; want 1", n, err)
	}
	if n, err := db.RequestCount(ctx, "key_unknown", "2026-11-25"); err != nil || n != 0 {
		t.Errorf("RequestCount of an unknown key = %d, %v; want 0 (dropped)", n, err)
	}
	if err := db.SaveRequestCounts(ctx, []txpipe.KeyUsage{{KeyID: k.ID, Day: "25/11/2026", Requests: 1}}); txpipe.ErrorCode(err) != txpipe.EINVALID {
		t.Errorf("SaveRequestCounts with a bad day: %v, want EINVALID", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = reopen(t, path)
	defer db.Close()
	if n, err := db.KeyCount(ctx); err != nil || n != 1 {
		t.Errorf("KeyCount after reopen = %d, %v; want 1", n, err)
	}
	if n, err := db.RequestCount(ctx, k.ID, "2026-11-25"); err != nil || n != 3 {
		t.Errorf("RequestCount after reopen = %d, %v; want 3", n, err)
	}
}

func TestListUsesTimeIndex(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	plan, err := sqlite.ListPlan(db)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "USING INDEX transactions_gen_ts (gen=? AND ") || !strings.Contains(plan, "MERGE (UNION ALL)") ||
		strings.Contains(plan, "SCAN") || strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
		t.Errorf("transactions query plan:\n%s\nwant searches of index transactions_gen_ts by generation, merged in order", plan)
	}
	t.Logf("plan:\n%s", plan)
}

// TestListMergesShards pages through full pages of transactions spread
// evenly over the shards and all in one shard (every id hashing alike):
// each row is listed once, in order.
func TestListMergesShards(t *testing.T) {
	t.Parallel()
	for _, skewed := range []bool{false, true} {
		t.Run(map[bool]string{false: "even", true: "one shard"}[skewed], func(t *testing.T) {
			db := openDB(t)
			if skewed {
				sqlite.SetIDHash(db, func(string) int64 { return 7 })
			}
			base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
			const n = 2500
			for start := 0; start < n; start += 1000 {
				var txs []txpipe.Transaction
				for i := start; i < min(n, start+1000); i++ {
					txs = append(txs, txpipe.Transaction{
						ID: fmt.Sprintf("t%05d", i), Amount: "1.00", AmountMinor: 100, Currency: "USD",
						// Pairs of rows share a timestamp, so ties are ordered by id.
						Timestamp: base.Add(time.Duration(n-i/2) * time.Second), Merchant: "m", Status: txpipe.TxCompleted, FileID: "f",
					})
				}
				if c, err := db.PutTransactions(t.Context(), txs); err != nil || c.Inserted != int64(len(txs)) {
					t.Fatalf("PutTransactions = %+v, %v", c, err)
				}
			}
			q := txpipe.TxQuery{From: base, To: base.Add(time.Hour), Limit: 1000}
			var got []txpipe.Transaction
			for pages := 0; ; pages++ {
				if pages > 3 {
					t.Fatal("more than 3 pages")
				}
				page, err := db.ListTransactions(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page.Items...)
				if page.NextCursor == "" {
					break
				}
				if len(page.Items) != 1000 {
					t.Fatalf("page of %d items with a next cursor, want 1000", len(page.Items))
				}
				q.Cursor = page.NextCursor
			}
			if len(got) != n {
				t.Fatalf("listed %d transactions, want %d", len(got), n)
			}
			seen := map[string]bool{}
			for i, tx := range got {
				if seen[tx.ID] {
					t.Fatalf("transaction %s listed twice", tx.ID)
				}
				seen[tx.ID] = true
				if i > 0 {
					prev := got[i-1]
					if tx.Timestamp.Before(prev.Timestamp) || (tx.Timestamp.Equal(prev.Timestamp) && tx.ID < prev.ID) {
						t.Fatalf("item %d (%s at %v) sorts before item %d (%s at %v)", i, tx.ID, tx.Timestamp, i-1, prev.ID, prev.Timestamp)
					}
				}
			}
		})
	}
}

// UpdateProgress replaces a PROCESSING record and refuses any other, as
// UpdateStatus(st, PROCESSING) does; rows written before it are committed by
// the next status write that is not progress.
func TestUpdateProgress(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ctx := t.Context()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &txpipe.FileStatus{FileID: "f1", Status: txpipe.StatusProcessing, CreatedAt: now, UpdatedAt: now}
	if _, _, err := db.CreateStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.Inserted = 5
	if err := db.UpdateProgress(ctx, st); err != nil {
		t.Fatalf("UpdateProgress of a PROCESSING record: %v", err)
	}
	got, err := db.GetStatus(ctx, "f1")
	if err != nil || got.Inserted != 5 {
		t.Fatalf("GetStatus = %+v, %v; want 5 inserted", got, err)
	}
	st.Status = txpipe.StatusCompleted
	if err := db.UpdateStatus(ctx, st, txpipe.StatusProcessing); err != nil {
		t.Fatal(err)
	}
	st.Status, st.Inserted = txpipe.StatusProcessing, 7
	if err := db.UpdateProgress(ctx, st); txpipe.ErrorCode(err) != txpipe.ECONFLICT {
		t.Fatalf("UpdateProgress of a COMPLETED record = %v, want ECONFLICT", err)
	}
	if got, _ := db.GetStatus(ctx, "f1"); got.Status != txpipe.StatusCompleted || got.Inserted != 5 {
		t.Fatalf("record after a refused progress = %s with %d inserted, want COMPLETED with 5", got.Status, got.Inserted)
	}
}

// TestSettleRowsCopiesTheLog: after SettleRows a file's committed rows are
// in the shards' database files themselves, not only in their write-ahead
// logs: a copy of the files without their logs holds every row.
func TestSettleRowsCopiesTheLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "txpipe.db")
	db := reopen(t, path)
	defer db.Close()
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var txs []txpipe.Transaction
	for i := range 500 {
		txs = append(txs, txpipe.Transaction{ID: fmt.Sprintf("s%03d", i), Amount: "1.00", AmountMinor: 100, Currency: "USD",
			Timestamp: ts.Add(time.Duration(i) * time.Second), Merchant: "m", Status: "completed", FileID: "f"})
	}
	if _, err := db.PutTransactions(t.Context(), txs); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncRows(t.Context(), "f"); err != nil {
		t.Fatal(err)
	}
	if err := db.SettleRows(t.Context()); err != nil {
		t.Fatal(err)
	}
	shards, err := filepath.Glob(filepath.Join(dir, "txpipe-transactions-*.db"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("shard files %v, %v", shards, err)
	}
	total := 0
	for _, s := range shards {
		cp := filepath.Join(t.TempDir(), "copy.db")
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := sql.Open("sqlite", "file:"+cp+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = c.QueryRow("SELECT count(*) FROM transactions").Scan(&n)
		c.Close()
		if err != nil {
			t.Fatalf("count the rows of %s without its log: %v", filepath.Base(s), err)
		}
		total += n
	}
	if total != len(txs) {
		t.Errorf("the shard files without their logs hold %d rows, want %d", total, len(txs))
	}
}
