package sqlite_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/storetest"
)

func volTx(id, fileID, currency string, ts time.Time, minor int64) txpipe.Transaction {
	return txpipe.Transaction{ID: id, Amount: sqlite.FormatMinor(minor, currency), AmountMinor: minor, Currency: currency,
		Timestamp: ts, Merchant: "m", Status: txpipe.TxCompleted, FileID: fileID}
}

// TestVolumes checks the aggregate against the rows written: inserts, an
// update that moves a row to another day and currency, a repeated write of
// the same file, and unchanged rows of another file.
func TestVolumes(t *testing.T) {
	t.Parallel()
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprintf("collisions=%v", collide), func(t *testing.T) {
			db := openDB(t)
			if collide {
				sqlite.SetIDHash(db, func(id string) int64 { return int64(len(id) % 3) })
			}
			d1 := time.Date(2025, 3, 1, 23, 59, 59, 0, time.UTC)
			d2 := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
			old := time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC) // a negative Unix time
			batch := []txpipe.Transaction{
				volTx("a", "f1", "USD", d1, 150),
				volTx("b", "f1", "USD", d1, 250),
				volTx("c", "f1", "JPY", d2, 1000),
				volTx("d", "f1", "EUR", old, 7),
			}
			for range 2 { // a resumed run writes its batch again
				if _, err := db.PutTransactions(t.Context(), batch); err != nil {
					t.Fatal(err)
				}
			}
			// f2 updates b (new day and currency) and leaves a unchanged.
			if _, err := db.PutTransactions(t.Context(), []txpipe.Transaction{
				volTx("a", "f2", "USD", d1, 150),
				volTx("b", "f2", "JPY", d2, 5),
			}); err != nil {
				t.Fatal(err)
			}
			got, err := db.Volumes(t.Context(), time.Date(1969, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			want := []txpipe.Volume{
				{Day: "1969-12-31", Currency: "EUR", Rows: 1, AmountMinor: 7, Amount: "0.07"},
				{Day: "2025-03-01", Currency: "USD", Rows: 1, AmountMinor: 150, Amount: "1.50"},
				{Day: "2025-03-02", Currency: "JPY", Rows: 2, AmountMinor: 1005, Amount: "1005"},
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Volumes = %+v\nwant      %+v", got, want)
			}
			got, err = db.Volumes(t.Context(), d2, d2.AddDate(0, 0, 1))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Rows != 2 {
				t.Errorf("Volumes of 2025-03-02 = %+v, want the JPY row", got)
			}
		})
	}
}

func TestFormatMinor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		minor    int64
		currency string
		want     string
	}{{0, "USD", "0.00"}, {5, "USD", "0.05"}, {12345, "USD", "123.45"}, {7, "JPY", "7"}, {1234, "BHD", "1.234"}, {-150, "EUR", "-1.50"}} {
		if got := sqlite.FormatMinor(c.minor, c.currency); got != c.want {
			t.Errorf("FormatMinor(%d, %s) = %q, want %q", c.minor, c.currency, got, c.want)
		}
	}
}

// TestVolumesReadsTheAggregate checks that the volumes query searches the
// aggregate's primary key, so its cost follows the days asked, not the
// rows stored.
func TestVolumesReadsTheAggregate(t *testing.T) {
	t.Parallel()
	plan, err := sqlite.VolumesPlan(openDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "SEARCH volumes USING PRIMARY KEY") {
		t.Errorf("volumes query plan:\n%s\nwant a search of the volumes primary key", plan)
	}
}

func TestVolumesContract(t *testing.T) {
	t.Parallel()
	storetest.TestVolumes(t, func(t *testing.T) storetest.VolumeStore { return openDB(t) })
}
