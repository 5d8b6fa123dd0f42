package csvschema_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/txpipe/txpipe/csvschema"
)

// benchProfile reads benchBankFile: German headers, semicolons,
// Windows-1252, decimal commas with digit groups, local times in Berlin,
// an extra column.
var benchProfile = &csvschema.Profile{
	Delimiter: ";", Encoding: "windows-1252",
	Columns: map[string]string{"transaction_id": "Buchungsreferenz", "amount": "Betrag", "currency": "Währung",
		"timestamp": "Buchungstag", "merchant": "Empfänger", "status": "Status"},
	Amount:             csvschema.AmountFormat{Decimal: ",", Thousands: "."},
	Time:               csvschema.TimeFormat{Layout: "02.01.2006 15:04:05", Timezone: "Europe/Berlin"},
	IgnoreExtraColumns: true,
}

// benchBankFile is the benchmark file rewritten as a bank's export: the
// same rows (merchants Windows-1252 cannot hold get '?', times lose their
// fraction), cached in the temp dir like the plain one.
func benchBankFile(b *testing.B) (path string, rows int, size int64) {
	b.Helper()
	plain, rows, _ := benchFile(b)
	path = filepath.Join(os.TempDir(), fmt.Sprintf("txpipe-bench-%d-seed1-v1-bank1252.csv", rows))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, rows, st.Size()
	}
	in, err := os.Open(plain)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(os.TempDir(), "txpipe-bench-*.tmp")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(charmap.Windows1252.NewEncoder().Writer(tmp))
	r := csv.NewReader(in)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if _, err := r.Read(); err != nil { // header
		b.Fatal(err)
	}
	w.WriteString("Buchungstag;Buchungsreferenz;Empfänger;Verwendungszweck;Betrag;Währung;Status\r\n")
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, rec[3])
		if err != nil {
			b.Fatal(err)
		}
		merchant := strings.Map(func(r rune) rune {
			if _, ok := charmap.Windows1252.EncodeRune(r); !ok {
				return '?'
			}
			return r
		}, rec[4])
		if strings.ContainsAny(merchant, ";\"") {
			merchant = `"` + strings.ReplaceAll(merchant, `"`, `""`) + `"`
		}
		fmt.Fprintf(w, "%s;%s;%s;Kartenzahlung;%s;%s;%s\r\n", ts.In(berlin).Format("02.01.2006 15:04:05"), rec[0], merchant,
			germanAmount(rec[1]), rec[2], rec[5])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, rows, st.Size()
}

// BenchmarkValidateBankProfile is Validate of the bank export under its
// profile: decoding, semicolons, digit groups and local times. Compare its
// rows/s with BenchmarkValidate's (issue 14 asks for at least 70%).
func BenchmarkValidateBankProfile(b *testing.B) {
	path, rows, size := benchBankFile(b)
	validate := func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rep, err := csvschema.ValidateWith(context.Background(), f, csvschema.Options{Format: csvschema.Format{Profile: benchProfile}})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rows != int64(rows) {
			b.Fatalf("report: rows %d, want %d; %v", rep.Rows, rows, rep.Errors)
		}
		if !rep.Valid() {
			// Rows whose times fall in the hour summer time repeats or
			// skips can be wrong in local time; anything else is a bug.
			for _, e := range rep.Errors {
				if e.Column != "timestamp" && e.Column != "transaction_id" {
					b.Fatalf("unexpected error: %v", e)
				}
			}
		}
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		validate()
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	report(b, rows, size, cpu)
	allocsPerRow(b, rows, validate)
}
