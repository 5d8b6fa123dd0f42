package csvschema_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
	_ "github.com/txpipe/txpipe/xlsx" // reads the .xlsx dialect
)

// dialectTx are the 20 transactions every file of testdata/dialects holds,
// whatever its separator, encoding or layout.
var dialectTx = func() []txpipe.Transaction {
	merchants := []string{"Café Zürich", "Bäckerei Müller", "Amazon EU", "Crêperie Ménard", "Señor Taco",
		"REWE Markt", "Deutsche Bahn", "Spotify", "Apotheke am Markt", "Hôtel Étoile"}
	statuses := []string{txpipe.TxCompleted, txpipe.TxPending, txpipe.TxFailed}
	amounts := []string{"12.50", "1234.56", "0.99", "1000000.00", "45.00", "7.05", "250.10", "99.99", "3.00", "18240.75"}
	var txs []txpipe.Transaction
	base := time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)
	for i := range 20 {
		ts := base.AddDate(0, 0, 11*i).Add(time.Duration(i*37) * time.Minute) // crosses the summer-time change
		txs = append(txs, txpipe.Transaction{
			ID: fmt.Sprintf("BK-2024-%04d", i+1), Amount: amounts[i%10], Currency: "EUR", Timestamp: ts,
			Merchant: merchants[i%10], Status: statuses[i%3],
		})
	}
	txs[3].Currency, txs[7].Currency = "CHF", "USD"
	return txs
}()

var berlin, _ = time.LoadLocation("Europe/Berlin")

// dialectFiles are the variants of testdata/dialects: their bytes (written
// with -update) and the format an upload declares for them.
var dialectFiles = []struct {
	name    string
	format  csvschema.Format
	profile string // a profile file in testdata/dialects
	write   func() []byte
}{
	{name: "comma-utf8.csv", write: func() []byte { return commaFile(dialectTx) }},
	{name: "semicolon-windows1252.csv", format: csvschema.Format{Encoding: "windows-1252"}, profile: "bank.profile.yaml", write: func() []byte {
		var b bytes.Buffer
		b.WriteString("Buchungstag;Buchungsreferenz;Empfänger;Verwendungszweck;Betrag;Währung;Status\r\n")
		st := map[string]string{txpipe.TxCompleted: "Gebucht", txpipe.TxPending: "Vorgemerkt", txpipe.TxFailed: "Abgelehnt"}
		for _, tx := range dialectTx {
			fmt.Fprintf(&b, "%s;%s;%s;Kartenzahlung %s;%s;%s;%s\r\n", tx.Timestamp.In(berlin).Format("02.01.2006 15:04:05"), tx.ID,
				tx.Merchant, tx.ID[8:], germanAmount(tx.Amount), tx.Currency, st[tx.Status])
		}
		out, err := charmap.Windows1252.NewEncoder().Bytes(b.Bytes())
		if err != nil {
			panic(err)
		}
		return out
	}},
	{name: "tab-utf16le-bom.csv", write: func() []byte {
		s := strings.ReplaceAll(string(commaFile(dialectTx)), ",", "\t")
		out, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
		if err != nil {
			panic(err)
		}
		return out
	}},
	{name: "sheet.xlsx", write: writeXLSX},
	{name: "pipe-utf16be-bom.csv", write: func() []byte {
		s := strings.ReplaceAll(string(commaFile(dialectTx)), ",", "|")
		out, err := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
		if err != nil {
			panic(err)
		}
		return out
	}},
}

func commaFile(txs []txpipe.Transaction) []byte {
	var b bytes.Buffer
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for _, tx := range txs {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s\n", tx.ID, tx.Amount, tx.Currency, tx.Timestamp.Format(time.RFC3339), tx.Merchant, tx.Status)
	}
	return b.Bytes()
}

// germanAmount writes 1234.56 as 1.234,56.
func germanAmount(a string) string {
	intPart, frac, _ := strings.Cut(a, ".")
	var groups []string
	for len(intPart) > 3 {
		groups = append([]string{intPart[len(intPart)-3:]}, groups...)
		intPart = intPart[:len(intPart)-3]
	}
	groups = append([]string{intPart}, groups...)
	if frac == "" {
		return strings.Join(groups, ".")
	}
	return strings.Join(groups, ".") + "," + frac
}

func dialectFormat(t *testing.T, f csvschema.Format, prof string) csvschema.Format {
	t.Helper()
	if prof != "" {
		data, err := os.ReadFile(filepath.Join("testdata", "dialects", prof))
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		f.Profile = p
	}
	return f
}

// TestDialectsSameTransactions: every variant validates, reports how it was
// read, and decodes to exactly the same 20 transactions.
func TestDialectsSameTransactions(t *testing.T) {
	dir := filepath.Join("testdata", "dialects")
	wantDialect := map[string]txpipe.Dialect{
		"comma-utf8.csv":            {Delimiter: ",", Encoding: "utf-8"},
		"semicolon-windows1252.csv": {Delimiter: ";", Encoding: "windows-1252"},
		"tab-utf16le-bom.csv":       {Delimiter: "\t", Encoding: "utf-16le", BOM: true},
		"pipe-utf16be-bom.csv":      {Delimiter: "|", Encoding: "utf-16be", BOM: true},
		"sheet.xlsx":                {Encoding: "xlsx", Sheet: "Umsätze"},
	}
	for _, v := range dialectFiles {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join(dir, v.name)
			if *update && v.write == nil {
				t.Logf("%s not rewritten: excelize writes it under the integration tag (go test -tags integration ./csvschema -update)", v.name)
			} else if *update {
				if err := os.WriteFile(path, v.write(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./csvschema -update writes it)", err)
			}
			f := dialectFormat(t, v.format, v.profile)
			for _, workers := range []int{1, 3} {
				rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(data), csvschema.Options{Format: f, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Valid() || rep.Rows != 20 {
					t.Fatalf("workers %d: valid %v, %d rows: %v", workers, rep.Valid(), rep.Rows, rep.Items())
				}
				if rep.Dialect != wantDialect[v.name] {
					t.Errorf("dialect %+v, want %+v", rep.Dialect, wantDialect[v.name])
				}
			}
			// The transform step reads with the delimiter the intake detected.
			f.Delimiter, f.Sheet = wantDialect[v.name].Delimiter, wantDialect[v.name].Sheet
			got := decodeTxs(t, csvschema.NewDecoderFormat(bytes.NewReader(data), f))
			if len(got) != len(dialectTx) {
				t.Fatalf("%d transactions, want %d", len(got), len(dialectTx))
			}
			for i, tx := range got {
				want := dialectTx[i]
				want.Timestamp = want.Timestamp.UTC()
				want.AmountMinor, _ = strconv.ParseInt(strings.ReplaceAll(want.Amount, ".", ""), 10, 64)
				if tx != want {
					t.Errorf("row %d: got %+v\nwant %+v", i+1, tx, want)
				}
			}
		})
	}
}

func decodeTxs(t *testing.T, d *csvschema.Decoder) []txpipe.Transaction {
	t.Helper()
	var out []txpipe.Transaction
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, tx)
	}
}

// TestDialectErrors: each malformed variant gets one clear error on the
// line where it is.
func TestDialectErrors(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("testdata", "dialects", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	bank := read("semicolon-windows1252.csv")
	bankProfile := dialectFormat(t, csvschema.Format{}, "bank.profile.yaml").Profile
	undeclared := *bankProfile
	undeclared.Encoding = ""
	missing := *bankProfile
	missing.Columns = map[string]string{"transaction_id": "Buchungsreferenz", "amount": "Umsatz", "currency": "Währung",
		"timestamp": "Buchungstag", "merchant": "Empfänger"}
	utf8Bank, _ := charmap.Windows1252.NewDecoder().Bytes(bank)
	cases := []struct {
		name   string
		data   []byte
		format csvschema.Format
		want   []string // errors, as Error() prints them, in order
	}{
		{
			name: "Windows-1252 read as UTF-8", data: bank, format: csvschema.Format{Profile: &undeclared},
			want: []string{`line 1: not valid UTF-8: if the file is Windows-1252 or ISO-8859-1, declare its encoding (--encoding, form field encoding) (value "Buchungstag;Buchungsreferenz;Empf�nger;Verwendungszweck;Betrag;W…")`},
		},
		{
			name: "profile naming a missing column", data: bank, format: csvschema.Format{Encoding: "windows-1252", Profile: &missing},
			want: []string{`line 1, column amount: missing column: the profile reads amount from the header "Umsatz", which the file does not have`},
		},
		{
			name: "decimal comma without a profile", data: []byte("transaction_id;amount;currency;timestamp;merchant;status\nA1;12,50;EUR;2024-01-15T10:30:00Z;Shop;completed\n"),
			want: []string{`line 2, column amount: invalid amount: not a plain decimal such as 99.99; a decimal comma or thousands separator is read only under a profile that declares it (amount: {decimal: ",", thousands: "."}) (value "12,50")`},
		},
		{
			name: "semicolon file forced to comma", data: []byte("transaction_id;amount;currency;timestamp;merchant;status\nA1;12.50;EUR;2024-01-15T10:30:00Z;Shop;completed\n"),
			format: csvschema.Format{Delimiter: ","},
			want:   []string{`line 1: wrong separator: the header is one column when split on ","; it splits on ";": the file's separator is likely ";" (leave the delimiter to detection, or declare ";") (value "transaction_id;amount;currency;timestamp;merchant;status")`},
		},
		{
			name: "tab file forced to comma", data: []byte("transaction_id\tamount\tcurrency\ttimestamp\tmerchant\tstatus\n"),
			format: csvschema.Format{Delimiter: ","},
			want:   []string{`line 1: wrong separator: the header is one column when split on ","; it splits on tab: the file's separator is likely tab (leave the delimiter to detection, or declare tab) (value "transaction_id\tamount\tcurrency\ttimestamp\tmerchant\tstatus")`},
		},
		{
			name: "UTF-8 BOM declared Windows-1252", data: append([]byte("\xEF\xBB\xBF"), utf8Bank...), format: csvschema.Format{Encoding: "cp1252"},
			want: []string{`line 1: encoding mismatch: the file starts with the byte-order mark of utf-8 but windows-1252 was declared`},
		},
		{
			name: "amount not in the profile's format", format: csvschema.Format{Profile: &csvschema.Profile{Amount: csvschema.AmountFormat{Decimal: ",", Thousands: "."}}},
			data: []byte("transaction_id,amount,currency,timestamp,merchant,status\nA1,\"1.23,45\",EUR,2024-01-15T10:30:00Z,Shop,completed\n"),
			want: []string{`line 2, column amount: invalid amount: not a decimal in the profile's format, such as 1.234,56 (value "1.23,45")`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(c.data), csvschema.Options{Format: c.format})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range rep.Errors {
				got = append(got, e.Error())
			}
			if len(got) > len(c.want) {
				got = got[:len(c.want)]
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestFormatCheck(t *testing.T) {
	for _, f := range []csvschema.Format{{Encoding: "ebcdic"}, {Delimiter: ":"}, {Profile: &csvschema.Profile{Constants: map[string]string{"amount": "1"}}}} {
		_, err := csvschema.ValidateWith(context.Background(), strings.NewReader("x\n"), csvschema.Options{Format: f})
		if !errors.Is(err, csvschema.ErrFormat) {
			t.Errorf("%+v: %v, want ErrFormat", f, err)
		}
	}
}

// TestProfileConstants: constants fill absent fields; a time zone applies
// to a layout without one.
func TestProfileConstants(t *testing.T) {
	p := &csvschema.Profile{
		Columns:   map[string]string{"transaction_id": "Ref", "amount": "Betrag", "timestamp": "Datum", "merchant": "Name"},
		Constants: map[string]string{"currency": "eur", "status": "completed"},
		Amount:    csvschema.AmountFormat{Decimal: ","},
		Time:      csvschema.TimeFormat{Layout: "02.01.2006", Timezone: "Europe/Berlin"},
	}
	data := "Ref;Datum;Betrag;Name\nR1;15.01.2024;12,5;Shop\nR2;01.07.2024;3;Bar\n"
	d := csvschema.NewDecoderFormat(strings.NewReader(data), csvschema.Format{Profile: p})
	got := decodeTxs(t, d)
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	if g := got[0]; g.Amount != "12.50" || g.AmountMinor != 1250 || g.Currency != "EUR" || g.Status != "completed" ||
		!g.Timestamp.Equal(time.Date(2024, 1, 14, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("row 1: %+v", g)
	}
	if g := got[1]; !g.Timestamp.Equal(time.Date(2024, 6, 30, 22, 0, 0, 0, time.UTC)) || g.Amount != "3.00" {
		t.Errorf("row 2: %+v", g)
	}
}
