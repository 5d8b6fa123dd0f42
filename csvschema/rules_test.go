package csvschema_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// want is one expected error: its line, column and sentinel.
type want struct {
	line int
	col  string
	err  error
}

func (w want) String() string { return fmt.Sprintf("line %d %s: %v", w.line, w.col, w.err) }

// TestRules has a case per rule of the contract's CSV schema, each a file in
// testdata/rules. Every case is checked both with a file (two-pass duplicate
// check) and with a plain reader (ids kept in memory).
func TestRules(t *testing.T) {
	const (
		id, amt, cur, ts, mer, st = "transaction_id", "amount", "currency", "timestamp", "merchant", "status"
	)
	tests := []struct {
		file  string
		rows  int64
		count int64 // 0: len(errs)
		errs  []want
	}{
		// header: by name, case-insensitive, surrounding spaces ignored, any order
		{"header_any_order.csv", 1, 0, nil},
		{"header_missing.csv", 0, 0, []want{{1, st, csvschema.ErrMissingColumn}}},
		{"header_unknown.csv", 0, 0, []want{{1, "note", csvschema.ErrUnknownColumn}}},
		{"header_repeated.csv", 0, 0, []want{{1, amt, csvschema.ErrDuplicateColumn}}},
		{"empty.csv", 0, 0, []want{{1, "", csvschema.ErrNoHeader}}},
		{"only_blank.csv", 0, 0, []want{{1, "", csvschema.ErrNoHeader}}},
		// a file with no data rows is rejected
		{"header_only.csv", 0, 0, []want{{1, "", csvschema.ErrNoTransactions}}},
		{"header_and_blank.csv", 0, 0, []want{{1, "", csvschema.ErrNoTransactions}}},
		// values are trimmed; blank lines and lines of spaces are ignored but counted
		{"trimming.csv", 1, 0, nil},
		{"blank_lines.csv", 2, 0, []want{{6, amt, csvschema.ErrBadAmount}}},
		// control characters (but tab) are rejected
		{"control_chars.csv", 4, 0, []want{{2, mer, csvschema.ErrControlChar}, {4, id, csvschema.ErrControlChar}, {5, amt, csvschema.ErrBadAmount}}},
		// a record over 64 KiB is an error on its line; the lines it spans still count
		{"record_too_long.csv", 2, 0, []want{{2, "", csvschema.ErrRecordTooLong}, {4, amt, csvschema.ErrBadAmount}}},
		// UTF-8 with an optional BOM
		{"bom.csv", 1, 0, nil},
		{"not_utf8.csv", 2, 0, []want{{2, mer, csvschema.ErrNotUTF8}}},
		// RFC 4180 quoting; a quoted line end is a control character in a value, and the record's lines count
		{"quoting.csv", 2, 0, []want{{3, amt, csvschema.ErrBadAmount}}},
		{"quoted_newline.csv", 2, 0, []want{{2, mer, csvschema.ErrControlChar}, {4, amt, csvschema.ErrBadAmount}}},
		{"malformed.csv", 3, 0, []want{{2, mer, csvschema.ErrMalformed}, {3, mer, csvschema.ErrMalformed}, {4, mer, csvschema.ErrMalformed}}},
		// LF or CRLF
		{"crlf.csv", 2, 0, nil},
		{"field_count.csv", 2, 0, []want{{2, "", csvschema.ErrFieldCount}, {3, "", csvschema.ErrFieldCount}}},
		// amount: plain decimal, >= 0, at most the minor-unit digits, fits int64 in minor units
		{"amount_valid.csv", 7, 0, nil},
		{"amount_invalid.csv", 15, 0, []want{
			{2, amt, csvschema.ErrBadAmount}, {3, amt, csvschema.ErrBadAmount}, {4, amt, csvschema.ErrBadAmount},
			{5, amt, csvschema.ErrBadAmount}, {6, amt, csvschema.ErrBadAmount}, {7, amt, csvschema.ErrBadAmount},
			{8, amt, csvschema.ErrBadAmount}, {9, amt, csvschema.ErrBadAmount}, {10, amt, csvschema.ErrBadAmount},
			{11, amt, csvschema.ErrBadAmount}, {12, amt, csvschema.ErrEmpty}, {13, amt, csvschema.ErrBadAmount},
			{14, amt, csvschema.ErrBadAmount}, {15, amt, csvschema.ErrBadAmount}, {16, amt, csvschema.ErrBadAmount},
		}},
		// currency: current ISO 4217 list one, case-insensitive; withdrawn and unit-less codes rejected
		{"currency_valid.csv", 4, 0, nil},
		{"currency_invalid.csv", 9, 0, []want{
			{2, cur, csvschema.ErrBadCurrency}, {3, cur, csvschema.ErrBadCurrency}, {4, cur, csvschema.ErrBadCurrency},
			{5, cur, csvschema.ErrBadCurrency}, {6, cur, csvschema.ErrBadCurrency}, {7, cur, csvschema.ErrBadCurrency},
			{8, cur, csvschema.ErrBadCurrency}, {9, cur, csvschema.ErrBadCurrency}, {10, cur, csvschema.ErrEmpty},
		}},
		// timestamp: RFC 3339 with a zone
		{"timestamp_valid.csv", 4, 0, nil},
		{"timestamp_invalid.csv", 12, 0, []want{
			{2, ts, csvschema.ErrBadTimestamp}, {3, ts, csvschema.ErrBadTimestamp}, {4, ts, csvschema.ErrBadTimestamp},
			{5, ts, csvschema.ErrBadTimestamp}, {6, ts, csvschema.ErrBadTimestamp}, {7, ts, csvschema.ErrBadTimestamp},
			{8, ts, csvschema.ErrBadTimestamp}, {9, ts, csvschema.ErrBadTimestamp}, {10, ts, csvschema.ErrBadTimestamp},
			{11, ts, csvschema.ErrBadTimestamp}, {12, ts, csvschema.ErrEmpty},
			{13, ts, csvschema.ErrBadTimestamp}, // 10 fractional digits: more than are stored
		}},
		// status
		{"status.csv", 5, 0, []want{{5, st, csvschema.ErrBadStatus}, {6, st, csvschema.ErrEmpty}}},
		// id at most 128 bytes, merchant at most 256, both non-empty
		{"lengths.csv", 5, 0, []want{{3, id, csvschema.ErrTooLong}, {4, mer, csvschema.ErrTooLong}, {5, id, csvschema.ErrEmpty}, {6, mer, csvschema.ErrEmpty}}},
		// duplicate ids, after trimming and case-sensitive, on the second and later occurrences
		{"duplicates.csv", 5, 0, []want{{4, id, csvschema.ErrDuplicateID}, {5, id, csvschema.ErrDuplicateID}}},
		// the first 100 errors are kept, with the total count
		{"many_errors.csv", 150, 150, manyErrors(amt)},
	}
	for _, tt := range tests {
		for _, mode := range []string{"file", "stream"} {
			t.Run(tt.file+"/"+mode, func(t *testing.T) {
				f, err := os.Open(filepath.Join("testdata", "rules", tt.file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var r io.Reader = f
				if mode == "stream" {
					r = onlyReader{f}
				}
				rep, err := csvschema.Validate(context.Background(), r)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				count := tt.count
				if count == 0 {
					count = int64(len(tt.errs))
				}
				if got := rep.Valid(); got != (count == 0) {
					t.Errorf("Valid() = %v, want %v", got, count == 0)
				}
				if rep.Rows != tt.rows {
					t.Errorf("Rows = %d, want %d", rep.Rows, tt.rows)
				}
				if rep.ErrorCount != count {
					t.Errorf("ErrorCount = %d, want %d", rep.ErrorCount, count)
				}
				if len(rep.Errors) != len(tt.errs) {
					t.Errorf("got %d errors, want %d:\n%s", len(rep.Errors), len(tt.errs), dump(rep))
					return
				}
				for i, w := range tt.errs {
					e := rep.Errors[i]
					if e.Line != w.line || e.Column != w.col || !errors.Is(e, w.err) {
						t.Errorf("error %d = %v, want %v", i, e, w)
					}
				}
			})
		}
	}
}

func manyErrors(col string) []want {
	var ws []want
	for i := 0; i < txpipe.MaxReportedErrors; i++ {
		ws = append(ws, want{i + 2, col, csvschema.ErrBadAmount})
	}
	return ws
}

func dump(rep *csvschema.Report) string {
	var b strings.Builder
	for _, e := range rep.Errors {
		fmt.Fprintf(&b, "\t%v\n", e)
	}
	return b.String()
}

// TestNormalise checks the normalised values the decoder yields.
func TestNormalise(t *testing.T) {
	tests := []struct {
		file string
		want []txpipe.Transaction
	}{
		{"amount_valid.csv", []txpipe.Transaction{
			{ID: "t1", Amount: "99.90", AmountMinor: 9990, Currency: "USD"},
			{ID: "t2", Amount: "1500", AmountMinor: 1500, Currency: "JPY"},
			{ID: "t3", Amount: "0.50", AmountMinor: 50, Currency: "USD"},
			{ID: "t4", Amount: "1.234", AmountMinor: 1234, Currency: "BHD"},
			{ID: "t5", Amount: "7.50", AmountMinor: 750, Currency: "EUR"},
			{ID: "t6", Amount: "92233720368547758.07", AmountMinor: 9223372036854775807, Currency: "USD"},
			{ID: "t7", Amount: "0.0000", AmountMinor: 0, Currency: "CLF"},
		}},
		{"trimming.csv", []txpipe.Transaction{{ID: "t1", Amount: "99.99", AmountMinor: 9999, Currency: "USD", Merchant: "Shop", Status: "completed"}}},
		{"quoting.csv", []txpipe.Transaction{{ID: "t1", Merchant: `Shop, "The" Best`}}},
		{"currency_valid.csv", []txpipe.Transaction{{Currency: "USD"}, {Currency: "XCG"}, {Currency: "VES"}, {Currency: "ZWG"}}},
		{"status.csv", []txpipe.Transaction{{Status: "completed"}, {Status: "pending"}, {Status: "failed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			txs := decodeFile(t, tt.file)
			for i, w := range tt.want {
				if i >= len(txs) {
					t.Fatalf("only %d rows decoded", len(txs))
				}
				g := txs[i]
				if w.ID != "" && g.ID != w.ID {
					t.Errorf("row %d: ID = %q, want %q", i, g.ID, w.ID)
				}
				if w.Amount != "" && (g.Amount != w.Amount || g.AmountMinor != w.AmountMinor) {
					t.Errorf("row %d: amount = %q (%d), want %q (%d)", i, g.Amount, g.AmountMinor, w.Amount, w.AmountMinor)
				}
				if w.Currency != "" && g.Currency != w.Currency {
					t.Errorf("row %d: Currency = %q, want %q", i, g.Currency, w.Currency)
				}
				if w.Merchant != "" && g.Merchant != w.Merchant {
					t.Errorf("row %d: Merchant = %q, want %q", i, g.Merchant, w.Merchant)
				}
				if w.Status != "" && g.Status != w.Status {
					t.Errorf("row %d: Status = %q, want %q", i, g.Status, w.Status)
				}
			}
		})
	}
	t.Run("timestamps", func(t *testing.T) {
		txs := decodeFile(t, "timestamp_valid.csv")
		want := []string{"2024-01-15T08:30:00Z", "2024-03-01T05:29:59.123456789Z", "2024-01-15T10:30:00Z", "2023-12-31T23:30:00.5Z"}
		for i, w := range want {
			if got := txs[i].Timestamp.Format(time.RFC3339Nano); got != w || txs[i].Timestamp.Location() != time.UTC {
				t.Errorf("row %d: timestamp = %s (%v), want %s UTC", i, got, txs[i].Timestamp.Location(), w)
			}
		}
	})
}

func decodeFile(t *testing.T, name string) []txpipe.Transaction {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "rules", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := csvschema.NewDecoder(f)
	var txs []txpipe.Transaction
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if err == io.EOF {
			return txs
		}
		var re *csvschema.RowError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		txs = append(txs, tx)
	}
}
