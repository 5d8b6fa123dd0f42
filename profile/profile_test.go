package profile_test

import (
	"os"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/profile"
)

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":                                       "empty document",
		"colums: {}\n":                           "line 1: field colums not found",
		"columns:\n  amount: [1, 2]\n":           "line 2",
		"columns:\n  amout: X\n":                 `columns: "amout" is not a field of the schema`,
		"columns: {amount: A, currency: A}\n":    `header "A" is mapped to`,
		"constants: {currency: EURO}\n":          "constants.currency",
		"constants: {amount: '1'}\n":             `"amount" cannot be a constant`,
		"amount: {decimal: ',', thousands: ','}": "the same as the decimal separator",
		"timestamp: {layout: 'dd.mm.yyyy'}\n":    "not a Go time layout",
		"timestamp: {timezone: Mars/Olympus}\n":  "not an IANA time zone",
		"encoding: ebcdic\n":                     "unknown encoding",
		"delimiter: ':'\n":                       "unknown delimiter",
		"statuses: {ok: done}\n":                 `statuses.ok: "done" is not completed`,
		"a: 1\n---\nb: 2\n":                      "field a not found",
		"{}\n---\n{}\n":                          "more than one YAML document",
		strings.Repeat("#", profile.MaxBytes+1):  "at most",
	}
	for in, want := range cases {
		_, err := profile.Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.40q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("../csvschema/testdata/dialects/bank.profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Columns["merchant"] != "Empfänger" || p.Statuses["Vorgemerkt"] != "pending" || p.Time.Timezone != "Europe/Berlin" {
		t.Fatalf("%+v", p)
	}
	out, err := profile.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(out)
	if err != nil {
		t.Fatalf("marshalled profile does not parse: %v\n%s", err, out)
	}
	if q.Columns["merchant"] != p.Columns["merchant"] || q.Amount != p.Amount || q.Time != p.Time {
		t.Fatalf("round trip: %+v", q)
	}
}

func TestSuggest(t *testing.T) {
	s := profile.Suggest([]string{"Datum", "Ref.", "Payee", "Amount (EUR)", "Notes"}, [][]string{{"15/01/2024", "R1", "Shop", "1,234.50", "x"}})
	if s.Profile.Columns["timestamp"] != "Datum" || s.Profile.Columns["transaction_id"] != "Ref." || s.Profile.Columns["merchant"] != "Payee" ||
		s.Profile.Columns["amount"] != "Amount (EUR)" {
		t.Fatalf("columns %v", s.Profile.Columns)
	}
	if s.Profile.Amount.Thousands != "," || s.Profile.Time.Layout != "02/01/2006" {
		t.Fatalf("formats %+v %+v", s.Profile.Amount, s.Profile.Time)
	}
	if strings.Join(s.Unmatched, ",") != "currency,status" || strings.Join(s.Extra, ",") != "Notes" {
		t.Fatalf("unmatched %v extra %v", s.Unmatched, s.Extra)
	}
	if _, err := profile.Parse([]byte(s.YAML())); err != nil {
		t.Fatalf("suggestion does not parse: %v\n%s", err, s.YAML())
	}
}

// FuzzParse: no panic on any input, and a profile that parses marshals to
// YAML that parses to the same rules.
func FuzzParse(f *testing.F) {
	data, _ := os.ReadFile("../csvschema/testdata/dialects/bank.profile.yaml")
	f.Add(data)
	f.Add([]byte("columns: {amount: Betrag}\nconstants: {currency: EUR}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := profile.Parse(in)
		if err != nil {
			return
		}
		out, err := profile.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := profile.Parse(out); err != nil {
			t.Fatalf("marshalled profile does not parse: %v\n%s", err, out)
		}
	})
}
