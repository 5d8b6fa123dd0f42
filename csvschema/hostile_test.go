package csvschema_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// repeatReader yields n copies of one byte without holding them.
type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = r.b
	}
	r.n -= len(p)
	return len(p), nil
}

// TestHugeFieldAndLine feeds a 20 MiB quoted field spanning lines and a
// 20 MiB line: each is rejected on its own line, the rows after them keep
// their line numbers, and memory does not grow with them.
func TestHugeFieldAndLine(t *testing.T) {
	const size = 20 << 20
	const header = "transaction_id,amount,currency,timestamp,merchant,status\n"
	input := func() io.Reader {
		return io.MultiReader(
			strings.NewReader(header+"t1,1,USD,2024-01-15T10:30:00Z,\"big\n"),
			&repeatReader{b: 'x', n: size},
			strings.NewReader("\",completed\nt2,-1,USD,2024-01-15T10:30:00Z,shop,completed\nt3,1,USD,2024-01-15T10:30:00Z,"),
			&repeatReader{b: 'y', n: size},
			strings.NewReader(",completed\nt4,-1,USD,2024-01-15T10:30:00Z,shop,completed\n"),
		)
	}
	for _, workers := range []int{1, 2} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rep, err := csvschema.ValidateWith(context.Background(), input(), csvschema.Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		want := []struct {
			line int
			err  error
		}{{2, csvschema.ErrRecordTooLong}, {4, csvschema.ErrBadAmount}, {5, csvschema.ErrRecordTooLong}, {6, csvschema.ErrBadAmount}}
		if rep.Rows != 4 || len(rep.Errors) != len(want) {
			t.Fatalf("workers %d: rows %d, errors %v", workers, rep.Rows, rep.Errors)
		}
		for i, w := range want {
			if e := rep.Errors[i]; e.Line != w.line || !errors.Is(e, w.err) {
				t.Errorf("workers %d: error %d = %v, want line %d %v", workers, i, e, w.line, w.err)
			}
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("workers %d: allocated %d MiB for two 20 MiB records", workers, alloc>>20)
		}
	}
	// the decoder too
	d := csvschema.NewDecoder(input())
	var lines []int
	for {
		err := d.Decode(new(txpipe.Transaction))
		if err == io.EOF {
			break
		}
		var re *csvschema.RowError
		if !errors.As(err, &re) {
			t.Fatalf("Decode: %v", err)
		}
		lines = append(lines, re.Line)
	}
	if got := len(lines); got != 4 || lines[0] != 2 || lines[2] != 5 {
		t.Errorf("decoder error lines = %v, want [2 4 5 6]", lines)
	}
}

// A record of exactly 64 KiB ending in CRLF is accepted however the reader
// splits it, even when a read ends between its CR and its LF.
func TestRecordOfExactlyTheCapWithCRLF(t *testing.T) {
	head := "transaction_id,amount,currency,timestamp,merchant,status\r\n"
	pad := csvschema.MaxRecordBytes - len("t1,1.00,USD,2026-01-01T00:00:00Z,Shop,completed")
	row := "t1,1.00,USD,2026-01-01T00:00:00Z,Shop" + strings.Repeat(" ", pad) + ",completed"
	if len(row) != csvschema.MaxRecordBytes {
		t.Fatalf("row of %d bytes", len(row))
	}
	file := head + row + "\r\n" + "t2,2.00,USD,2026-01-01T00:00:00Z,Shop,completed\r\n"
	for name, r := range map[string]io.Reader{
		"whole":     strings.NewReader(file),
		"byte-wise": iotest.OneByteReader(strings.NewReader(file)),
	} {
		dec := csvschema.NewDecoder(r)
		n := 0
		for {
			var tx txpipe.Transaction
			err := dec.Decode(&tx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: line %d: %v", name, dec.Line(), err)
			}
			n++
		}
		if n != 2 {
			t.Errorf("%s: %d rows, want 2", name, n)
		}
	}
}

// Fractional seconds of up to 9 digits are kept exactly; more are rejected
// with a clear error rather than silently cut to nanoseconds.
func TestLongFractionalSeconds(t *testing.T) {
	const head = "transaction_id,amount,currency,timestamp,merchant,status\n"
	dec := csvschema.NewDecoder(strings.NewReader(head + "t1,1.00,USD,2024-01-15T10:30:00.123456789Z,Shop,completed\n"))
	var tx txpipe.Transaction
	if err := dec.Decode(&tx); err != nil || tx.Timestamp.Nanosecond() != 123456789 {
		t.Fatalf("Decode = %v, %v; want .123456789", tx.Timestamp, err)
	}
	rep, err := csvschema.Validate(context.Background(), strings.NewReader(head+"t1,1.00,USD,2024-01-15T10:30:00.1234567891Z,Shop,completed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Valid() {
		t.Fatal("a timestamp with 10 fractional digits is valid, want rejected")
	}
	items := rep.Items()
	if len(items) != 1 || items[0].Column != "timestamp" || !strings.Contains(items[0].Message, "more than 9 fractional digits") {
		t.Errorf("errors = %+v, want one timestamp error naming the 9 digits", items)
	}
}
