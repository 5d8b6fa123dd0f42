package sqlite_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
)

// Fixtures in testdata/legacy: data dirs made by older txpipe (gen.sh with
// the old binary, gen_store.go.txt at a commit whose binary did not build),
// each with expected.json: what the old server answered for each file's
// status and for every transaction.
var legacyFixtures = []struct {
	dir, madeBy, layout string
}{
	{"preshard-first", "8adae3f (store of e8a1a86)", "transactions in the main file, NOT NULL columns, non-unique id_hash index; user_version 1"},
	{"preshard", "72c8a50", "transactions in the main file, unique id_hash index; user_version 1"},
	{"shards-v2", "58b3a91", "2 shards at user_version 1 (no volumes), main at 2 (no profiles, console, webhooks)"},
}

// copyDir copies the fixture's data dir, so the test never changes it.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sameFields reports the fields of want (JSON) whose value differs in got,
// marshalled: fields added since the fixture was made are not compared.
func sameFields(t *testing.T, want json.RawMessage, got any) []string {
	t.Helper()
	var w map[string]json.RawMessage
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]json.RawMessage
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for k, wv := range w {
		var a, b any
		json.Unmarshal(wv, &a)
		json.Unmarshal(g[k], &b)
		if !reflect.DeepEqual(a, b) {
			diffs = append(diffs, k+": "+string(wv)+" -> "+string(g[k]))
		}
	}
	return diffs
}

func lastMigration(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("migrations", dir, "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations of %s: %v", dir, err)
	}
	n, _, _ := strings.Cut(filepath.Base(names[len(names)-1]), "_")
	v, err := strconv.Atoi(n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLegacyDataDirs opens each older layout's data dir with today's code:
// every file record and every transaction is as the old server answered,
// the volumes add up to the rows, the schema is at the last migration, a
// second open changes nothing, and a write after the move finds the moved
// rows (an unchanged row is not stored twice).
func TestLegacyDataDirs(t *testing.T) {
	t.Parallel()
	for _, fx := range legacyFixtures {
		t.Run(fx.dir, func(t *testing.T) {
			ctx := context.Background()
			var want struct {
				Statuses     []json.RawMessage `json:"statuses"`
				Transactions struct {
					Items []json.RawMessage `json:"items"`
				} `json:"transactions"`
			}
			b, err := os.ReadFile(filepath.Join("testdata", "legacy", fx.dir, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			copyDir(t, filepath.Join("testdata", "legacy", fx.dir, "data"), dir)
			path := filepath.Join(dir, "txpipe.db")

			check := func(db *sqlite.DB, extra int) {
				t.Helper()
				for _, ws := range want.Statuses {
					var id struct {
						FileID string `json:"file_id"`
					}
					json.Unmarshal(ws, &id)
					got, err := db.GetStatus(ctx, id.FileID)
					if err != nil {
						t.Fatalf("file %s: %v", id.FileID, err)
					}
					if d := sameFields(t, ws, got); len(d) > 0 {
						t.Errorf("file %s differs from the old record: %s", id.FileID, strings.Join(d, "; "))
					}
				}
				page, err := db.ListTransactions(ctx, txpipe.TxQuery{From: time.Unix(0, 0), To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: txpipe.MaxTxLimit})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) != len(want.Transactions.Items)+extra {
					t.Fatalf("%d transactions, want %d", len(page.Items), len(want.Transactions.Items)+extra)
				}
				byID := map[string]txpipe.Transaction{}
				for _, tx := range page.Items {
					byID[tx.ID] = tx
				}
				var rows, minor int64
				for _, wt := range want.Transactions.Items {
					var id struct {
						ID          string `json:"transaction_id"`
						AmountMinor int64  `json:"amount_minor"`
					}
					json.Unmarshal(wt, &id)
					got, ok := byID[id.ID]
					if !ok {
						t.Errorf("transaction %s missing", id.ID)
						continue
					}
					if d := sameFields(t, wt, got); len(d) > 0 {
						t.Errorf("transaction %s differs: %s", id.ID, strings.Join(d, "; "))
					}
					rows++
					minor += id.AmountMinor
				}
				vols, err := db.Volumes(ctx, time.Unix(0, 0), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
				if err != nil {
					t.Fatal(err)
				}
				var vrows int64
				for _, v := range vols {
					vrows += v.Rows
				}
				if vrows != int64(len(page.Items)) {
					t.Errorf("volumes count %d rows, %d are stored", vrows, len(page.Items))
				}
				if v, err := db.SchemaVersion(ctx); err != nil || v != lastMigration(t, "main") {
					t.Errorf("schema version %d (%v), want %d", v, err, lastMigration(t, "main"))
				}
			}

			db, err := sqlite.Open(ctx, path, nil)
			if err != nil {
				t.Fatalf("open the %s data dir (%s, made by %s): %v", fx.dir, fx.layout, fx.madeBy, err)
			}
			check(db, 0)
			// Stored again by another file: the same row is unchanged, a
			// changed one updated, a new one inserted; nothing twice.
			var first txpipe.Transaction
			json.Unmarshal(want.Transactions.Items[0], &first)
			changed := first
			json.Unmarshal(want.Transactions.Items[1], &changed)
			changed.Merchant += " (renamed)"
			fresh := txpipe.Transaction{ID: "after-move-1", Amount: "1.00", AmountMinor: 100, Currency: "USD",
				Timestamp: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Merchant: "New", Status: txpipe.TxCompleted}
			batch := []txpipe.Transaction{first, changed, fresh}
			for i := range batch {
				batch[i].FileID = "after-move-file"
				batch[i].IngestedAt = time.Time{}
			}
			c, err := db.PutTransactions(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if want := (txpipe.Counts{Inserted: 1, Updated: 1, Unchanged: 1}); c != want {
				t.Errorf("a write after the move counts %+v, want %+v", c, want)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			// A second open: nothing left to move, the same rows.
			db, err = sqlite.Open(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The changed row: its new merchant, written by the new file.
			var m map[string]any
			json.Unmarshal(want.Transactions.Items[1], &m)
			m["merchant"], m["file_id"] = changed.Merchant, "after-move-file"
			delete(m, "ingested_at")
			if want.Transactions.Items[1], err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			check(db, 1)
		})
	}
}

// A move interrupted by a crash (one shard written, the main file's table
// still there) is finished by the next open, with every row once.
func TestLegacyMoveResumed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	done, half := t.TempDir(), t.TempDir()
	copyDir(t, filepath.Join("testdata", "legacy", "preshard", "data"), done)
	copyDir(t, filepath.Join("testdata", "legacy", "preshard", "data"), half)
	db, err := sqlite.Open(ctx, filepath.Join(done, "txpipe.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(filepath.Join(done, "txpipe-transactions-0.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "txpipe-transactions-0.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, filepath.Join(half, "txpipe.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.ListTransactions(ctx, txpipe.TxQuery{From: time.Unix(0, 0), To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: txpipe.MaxTxLimit})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, tx := range page.Items {
		seen[tx.ID]++
	}
	if len(page.Items) != 12 || len(seen) != 12 {
		t.Errorf("%d transactions (%d ids) after the resumed move, want 12 once each", len(page.Items), len(seen))
	}
	vols, err := db.Volumes(ctx, time.Unix(0, 0), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range vols {
		n += v.Rows
	}
	if n != 12 {
		t.Errorf("volumes count %d rows, want 12", n)
	}
}
