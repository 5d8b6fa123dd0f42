//go:build integration

package dynamo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/storetest"
	"github.com/txpipe/txpipe/workflow"
)

// The dynalite of this test package, started once by TestMain (not under -short).
var emulator = awstest.NewEmulator("dynalite", awstest.StartDynalite)

func TestMain(m *testing.M) { awstest.RunAll(m, emulator, motoEmulator) }

// client returns a DynamoDB client of the test emulator.
func client(t testing.TB) *dynamodb.Client {
	t.Helper()
	return dynamodb.NewFromConfig(awstest.Config(emulator.URL(t)))
}

func randomName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// newTxTable creates a fresh transactions table and returns its name.
func newTxTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	name := randomName(t, "transactions")
	if err := CreateTransactionsTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateTransactionsTable: %v", err)
	}
	return name
}

func TestTransactionStoreContract(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return s })
}

func TestTransactionStoreOneShard(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c), WithTimeShards(1), WithConcurrency(1))
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return s })
}

func TestStatusStoreContract(t *testing.T) {
	c := client(t)
	name := randomName(t, "processing-status")
	if err := CreateStatusTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateStatusTable: %v", err)
	}
	s := NewStatusStore(c, name)
	storetest.TestStatusStore(t, func(t *testing.T) workflow.StatusStore { return s })
}

func TestCreateTableTwice(t *testing.T) {
	c := client(t)
	name := newTxTable(t, c)
	if err := CreateTransactionsTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateTransactionsTable of an existing table: %v", err)
	}
}

func TestMissingTableIsNotFound(t *testing.T) {
	c := client(t)
	s := NewStatusStore(c, "no-such-table")
	_, err := s.GetStatus(t.Context(), "x")
	if got, want := txpipe.ErrorCode(err), txpipe.ENOTFOUND; got != want {
		t.Errorf("GetStatus on a missing table: %v (code %q), want code %q", err, got, want)
	}
}

func TestListRecent(t *testing.T) {
	c := client(t)
	name := randomName(t, "processing-status")
	if err := CreateStatusTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateStatusTable: %v", err)
	}
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	s := NewStatusStore(c, name, WithClock(func() time.Time { return now }))
	// Five files a day over three days, and one 40 days back (too old).
	for d := 0; d < 3; d++ {
		for i := range 5 {
			id := fmt.Sprintf("day%d-file%d", d, i)
			created := now.AddDate(0, 0, -d).Add(-time.Duration(5-i) * time.Minute)
			st := &txpipe.FileStatus{FileID: id, Status: txpipe.StatusValidated, CreatedAt: created, UpdatedAt: created}
			if _, _, err := s.CreateStatus(t.Context(), st); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := now.AddDate(0, 0, -40)
	if _, _, err := s.CreateStatus(t.Context(), &txpipe.FileStatus{FileID: "old", Status: txpipe.StatusCompleted, CreatedAt: old, UpdatedAt: old}); err != nil {
		t.Fatal(err)
	}

	got, err := s.ListRecent(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"day0-file4", "day0-file3", "day0-file2", "day0-file1", "day0-file0", "day1-file4", "day1-file3"}
	if len(got) != len(want) {
		t.Fatalf("ListRecent(7): %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].FileID != want[i] {
			t.Errorf("ListRecent(7)[%d] = %s, want %s", i, got[i].FileID, want[i])
		}
	}
	all, err := s.ListRecent(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), 15; got != want {
		t.Errorf("ListRecent(100): %d records, want %d (the 40-day-old file is out of reach)", got, want)
	}
}

func TestStatusEmptyStrings(t *testing.T) {
	c := client(t)
	name := randomName(t, "processing-status")
	if err := CreateStatusTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateStatusTable: %v", err)
	}
	s := NewStatusStore(c, name)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &txpipe.FileStatus{FileID: "empty-strings", Status: txpipe.StatusRejected, ErrorCount: 1,
		Errors: []txpipe.ErrorItem{{Message: "no transactions"}}, CreatedAt: at, UpdatedAt: at}
	if _, _, err := s.CreateStatus(t.Context(), st); err != nil {
		t.Fatalf("CreateStatus with empty filename, column and value: %v", err)
	}
	got, err := s.GetStatus(t.Context(), st.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Errors) != 1 || got.Errors[0] != st.Errors[0] || got.Filename != "" {
		t.Errorf("GetStatus = %+v, want %+v", got, st)
	}
}

func TestFileListContract(t *testing.T) {
	c := client(t)
	name := randomName(t, "processing-status")
	if err := CreateStatusTable(t.Context(), c, name); err != nil {
		t.Fatalf("CreateStatusTable: %v", err)
	}
	s := NewStatusStore(c, name)
	storetest.TestFileList(t, func(t *testing.T) storetest.FileLister { return s })
}

func TestTransactionFiltersContract(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	storetest.TestTransactionFilters(t, func(t *testing.T) storetest.TransactionStore { return s })
}

// TestTenantTransactions: a tenant's view of the table passes the contract,
// and tenants' rows never meet (ids are per tenant).
func TestTenantTransactions(t *testing.T) {
	c := client(t)
	s := NewTransactionStore(c, newTxTable(t, c))
	storetest.TestTransactionStore(t, func(t *testing.T) storetest.TransactionStore { return storetest.AsTenant(s, "acme") })
	storetest.TestTenantsApart(t, s)
}
