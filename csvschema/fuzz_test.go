package csvschema_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/txgen"
)

// onlyReader hides io.Seeker and io.ReaderAt, so Validate keeps the ids.
type onlyReader struct{ io.Reader }

// FuzzValidate checks, on any input: no panic; every error has a line and a
// reason, and the kept errors are ordered and bounded; the exact in-memory
// duplicate check agrees with the two-pass one; the parallel pass cutting
// the input into small chunks agrees with the one-worker pass; a valid file decodes into
// its rows, and once written back normalised it validates and decodes to
// the same transactions.
func FuzzValidate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.csv")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var gen bytes.Buffer
	if err := txgen.Write(&gen, txgen.Options{Rows: 30, Seed: 3, BadShare: 0.3}); err != nil {
		f.Fatal(err)
	}
	f.Add(gen.Bytes())
	f.Add([]byte("transaction_id,amount,currency,timestamp,merchant,status\nt1,1.5,USD,2024-01-01T00:00:00Z,m,completed\n"))
	f.Add([]byte("\xEF\xBB\xBFTRANSACTION_ID , status,merchant,timestamp,currency,amount\r\n\"a\"\"b\",pending,\"x,\ny\",2024-02-29T23:59:59.5-01:00,jpy,7\r\n"))
	defer csvschema.FixHashSeed()()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		rep, err := csvschema.Validate(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		checkReport(t, rep)
		seq, err := csvschema.ValidateWith(ctx, bytes.NewReader(data), csvschema.Options{Workers: 1})
		if err != nil {
			t.Fatalf("Validate with one worker: %v", err)
		}
		if seq.ErrorCount != rep.ErrorCount || seq.Rows != rep.Rows || len(seq.Errors) != len(rep.Errors) {
			t.Fatalf("one worker: rows %d errors %d; parallel: rows %d errors %d", seq.Rows, seq.ErrorCount, rep.Rows, rep.ErrorCount)
		}
		for i := range rep.Errors {
			if a, b := rep.Errors[i], seq.Errors[i]; a.Line != b.Line || a.Column != b.Column || a.Err.Error() != b.Err.Error() {
				t.Fatalf("error %d: parallel %v, one worker %v", i, a, b)
			}
		}
		// The parallel pass in small chunks (records split by the workers)
		// agrees with the one-worker pass, cuts included.
		seqCuts, err := csvschema.ValidateWith(ctx, bytes.NewReader(data), csvschema.Options{Workers: 1, CutEvery: 3})
		if err != nil {
			t.Fatalf("Validate with one worker, cutting: %v", err)
		}
		restore := csvschema.SetChunkLimit(1 + len(data)%61)
		chunked, err := csvschema.ValidateWith(ctx, bytes.NewReader(data), csvschema.Options{Workers: 2, CutEvery: 3})
		restore()
		if err != nil {
			t.Fatalf("Validate in small chunks: %v", err)
		}
		sameReport(t, "small chunks", chunked, seqCuts)
		rep2, err := csvschema.ValidateWith(ctx, onlyReader{bytes.NewReader(data)}, csvschema.Options{Workers: 3})
		if err != nil {
			t.Fatalf("Validate without seeking: %v", err)
		}
		if rep2.ErrorCount != rep.ErrorCount || rep2.Rows != rep.Rows || len(rep2.Errors) != len(rep.Errors) {
			t.Fatalf("one pass: rows %d errors %d; two passes: rows %d errors %d", rep2.Rows, rep2.ErrorCount, rep.Rows, rep.ErrorCount)
		}
		for i := range rep.Errors {
			a, b := rep.Errors[i], rep2.Errors[i]
			if a.Line != b.Line || a.Column != b.Column || a.Err.Error() != b.Err.Error() {
				t.Fatalf("error %d: two passes %v, one pass %v", i, a, b)
			}
		}
		if rep.Dialect.Delimiter == "," || rep.Dialect.Delimiter == "" {
			compareWithEncodingCSV(t, data)
		}
		if !rep.Valid() {
			return
		}
		txs := decodeAll(t, data)
		if int64(len(txs)) != rep.Rows {
			t.Fatalf("decoded %d rows, report has %d", len(txs), rep.Rows)
		}
		norm := writeNormalised(t, txs)
		rep3, err := csvschema.Validate(ctx, bytes.NewReader(norm))
		if err != nil || !rep3.Valid() || rep3.Rows != rep.Rows {
			t.Fatalf("normalised file: err %v, report %+v\n%s", err, rep3, norm)
		}
		txs2 := decodeAll(t, norm)
		for i := range txs {
			if txs[i] != txs2[i] {
				t.Fatalf("row %d: %+v, normalised %+v", i, txs[i], txs2[i])
			}
		}
	})
}

func checkReport(t *testing.T, rep *csvschema.Report) {
	t.Helper()
	if rep.ErrorCount < int64(len(rep.Errors)) || len(rep.Errors) > txpipe.MaxReportedErrors {
		t.Fatalf("ErrorCount %d, %d kept", rep.ErrorCount, len(rep.Errors))
	}
	if rep.ErrorCount > int64(len(rep.Errors)) && len(rep.Errors) != txpipe.MaxReportedErrors {
		t.Fatalf("ErrorCount %d but only %d kept", rep.ErrorCount, len(rep.Errors))
	}
	for i, e := range rep.Errors {
		if e.Line < 1 || e.Err == nil || e.Err.Error() == "" {
			t.Fatalf("error without line or reason: %#v", e)
		}
		if i > 0 && e.Line < rep.Errors[i-1].Line {
			t.Fatalf("errors not ordered by line: %d after %d", e.Line, rep.Errors[i-1].Line)
		}
		it := e.Item()
		if it.Message == "" || it.Line != e.Line {
			t.Fatalf("bad item %+v", it)
		}
	}
}

func decodeAll(t *testing.T, data []byte) []txpipe.Transaction {
	t.Helper()
	d := csvschema.NewDecoder(bytes.NewReader(data))
	var txs []txpipe.Transaction
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if err == io.EOF {
			return txs
		}
		if err != nil {
			t.Fatalf("Decode after %d rows of a valid file: %v", len(txs), err)
		}
		txs = append(txs, tx)
	}
}

// writeNormalised writes transactions as a CSV file of normalised values.
func writeNormalised(t *testing.T, txs []txpipe.Transaction) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"transaction_id", "amount", "currency", "timestamp", "merchant", "status"})
	for _, tx := range txs {
		w.Write([]string{tx.ID, tx.Amount, tx.Currency, tx.Timestamp.Format(time.RFC3339Nano), tx.Merchant, tx.Status})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compareWithEncodingCSV checks the record splitting against encoding/csv
// on inputs both should read alike: each record after the header gives one
// result from the decoder, on the same start line, and a valid row holds
// the trimmed fields encoding/csv read.
func compareWithEncodingCSV(t *testing.T, data []byte) {
	t.Helper()
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) || bytes.HasPrefix(data, []byte("\xFF\xFE")) || bytes.HasPrefix(data, []byte("\xFE\xFF")) {
		return
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	type rec struct {
		line   int
		fields []string
	}
	var recs []rec
	for {
		fields, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return // a syntax error: the engine reports its own
		}
		blank := len(fields) == 1 && strings.Trim(fields[0], " \t") == ""
		long := 0
		for _, f := range fields {
			long += len(f) + 1
		}
		if blank || long > csvschema.MaxRecordBytes-2*len(fields) {
			return // blank lines and long records are handled differently on purpose
		}
		line, _ := r.FieldPos(0)
		recs = append(recs, rec{line, fields})
	}
	if len(recs) < 2 {
		return
	}
	d := csvschema.NewDecoderFormat(bytes.NewReader(data), csvschema.Format{Delimiter: ","})
	var tx txpipe.Transaction
	for i, want := range recs[1:] {
		err := d.Decode(&tx)
		var he *csvschema.HeaderError
		if errors.As(err, &he) {
			return
		}
		if err == io.EOF {
			t.Fatalf("decoder ended after %d rows, encoding/csv read %d", i, len(recs)-1)
		}
		if d.Line() != want.line {
			t.Fatalf("row %d starts on line %d, encoding/csv says %d", i+1, d.Line(), want.line)
		}
		if err != nil {
			continue
		}
		got := map[string]bool{tx.ID: true, tx.Merchant: true}
		for _, f := range want.fields {
			delete(got, strings.Trim(f, " \t"))
		}
		if len(got) != 0 {
			t.Fatalf("row %d: id %q, merchant %q not among encoding/csv's fields %q", i+1, tx.ID, tx.Merchant, want.fields)
		}
	}
	if err := d.Decode(&tx); err != io.EOF {
		t.Fatalf("decoder has more rows than encoding/csv: %v", err)
	}
}

// FuzzDialect checks, on any input read with any separator, encoding and
// profile: no panic and no error but a read error; a well-formed report
// that one worker and many agree on; the dialect reported; and a valid
// file decodes, with the dialect the report gives, into as many rows.
func FuzzDialect(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/dialects/*.csv")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// The header and three rows: short inputs keep each run short (the
		// engine's minimisation of a new input costs runs in the square of
		// its length).
		b = headLines(b, 4)
		for _, sel := range []uint8{0, 1, 2, 3, 4, 5 * 4, 5 * 2, 128, 128 + 5*4 + 2} {
			f.Add(b, sel)
		}
	}
	f.Add([]byte("a;b,c\t|\"x;y\"\n"), uint8(0))
	f.Add([]byte("\xFF\xFEa\x00\n"), uint8(7))
	f.Add([]byte("\xFE\xFF\x00"), uint8(11))
	prof := &csvschema.Profile{
		Columns:            map[string]string{"amount": "Betrag", "timestamp": "Datum"},
		Constants:          map[string]string{"currency": "EUR"},
		Statuses:           map[string]string{"ok": "completed"},
		Amount:             csvschema.AmountFormat{Decimal: ",", Thousands: "."},
		Time:               csvschema.TimeFormat{Layout: "02.01.2006 15:04", Timezone: "Europe/Berlin"},
		IgnoreExtraColumns: true,
	}
	defer csvschema.FixHashSeed()()
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) { checkDialect(t, data, sel, prof) })
}

// headLines returns the first n lines of b, a text in UTF-8, a single-byte
// encoding or UTF-16 with its byte-order mark.
func headLines(b []byte, n int) []byte {
	step, nl := 1, []byte{'\n'}
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		step, nl = 2, []byte{'\n', 0}
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		step, nl = 2, []byte{0, '\n'}
	}
	for i := 0; i+len(nl) <= len(b); i += step {
		if bytes.Equal(b[i:i+len(nl)], nl) {
			if n--; n == 0 {
				return b[:i+len(nl)]
			}
		}
	}
	return b
}

// maxFuzzInput is the longest input FuzzDialect reads; the bytes after it
// are cut off, so the engine's minimisation cuts them first. It is past
// the scanner's first buffer (512 bytes), so the growth is covered; long
// records and many batches are FuzzValidate's.
const maxFuzzInput = 1 << 10

var (
	fuzzDelims = []string{"", ",", ";", "\t", "|"}
	fuzzEncs   = []string{"", "utf-8", "utf-16le", "utf-16be", "windows-1252", "iso-8859-1"}
)

func checkDialect(t *testing.T, data []byte, sel uint8, prof *csvschema.Profile) {
	if len(data) > maxFuzzInput {
		data = data[:maxFuzzInput]
	}
	ctx := context.Background()
	format := csvschema.Format{Delimiter: fuzzDelims[int(sel)%len(fuzzDelims)], Encoding: fuzzEncs[int(sel)/len(fuzzDelims)%len(fuzzEncs)]}
	if sel >= 128 {
		format.Profile = prof
	}
	rep, err := csvschema.ValidateWith(ctx, bytes.NewReader(data), csvschema.Options{Format: format})
	if err != nil {
		t.Fatalf("Validate %+v: %v", format, err)
	}
	checkReport(t, rep)
	seq, err := csvschema.ValidateWith(ctx, onlyReader{bytes.NewReader(data)}, csvschema.Options{Format: format, Workers: 1})
	if err != nil {
		t.Fatalf("Validate with one worker: %v", err)
	}
	if seq.ErrorCount != rep.ErrorCount || seq.Rows != rep.Rows || seq.Dialect != rep.Dialect {
		t.Fatalf("one worker: rows %d errors %d %+v; parallel: rows %d errors %d %+v", seq.Rows, seq.ErrorCount, seq.Dialect, rep.Rows, rep.ErrorCount, rep.Dialect)
	}
	if rep.Dialect.Encoding == "" {
		t.Fatalf("no encoding reported: %+v", rep.Dialect)
	}
	if !rep.Valid() {
		return
	}
	format.Delimiter = rep.Dialect.Delimiter
	d := csvschema.NewDecoderFormat(bytes.NewReader(data), format)
	var n int64
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Decode after %d rows of a valid file: %v", n, err)
		}
		n++
	}
	if n != rep.Rows {
		t.Fatalf("decoded %d rows, report has %d", n, rep.Rows)
	}
}
