package csvschema_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/csvschema"
)

// chunkyFile is a file whose records are hard to cut: quoted fields holding
// line ends, separators and escaped quotes, quotes inside unquoted fields,
// blank lines, CRLF, a record over MaxRecordBytes and one over the scanner's
// buffer, and ids repeated far
// apart; a fifth of the rows break a rule.
func chunkyFile(rows int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	merchants := []string{`shop`, `"a shop"`, `"two` + "\n" + `lines"`, `"say ""hi"", then` + "\r\n" + `go"`, `"x,y"`, `bare"quote`, `""`, `"` + "\n\n" + `"`, `"ends in a quote"""`}
	ends := []string{"\n", "\r\n", "\n\n", "\n \t\n"}
	for i := range rows {
		id := fmt.Sprintf("t%d", i)
		if i > 100 && rng.IntN(50) == 0 {
			id = fmt.Sprintf("t%d", rng.IntN(i)) // a duplicate
		}
		switch rng.IntN(6) {
		case 0, 1:
			id = `"` + id + `"`
		case 2:
			id = `"` + id + "\n,\n" + `"` // a bad id holding line ends
		}
		amount := "1.50"
		if rng.IntN(5) == 0 {
			amount = "1.5.0"
		}
		m := merchants[rng.IntN(len(merchants))]
		if i == rows/3 {
			m = strings.Repeat("z", 300<<10) // longer than the scanner's buffer
		}
		if i == rows/2 {
			m = `"` + strings.Repeat("big\n", csvschema.MaxRecordBytes/4+1) + `"`
		}
		fmt.Fprintf(&b, "%s,%s,USD,2024-01-15T10:30:00Z,%s,completed%s", id, amount, m, ends[rng.IntN(len(ends))])
	}
	return b.Bytes()
}

// sameReport fails unless two reports agree: rows, errors (line, column,
// reason) and cuts.
func sameReport(t *testing.T, name string, got, want *csvschema.Report) {
	t.Helper()
	if got.Rows != want.Rows || got.ErrorCount != want.ErrorCount || len(got.Errors) != len(want.Errors) {
		t.Fatalf("%s: rows %d errors %d (%d kept), want rows %d errors %d (%d kept)", name, got.Rows, got.ErrorCount, len(got.Errors), want.Rows, want.ErrorCount, len(want.Errors))
	}
	for i := range want.Errors {
		if g, w := got.Errors[i], want.Errors[i]; g.Line != w.Line || g.Column != w.Column || g.Err.Error() != w.Err.Error() {
			t.Fatalf("%s: error %d is %v, want %v", name, i, g, w)
		}
	}
	if got.HeaderEnd != want.HeaderEnd || !slices.Equal(got.Cuts, want.Cuts) {
		t.Fatalf("%s: header end %d, cuts %v; want %d, %v", name, got.HeaderEnd, got.Cuts, want.HeaderEnd, want.Cuts)
	}
}

// TestChunksAgree cuts a file whose records are hard to cut into chunks of
// many sizes for two workers (the parallel pass splits chunks, the
// one-worker pass records): the reports and cuts must be the same, in hash
// and in exact mode.
func TestChunksAgree(t *testing.T) {
	data := chunkyFile(3000, 5)
	long := 0
	onError := func(e *csvschema.RowError) {
		if errors.Is(e, csvschema.ErrRecordTooLong) {
			long++
		}
	}
	var format csvschema.Format
	run := func(r io.Reader, workers int) *csvschema.Report {
		t.Helper()
		rep, err := csvschema.ValidateWith(context.Background(), r, csvschema.Options{Workers: workers, CutEvery: 7, OnError: onError, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	want := run(bytes.NewReader(data), 1)
	if want.ErrorCount < 500 || len(want.Cuts) < 300 || long != 2 {
		t.Fatalf("%d errors (%d too long), %d cuts: the test needs more", want.ErrorCount, long, len(want.Cuts))
	}
	for _, limit := range []int{0, 1, 2, 13, 100, 1000, 70_000} {
		restore := csvschema.SetChunkLimit(limit)
		long = 0
		sameReport(t, fmt.Sprintf("limit %d, 2 workers", limit), run(bytes.NewReader(data), 2), want)
		if long != 2 {
			t.Fatalf("limit %d: %d records too long, want 2", limit, long)
		}
		sameReport(t, fmt.Sprintf("limit %d, 3 workers, exact", limit), run(onlyReader{bytes.NewReader(data)}, 3), want)
		restore()
	}
	// A file cut while decoded (its offsets counted in the input's own
	// bytes): the reading worker splits the records (fill), and the ids
	// still go to the partitioned set.
	format = csvschema.Format{Encoding: csvschema.EncISO88591}
	sameReport(t, "ISO-8859-1, 2 workers", run(bytes.NewReader(data), 2), run(bytes.NewReader(data), 1))
}
