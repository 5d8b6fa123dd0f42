package storetest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/iso4217"
)

// VolumeStore is a transactions table that keeps the per-day, per-currency
// volumes of GET /volumes.
type VolumeStore interface {
	TransactionStore
	Volumes(ctx context.Context, from, to time.Time) ([]txpipe.Volume, error)
}

func volTx(id, fileID, currency string, ts time.Time, minor int64) txpipe.Transaction {
	return txpipe.Transaction{ID: id, Amount: iso4217.FormatMinor(minor, currency), AmountMinor: minor, Currency: currency,
		Timestamp: ts, Merchant: "m", Status: txpipe.TxCompleted, FileID: fileID}
}

// volumesOfRows is the aggregate computed from the stored rows themselves.
func volumesOfRows(t *testing.T, s VolumeStore, from, to time.Time) string {
	t.Helper()
	rows := listAll(t, s, txpipe.TxQuery{From: from, To: to, Limit: txpipe.MaxTxLimit})
	type key struct{ day, cur string }
	sums := map[key]*[2]int64{}
	var keys []key
	for _, r := range rows {
		k := key{r.Timestamp.UTC().Format(time.DateOnly), r.Currency}
		if sums[k] == nil {
			sums[k] = new([2]int64)
			keys = append(keys, k)
		}
		sums[k][0]++
		sums[k][1] += r.AmountMinor
	}
	var out []txpipe.Volume
	for _, k := range keys {
		out = append(out, txpipe.Volume{Day: k.day, Currency: k.cur, Rows: sums[k][0], AmountMinor: sums[k][1], Amount: iso4217.FormatMinor(sums[k][1], k.cur)})
	}
	sortVolumes(out)
	return fmt.Sprint(out)
}

func sortVolumes(v []txpipe.Volume) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && (v[j].Day < v[j-1].Day || v[j].Day == v[j-1].Day && v[j].Currency < v[j-1].Currency); j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

func volumes(t *testing.T, s VolumeStore, from, to time.Time) string {
	t.Helper()
	got, err := s.Volumes(t.Context(), from, to)
	if err != nil {
		t.Fatalf("Volumes(%s, %s): %v", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	return fmt.Sprint(got)
}

// TestVolumes runs the contract of the volumes aggregate: it equals the sum
// of the stored rows per UTC day and currency after inserts, updates that
// move a row to another day and currency, repeated writes of one file,
// unchanged rows of another file, batches spanning many days, and the same
// rows written by several writers at once (a chunk run twice, and two files
// racing on the same ids). open must return a store no other test writes
// to.
func TestVolumes(t *testing.T, open func(t *testing.T) VolumeStore) {
	t.Run("InsertUpdateRepeat", func(t *testing.T) {
		s := open(t)
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
			put(t, s, batch)
		}
		// f2 updates b (new day and currency) and leaves a unchanged.
		checkCounts(t, "f2", put(t, s, []txpipe.Transaction{
			volTx("a", "f2", "USD", d1, 150),
			volTx("b", "f2", "JPY", d2, 5),
		}), txpipe.Counts{Updated: 1, Unchanged: 1})
		from, to := time.Date(1969, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
		want := fmt.Sprint([]txpipe.Volume{
			{Day: "1969-12-31", Currency: "EUR", Rows: 1, AmountMinor: 7, Amount: "0.07"},
			{Day: "2025-03-01", Currency: "USD", Rows: 1, AmountMinor: 150, Amount: "1.50"},
			{Day: "2025-03-02", Currency: "JPY", Rows: 2, AmountMinor: 1005, Amount: "1005"},
		})
		if got := volumes(t, s, from, to); got != want {
			t.Errorf("Volumes = %s\nwant      %s", got, want)
		}
		if got, want := volumes(t, s, d2, d2.AddDate(0, 0, 1)), fmt.Sprint([]txpipe.Volume{{Day: "2025-03-02", Currency: "JPY", Rows: 2, AmountMinor: 1005, Amount: "1005"}}); got != want {
			t.Errorf("Volumes of 2025-03-02 = %s, want %s", got, want)
		}
		if got := volumes(t, s, d2.AddDate(0, 0, 1), d2.AddDate(0, 0, 30)); got != "[]" {
			t.Errorf("Volumes of days without rows = %s, want []", got)
		}
	})

	t.Run("ManyDaysAndCurrencies", func(t *testing.T) {
		// One batch over 70 days and 4 currencies: a group of 100 rows
		// has more aggregate keys than a request can carry with it.
		s := open(t)
		start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		curs := []string{"USD", "EUR", "JPY", "BHD"}
		var batch []txpipe.Transaction
		for i := range 160 {
			ts := start.Add(time.Duration(i%70)*24*time.Hour + time.Duration(i)*time.Minute)
			batch = append(batch, volTx(fmt.Sprintf("many-%d", i), "f1", curs[i%4], ts, int64(100+i)))
		}
		checkCounts(t, "160 rows", put(t, s, batch), txpipe.Counts{Inserted: 160})
		// A second file moves every fourth row a day later and doubles it.
		var upd []txpipe.Transaction
		for i := 0; i < 160; i += 4 {
			r := batch[i]
			r.FileID, r.Timestamp, r.AmountMinor = "f2", r.Timestamp.Add(24*time.Hour), 2*r.AmountMinor
			r.Amount = iso4217.FormatMinor(r.AmountMinor, r.Currency)
			upd = append(upd, r)
		}
		checkCounts(t, "updates", put(t, s, upd), txpipe.Counts{Updated: 40})
		from, to := start, start.AddDate(0, 0, 80)
		want := volumesOfRows(t, s, from, to)
		if got := volumes(t, s, from, to); got != want {
			t.Errorf("Volumes =\n%s\nrows say\n%s", got, want)
		}
		var total int64
		v, _ := s.Volumes(t.Context(), from, to)
		for _, x := range v {
			total += x.Rows
		}
		if total != 160 {
			t.Errorf("Volumes count %d rows, want 160", total)
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s := open(t)
		start := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
		chunk := func(fileID string, scale int64) []txpipe.Transaction {
			var b []txpipe.Transaction
			for i := range 60 {
				cur := []string{"USD", "EUR"}[i%2]
				b = append(b, volTx(fmt.Sprintf("race-%d", i), fileID, cur, start.Add(time.Duration(i%5)*24*time.Hour+time.Duration(scale)*time.Hour), scale*int64(10+i)))
			}
			return b
		}
		// The same chunk of f1 run three times at once (a retried step whose
		// first try is still running), and f2 rewriting the same ids with
		// other values at the same time, twice.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 5 {
			wg.Go(func() {
				b := chunk("f1", 1)
				if w >= 3 {
					b = chunk("f2", 3)
				}
				mrand.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
				c, err := s.PutTransactions(context.WithoutCancel(t.Context()), b)
				if err == nil && c.Inserted+c.Updated+c.Unchanged != int64(len(b)) {
					err = fmt.Errorf("counts %+v do not add up to %d rows", c, len(b))
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("PutTransactions: %v", err)
		}
		from, to := start, start.AddDate(0, 0, 7)
		want := volumesOfRows(t, s, from, to)
		got := volumes(t, s, from, to)
		if got != want {
			t.Errorf("Volumes after concurrent writers =\n%s\nrows say\n%s", got, want)
		}
		if !strings.Contains(got, "USD") || strings.Count(want, "{") != 10 {
			t.Errorf("expected 5 days x 2 currencies, rows say %s", want)
		}
	})
}
