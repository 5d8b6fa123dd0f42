package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/storetest"
)

func tenantTx(id, fileID string, day int) txpipe.Transaction {
	return txpipe.Transaction{ID: id, Amount: "1.00", AmountMinor: 100, Currency: "USD",
		Timestamp: time.Date(2026, 4, day, 12, 0, 0, 0, time.UTC), Merchant: "m", Status: "completed", FileID: fileID}
}

func txIDs(t *testing.T, db *sqlite.DB, tenant string) []string {
	t.Helper()
	page, err := db.ListTransactions(t.Context(), txpipe.TxQuery{Tenant: tenant,
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 100})
	if err != nil {
		t.Fatalf("ListTransactions of %q: %v", tenant, err)
	}
	var out []string
	for _, tx := range page.Items {
		out = append(out, tx.ID+"@"+tx.FileID)
	}
	return out
}

// TestTenantTransactionsApart: each tenant's transactions are in its own
// shard files: the same ids are inserted once per tenant, listed and
// summed per tenant, and survive a reopen and a backup.
func TestTenantTransactionsApart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "txpipe.db")
	db := reopen(t, path)
	ctx := t.Context()
	acmeFile := txpipe.ScopedFileID("acme", "f")
	for _, fid := range []string{"f", acmeFile} {
		c, err := db.PutTransactions(ctx, []txpipe.Transaction{tenantTx("x", fid, 1), tenantTx("y", fid, 2)})
		if err != nil || c.Inserted != 2 {
			t.Fatalf("PutTransactions of %s = %+v, %v; want 2 inserted (ids are per tenant)", fid, c, err)
		}
	}
	// acme updates its x; default's stays.
	upd := tenantTx("x", acmeFile, 3)
	if c, err := db.PutTransactions(ctx, []txpipe.Transaction{upd}); err != nil || c.Updated != 1 {
		t.Fatalf("acme's update = %+v, %v", c, err)
	}
	check := func(db *sqlite.DB) {
		t.Helper()
		if got, want := txIDs(t, db, ""), []string{"x@f", "y@f"}; !slices.Equal(got, want) {
			t.Errorf("default's transactions = %v, want %v", got, want)
		}
		if got, want := txIDs(t, db, "acme"), []string{"y@acme#f", "x@acme#f"}; !slices.Equal(got, want) {
			t.Errorf("acme's transactions = %v, want %v", got, want)
		}
		if got := txIDs(t, db, "beta"); len(got) != 0 {
			t.Errorf("beta's transactions = %v, want none", got)
		}
		days := func(tenant string) []string {
			v, err := db.TenantVolumes(ctx, tenant, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range v {
				out = append(out, d.Day)
			}
			return out
		}
		if got, want := days(txpipe.DefaultTenant), []string{"2026-04-01", "2026-04-02"}; !slices.Equal(got, want) {
			t.Errorf("default's volume days = %v, want %v", got, want)
		}
		if got, want := days("acme"), []string{"2026-04-02", "2026-04-03"}; !slices.Equal(got, want) {
			t.Errorf("acme's volume days = %v, want %v", got, want)
		}
	}
	check(db)
	if _, err := os.Stat(filepath.Join(dir, "txpipe-tenant-acme-transactions-0.db")); err != nil {
		t.Errorf("acme's first shard: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*beta*")); len(m) != 0 {
		t.Errorf("reading beta's (empty) transactions made files %v", m)
	}
	backup := filepath.Join(t.TempDir(), "copy")
	written, err := db.Backup(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(written, filepath.Join(backup, "txpipe-tenant-acme-transactions-0.db")) {
		t.Errorf("backup wrote %v, want acme's shards too", written)
	}
	for _, w := range written {
		if !sqlite.IsDatabaseFile(filepath.Base(w)) {
			t.Errorf("IsDatabaseFile(%s) = false", filepath.Base(w))
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, path)
	check(db)
	db.Close()
	db = reopen(t, filepath.Join(backup, "txpipe.db"))
	defer db.Close()
	check(db)
}

// TestSingleTenantDataDirIsTheDefaultTenant opens a database as it was
// before tenants (schema version 5: no tenant columns) with a key, a file
// and a webhook, and finds them all the default tenant's.
func TestSingleTenantDataDirIsTheDefaultTenant(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "txpipe.db")
	db := reopen(t, path)
	ctx := t.Context()
	if err := db.CreateKey(ctx, txpipe.APIKey{Name: "old", Hash: sqliteHash("old")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, _, err := db.CreateStatus(ctx, &txpipe.FileStatus{FileID: "old1", Status: txpipe.StatusCompleted, Filename: "old.csv", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EnsureWebhook(ctx, "http://127.0.0.1:1/hook"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Back to the layout of version 5.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP INDEX file_status_tenant_created`,
		`ALTER TABLE file_status DROP COLUMN tenant`,
		`ALTER TABLE api_keys DROP COLUMN tenant`,
		`ALTER TABLE webhooks DROP COLUMN tenant`,
		`PRAGMA user_version = 5`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db = reopen(t, path)
	defer db.Close()
	k, err := db.LookupKey(ctx, sqliteHash("old"))
	if err != nil || k.Tenant != txpipe.DefaultTenant {
		t.Errorf("old key = %+v, %v; want the default tenant's", k, err)
	}
	for tenant, want := range map[string]int{"": 1, txpipe.DefaultTenant: 1, txpipe.AllTenants: 1, "acme": 0} {
		page, err := db.ListFiles(ctx, txpipe.FileQuery{Tenant: tenant})
		if err != nil || len(page.Items) != want {
			t.Errorf("ListFiles of %q = %+v, %v; want %d", tenant, page.Items, err, want)
		}
	}
	hooks, err := db.Webhooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].Tenant != txpipe.DefaultTenant {
		t.Errorf("webhooks = %+v, %v; want the old one, the default tenant's", hooks, err)
	}
}

// TestWebhooksPerTenant: a run's result is delivered to its tenant's
// webhooks only, and a URL serves one tenant.
func TestWebhooksPerTenant(t *testing.T) {
	t.Parallel()
	db := reopen(t, filepath.Join(t.TempDir(), "txpipe.db"))
	defer db.Close()
	ctx := t.Context()
	if _, _, err := db.EnsureWebhook(ctx, "http://d/hook"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EnsureTenantWebhook(ctx, "acme", "http://a/hook"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.EnsureTenantWebhook(ctx, "beta", "http://a/hook"); txpipe.ErrorCode(err) != txpipe.ECONFLICT {
		t.Errorf("acme's URL for beta: %v, want ECONFLICT", err)
	}
	now := time.Now().UTC()
	for _, fid := range []string{"f1", txpipe.ScopedFileID("acme", "f1"), txpipe.ScopedFileID("beta", "f1")} {
		st := &txpipe.FileStatus{FileID: fid, Status: txpipe.StatusProcessing, CreatedAt: now, UpdatedAt: now}
		if _, _, err := db.CreateStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		st.Status = txpipe.StatusCompleted
		if err := db.UpdateStatusNotify(ctx, st, txpipe.NotificationFor(st, now), txpipe.StatusProcessing); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := db.Deliveries(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.URL+" "+string(d.Body[:len(`{"file_id":"f1","tenant":"acme"`)]))
	}
	slices.Sort(got)
	want := []string{`http://a/hook {"file_id":"f1","tenant":"acme"`, `http://d/hook {"file_id":"f1","tenant":"defau`}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries = %q, want %q (beta has no webhook)", got, want)
	}
}

func sqliteHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestTenantTransactionsContract: a tenant's shard set passes the
// transactions contract, and tenants' rows never meet.
func TestTenantTransactionsContract(t *testing.T) {
	t.Parallel()
	db := reopen(t, filepath.Join(t.TempDir(), "txpipe.db"))
	defer db.Close()
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return storetest.AsTenant(db, "acme") })
	storetest.TestTenantsApart(t, db)
}
