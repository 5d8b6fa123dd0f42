package profile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// synonyms are header names that usually hold a field, normalised (see
// norm), in English, German, French, Spanish and Dutch bank and card exports.
// Built at first use, not at every start of the binaries.
var synonyms = sync.OnceValue(func() map[string][]string {
	return map[string][]string{
		"transaction_id": {"transactionid", "id", "txid", "txnid", "transactionnumber", "reference", "ref", "referencenumber",
			"buchungsreferenz", "referenz", "transaktionsid", "belegnummer", "buchungsnummer", "reference", "numerodoperation", "referencia", "kenmerk"},
		"amount":   {"amount", "betrag", "umsatz", "montant", "importe", "bedrag", "value", "sum", "total", "amountgross", "buchungsbetrag"},
		"currency": {"currency", "wahrung", "waehrung", "ccy", "cur", "devise", "monnaie", "moneda", "valuta", "currencycode"},
		"timestamp": {"timestamp", "date", "datetime", "time", "buchungstag", "buchungsdatum", "datum", "bookingdate", "transactiondate",
			"valuedate", "wertstellung", "dateoperation", "fecha", "createdat", "postedat"},
		"merchant": {"merchant", "payee", "empfanger", "empfaenger", "zahlungsempfanger", "beguenstigter", "begunstigter", "auftraggeber",
			"name", "description", "counterparty", "handler", "commercant", "beneficiaire", "comercio", "tegenpartij", "merchantname"},
		"status": {"status", "state", "zustand", "buchungsstatus", "statut", "estado"},
	}
})

var folds = strings.NewReplacer("ä", "a", "ö", "o", "ü", "u", "ß", "ss", "é", "e", "è", "e", "ê", "e", "à", "a", "ç", "c", "ñ", "n", "á", "a", "í", "i", "ó", "o", "ú", "u")

// norm lower-cases a header, folds common accents and keeps letters and digits.
func norm(s string) string {
	s = folds.Replace(strings.ToLower(strings.TrimSpace(s)))
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// score is how well header h names field f, 0 to 1.
func score(f, h string) float64 {
	n := norm(h)
	if n == "" {
		return 0
	}
	best := 0.0
	for _, s := range synonyms()[f] {
		var sc float64
		switch {
		case n == s:
			sc = 1
		case len(s) >= 4 && strings.Contains(n, s):
			sc = 0.8
		default:
			d := levenshtein(n, s)
			sc = 1 - float64(d)/float64(max(len(n), len(s)))
		}
		best = max(best, sc)
	}
	return best
}

// minScore is the least score that maps a header in a suggestion.
const minScore = 0.7

// Suggestion is a suggested profile and what it could not settle.
type Suggestion struct {
	Profile   csvschema.Profile
	Unmatched []string // fields no header matched
	Extra     []string // headers that match no field
	Guesses   []string // formats read off sample values, to check
	// StatusWords are sample values of the status column that are not
	// completed, pending or failed: each needs a line under statuses.
	StatusWords []string
}

// SuggestFor is Suggest for the first rows of a file as csvschema.Head
// read them, with the dialect it read them in (the encoding only when a
// byte-order mark does not say it).
func SuggestFor(rows [][]string, d txpipe.Dialect) *Suggestion {
	var s *Suggestion
	if len(rows) == 0 {
		s = Suggest(nil, nil)
	} else {
		s = Suggest(rows[0], rows[1:])
	}
	s.Profile.Delimiter = d.Delimiter
	if d.Encoding != csvschema.EncUTF8 && !d.BOM {
		s.Profile.Encoding = d.Encoding
	}
	return s
}

// Suggest maps headers to the schema's fields by fuzzy matching (known
// synonyms, then edit distance) and reads the amount and date formats off
// sample rows (each a slice parallel to headers; may be empty).
func Suggest(headers []string, samples [][]string) *Suggestion {
	type cand struct {
		f  string
		h  int
		sc float64
	}
	var cands []cand
	for _, f := range csvschema.Fields() {
		for i, h := range headers {
			if sc := score(f, h); sc >= minScore {
				cands = append(cands, cand{f, i, sc})
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.sc > b.sc:
			return -1
		case a.sc < b.sc:
			return 1
		}
		return 0
	})
	s := &Suggestion{Profile: csvschema.Profile{Columns: map[string]string{}}}
	usedF, usedH := map[string]int{}, map[int]bool{}
	for _, c := range cands {
		if _, ok := usedF[c.f]; ok || usedH[c.h] {
			continue
		}
		usedF[c.f], usedH[c.h] = c.h, true
		s.Profile.Columns[c.f] = strings.TrimSpace(headers[c.h])
	}
	for _, f := range csvschema.Fields() {
		if _, ok := usedF[f]; !ok {
			s.Unmatched = append(s.Unmatched, f)
		}
	}
	for i, h := range headers {
		if !usedH[i] {
			s.Extra = append(s.Extra, strings.TrimSpace(h))
		}
	}
	s.Profile.IgnoreExtraColumns = len(s.Extra) > 0
	col := func(f string) []string {
		i, ok := usedF[f]
		if !ok {
			return nil
		}
		var vals []string
		for _, row := range samples {
			if i < len(row) && strings.TrimSpace(row[i]) != "" {
				vals = append(vals, strings.TrimSpace(row[i]))
			}
		}
		return vals
	}
	if amts := col("amount"); len(amts) > 0 {
		if a, ok := guessAmount(amts); ok && a != (csvschema.AmountFormat{}) {
			s.Profile.Amount = a
			s.Guesses = append(s.Guesses, fmt.Sprintf("amount format from %q", amts[0]))
		}
	}
	for _, v := range col("status") {
		switch strings.ToLower(v) {
		case "completed", "pending", "failed":
		default:
			if !slices.Contains(s.StatusWords, v) {
				s.StatusWords = append(s.StatusWords, v)
			}
		}
	}
	if ts := col("timestamp"); len(ts) > 0 {
		if l, ok := guessLayout(ts); ok && l != "" {
			s.Profile.Time.Layout = l
			s.Guesses = append(s.Guesses, fmt.Sprintf("timestamp layout from %q", ts[0]))
		}
	}
	return s
}

// amountREs are the amount formats guessAmount tells apart (plain,
// decimal comma, dot groups, comma groups), compiled at first use.
var amountREs = sync.OnceValue(func() [4]*regexp.Regexp {
	return [4]*regexp.Regexp{
		regexp.MustCompile(`^\d+(\.\d+)?$`),
		regexp.MustCompile(`^\d+(,\d+)?$`),
		regexp.MustCompile(`^\d{1,3}(\.\d{3})*(,\d+)?$`),
		regexp.MustCompile(`^\d{1,3}(,\d{3})*(\.\d+)?$`),
	}
})

// guessAmount returns the format all vals fit, plain decimals first.
func guessAmount(vals []string) (csvschema.AmountFormat, bool) {
	all := func(re *regexp.Regexp) bool {
		for _, v := range vals {
			if !re.MatchString(strings.TrimLeft(v, "-+")) {
				return false
			}
		}
		return true
	}
	re := amountREs()
	switch {
	case all(re[0]):
		return csvschema.AmountFormat{}, true
	case all(re[1]):
		return csvschema.AmountFormat{Decimal: ","}, true
	case all(re[2]):
		return csvschema.AmountFormat{Decimal: ",", Thousands: "."}, true
	case all(re[3]):
		return csvschema.AmountFormat{Decimal: ".", Thousands: ","}, true
	}
	return csvschema.AmountFormat{}, false
}

var layouts = []string{
	"", // RFC 3339
	"02.01.2006 15:04:05", "02.01.2006 15:04", "02.01.2006", "2.1.2006",
	"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02",
	"02/01/2006 15:04:05", "02/01/2006", "01/02/2006 15:04:05", "01/02/2006", "2006/01/02",
}

// guessLayout returns the first layout all vals parse with.
func guessLayout(vals []string) (string, bool) {
	for _, l := range layouts {
		ok := true
		for _, v := range vals {
			var err error
			if l == "" {
				_, err = time.Parse(time.RFC3339Nano, v)
			} else {
				_, err = time.Parse(l, v)
			}
			if err != nil {
				ok = false
				break
			}
		}
		if ok {
			return l, true
		}
	}
	return "", false
}

// YAML renders the suggestion as a commented profile, ready to edit.
func (s *Suggestion) YAML() string {
	var b strings.Builder
	b.WriteString("# txpipe profile suggested from the file's headers: check every line.\n")
	b.WriteString("# Fields: transaction_id, amount, currency, timestamp, merchant, status.\n")
	if d := s.Profile.Delimiter; d != "" {
		fmt.Fprintf(&b, "delimiter: %s\n", yamlString(d))
	}
	if e := s.Profile.Encoding; e != "" {
		fmt.Fprintf(&b, "encoding: %s\n", e)
	}
	b.WriteString("columns:\n")
	for _, f := range csvschema.Fields() {
		if h, ok := s.Profile.Columns[f]; ok {
			fmt.Fprintf(&b, "  %s: %s\n", f, yamlString(h))
		} else {
			fmt.Fprintf(&b, "  # %s: \"<header>\"   # no header matched: map one, or set a constant below\n", f)
		}
	}
	var consts []string
	for _, f := range s.Unmatched {
		switch f {
		case "currency":
			consts = append(consts, "  # currency: EUR")
		case "status":
			consts = append(consts, "  # status: completed")
		case "merchant":
			consts = append(consts, "  # merchant: \"<name>\"")
		}
	}
	if len(consts) > 0 {
		b.WriteString("# constants:\n" + strings.Join(consts, "\n") + "\n")
	}
	if len(s.StatusWords) > 0 {
		b.WriteString("# statuses:   # the file's status words (from the first rows): map each to completed, pending or failed\n")
		for _, w := range s.StatusWords {
			fmt.Fprintf(&b, "#   %s: \n", yamlString(w))
		}
	}
	if a := s.Profile.Amount; a != (csvschema.AmountFormat{}) {
		b.WriteString("amount:   # guessed from the first rows\n")
		if a.Decimal != "" {
			fmt.Fprintf(&b, "  decimal: %s\n", yamlString(a.Decimal))
		}
		if a.Thousands != "" {
			fmt.Fprintf(&b, "  thousands: %s\n", yamlString(a.Thousands))
		}
	}
	if l := s.Profile.Time.Layout; l != "" {
		b.WriteString("timestamp:   # guessed from the first rows; Go layout (2006-01-02 15:04:05)\n")
		fmt.Fprintf(&b, "  layout: %s\n", yamlString(l))
		b.WriteString("  timezone: UTC   # the zone of the file's times, e.g. Europe/Berlin\n")
	}
	if len(s.Extra) > 0 {
		quoted := make([]string, len(s.Extra))
		for i, e := range s.Extra {
			quoted[i] = yamlString(e)
		}
		fmt.Fprintf(&b, "# not read: %s\n", strings.Join(quoted, ", "))
		b.WriteString("ignore_extra_columns: true\n")
	}
	return b.String()
}

// yamlString quotes s as a YAML double-quoted scalar.
func yamlString(s string) string {
	return fmt.Sprintf("%q", s)
}

// levenshtein is the edit distance of two ASCII strings.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
