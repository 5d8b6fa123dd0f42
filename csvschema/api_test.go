package csvschema_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/txgen"
)

func TestDecoderHeaderError(t *testing.T) {
	d := csvschema.NewDecoder(strings.NewReader("transaction_id,amount\nt1,1\n"))
	var tx txpipe.Transaction
	err := d.Decode(&tx)
	var he *csvschema.HeaderError
	if !errors.As(err, &he) || !errors.Is(err, csvschema.ErrMissingColumn) {
		t.Fatalf("Decode = %v, want a HeaderError with ErrMissingColumn", err)
	}
	var re *csvschema.RowError
	if errors.As(err, &re) {
		t.Errorf("a header error must not look like a row error: %v", err)
	}
	if err2 := d.Decode(&tx); err2 != err {
		t.Errorf("second Decode = %v, want the same header error", err2)
	}
	if err := csvschema.NewDecoder(strings.NewReader("")).Decode(&tx); !errors.Is(err, csvschema.ErrNoHeader) {
		t.Errorf("Decode of an empty file = %v, want ErrNoHeader", err)
	}
}

func TestDecoderRowsAndLines(t *testing.T) {
	in := "transaction_id,amount,currency,timestamp,merchant,status\n" +
		"t1,1.5,USD,2024-01-15T10:30:00Z,\"multi\"\"\",completed\n\n" +
		"t2,-1,USD,2024-01-15T10:30:00Z,m,completed\n" +
		"t3,7,JPY,2024-01-15T10:30:00-01:00,m,FAILED\n"
	d := csvschema.NewDecoder(strings.NewReader(in))
	var tx txpipe.Transaction
	if err := d.Decode(&tx); err != nil || tx.ID != "t1" || tx.Amount != "1.50" || tx.Merchant != `multi"` || d.Line() != 2 {
		t.Fatalf("row 1: %v %+v line %d", err, tx, d.Line())
	}
	err := d.Decode(&tx)
	var re *csvschema.RowError
	if !errors.As(err, &re) || re.Line != 4 || re.Column != "amount" || !errors.Is(err, csvschema.ErrBadAmount) || d.Line() != 4 {
		t.Fatalf("row 2: %v, line %d", err, d.Line())
	}
	if err := d.Decode(&tx); err != nil || tx.ID != "t3" || tx.AmountMinor != 7 || tx.Status != "failed" || tx.Timestamp.Hour() != 11 || d.Line() != 5 {
		t.Fatalf("row 3: %v %+v", err, tx)
	}
	if err := d.Decode(&tx); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

func TestDecodeAllocs(t *testing.T) {
	var b bytes.Buffer
	if err := txgen.Write(&b, txgen.Options{Rows: 5000, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	allocs := testing.AllocsPerRun(3, func() {
		d := csvschema.NewDecoder(bytes.NewReader(data))
		var tx txpipe.Transaction
		for d.Decode(&tx) == nil {
		}
	})
	if perRow := allocs / 5000; perRow > 1.05 {
		t.Errorf("Decode: %.2f allocations per row, want at most 1", perRow)
	}
	for _, workers := range []int{1, 2} {
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(data), csvschema.Options{Workers: workers}); err != nil {
				t.Fatal(err)
			}
		})
		if perRow := allocs / 5000; perRow > 0.1 {
			t.Errorf("Validate with %d workers: %.2f allocations per row, want almost none", workers, perRow)
		}
	}
}

// errReader fails after n bytes.
type errReader struct {
	r io.Reader
	n int
}

var errDisk = errors.New("disk on fire")

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errDisk
	}
	p = p[:min(len(p), e.n)]
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

func TestValidateReadErrorAndCancel(t *testing.T) {
	var b bytes.Buffer
	if err := txgen.Write(&b, txgen.Options{Rows: 50000, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2, 4} {
		_, err := csvschema.ValidateWith(context.Background(), &errReader{r: bytes.NewReader(b.Bytes()), n: b.Len() / 2}, csvschema.Options{Workers: workers})
		if !errors.Is(err, errDisk) {
			t.Errorf("workers %d: read error: Validate = %v, want %v", workers, err, errDisk)
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		_, err = csvschema.ValidateWith(ctx, bytes.NewReader(b.Bytes()), csvschema.Options{Workers: workers, Progress: func(int64) {
			if calls++; calls == 2 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("workers %d: cancelled: Validate = %v, want context.Canceled", workers, err)
		}
		cancel()
	}
}

// TestWorkersAgreeOnDuplicates validates a file with duplicate ids spread
// over many batches with one worker, several, and without seeking (exact
// mode): the reports must be the same, error for error.
func TestWorkersAgreeOnDuplicates(t *testing.T) {
	var b bytes.Buffer
	if err := txgen.Write(&b, txgen.Options{Rows: 60_000, Seed: 7, BadShare: 0.02}); err != nil {
		t.Fatal(err)
	}
	// and ids repeated far apart, across batches
	lines := strings.SplitAfter(b.String(), "\n")
	for i := 100; i < 600; i += 50 {
		lines = append(lines, lines[i])
	}
	data := []byte(strings.Join(lines, ""))
	run := func(r io.Reader, workers int) *csvschema.Report {
		rep, err := csvschema.ValidateWith(context.Background(), r, csvschema.Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	want := run(bytes.NewReader(data), 1)
	dups := 0
	for _, e := range want.Errors {
		if errors.Is(e, csvschema.ErrDuplicateID) {
			dups++
		}
	}
	if dups < 10 {
		t.Fatalf("only %d duplicate errors among the first %d: the test needs more", dups, len(want.Errors))
	}
	for _, c := range []struct {
		name string
		r    io.Reader
		w    int
	}{{"2 workers", bytes.NewReader(data), 2}, {"4 workers", bytes.NewReader(data), 4}, {"exact, 3 workers", onlyReader{bytes.NewReader(data)}, 3}} {
		got := run(c.r, c.w)
		if got.Rows != want.Rows || got.ErrorCount != want.ErrorCount || len(got.Errors) != len(want.Errors) {
			t.Fatalf("%s: rows %d errors %d, want rows %d errors %d", c.name, got.Rows, got.ErrorCount, want.Rows, want.ErrorCount)
		}
		for i := range want.Errors {
			if g, w := got.Errors[i], want.Errors[i]; g.Line != w.Line || g.Err.Error() != w.Err.Error() {
				t.Fatalf("%s: error %d is %v, want %v", c.name, i, g, w)
			}
		}
	}
}
