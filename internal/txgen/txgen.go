// Package txgen writes deterministic, realistic transaction files for tests
// and benchmarks: quoted merchants with commas and quotes, UTF-8 names, many
// currencies with their minor units, zones and fractional seconds, random
// transaction ids, and a chosen share of bad rows.
package txgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/txpipe/txpipe/iso4217"
)

// Options choose the file.
type Options struct {
	Rows     int     // data rows
	Seed     uint64  // the same seed writes the same bytes
	BadShare float64 // share of rows with one error each (0 to 1)
	CRLF     bool    // end lines with CRLF instead of LF
	// From and Span place the timestamps, uniformly in [From, From+Span)
	// (whole seconds); the year 2024 if Span is 0.
	From time.Time
	Span time.Duration
}

// Header is the header row txgen writes.
const Header = "transaction_id,amount,currency,timestamp,merchant,status"

var merchants = []string{
	"Acme Corp", "Globex, Inc.", "Initech", "Umbrella Corporation", "Café Zürich", "Müller & Söhne GmbH",
	"Tokyo Ramen 東京", "São Paulo Padaria", "\"Best\" Books, Ltd.", "Łódź Market", "Smith, Jones & Co",
	"Hooli", "Stark Industries", "Wayne Enterprises", "Αθήνα Taverna", "Москва Store", "Crème de la Crème",
	"Corner Shop", "Big \"Q\" Burgers", "Nakatomi Trading, Ltd", "Soylent", "Pied Piper", "Vandelay Industries",
}

// Weighted: common currencies often, every current code sometimes.
var common = []string{"USD", "USD", "USD", "EUR", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "BHD", "KWD", "INR", "BRL", "MXN", "CLF", "ISK", "XCG"}

var statuses = []string{"completed", "completed", "completed", "pending", "failed", "COMPLETED", "Pending"}

var zones = []string{"Z", "Z", "Z", "+00:00", "+02:00", "-05:00", "+05:30", "-03:30", "+09:00"}

// Write writes a file of opts.Rows rows (plus the header) to w.
func Write(w io.Writer, opts Options) error {
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 64<<10)
	eol := "\n"
	if opts.CRLF {
		eol = "\r\n"
	}
	codes := iso4217.Codes()
	bw.WriteString(Header + eol)
	base, span := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), int64(365*86400)
	if opts.Span >= time.Second {
		base, span = opts.From.Unix(), int64(opts.Span/time.Second)
	}
	var line []byte
	var prevID []byte
	for i := 0; i < opts.Rows; i++ {
		line = line[:0]
		bad := -1
		if opts.BadShare > 0 && rng.Float64() < opts.BadShare {
			bad = rng.IntN(8)
		}
		// transaction_id
		id := line
		if bad == 7 && prevID != nil {
			line = append(line, prevID...) // a duplicate
		} else {
			line = append(line, "tx-"...)
			line = appendHex(line, rng.Uint64(), 16)
			line = appendHex(line, rng.Uint64()&0xffff, 4)
		}
		id = line[len(id):]
		prevID = append(prevID[:0], id...)
		line = append(line, ',')
		// amount, currency
		code := common[rng.IntN(len(common))]
		if rng.IntN(10) == 0 {
			code = codes[rng.IntN(len(codes))]
		}
		c, _ := iso4217.Lookup(code)
		minor := rng.Int64N(10_000_000)
		switch bad {
		case 0:
			line = append(line, "-12.5"...)
		case 1:
			line = append(line, "1e3"...)
		default:
			line = appendAmount(line, minor, c.MinorUnits, rng.IntN(4) == 0)
		}
		line = append(line, ',')
		switch {
		case bad == 2:
			line = append(line, "DEM"...)
		case rng.IntN(20) == 0:
			line = append(line, strings.ToLower(code)...)
		default:
			line = append(line, code...)
		}
		line = append(line, ',')
		// timestamp
		t := time.Unix(base+rng.Int64N(span), 0).UTC()
		if bad == 3 {
			line = t.AppendFormat(line, "2006-01-02T15:04:05")
		} else {
			line = t.AppendFormat(line, "2006-01-02T15:04:05")
			if rng.IntN(5) == 0 {
				line = append(line, '.')
				line = strconv.AppendInt(line, 100+rng.Int64N(900), 10)
			}
			line = append(line, zones[rng.IntN(len(zones))]...)
		}
		line = append(line, ',')
		// merchant
		switch bad {
		case 4:
			line = append(line, `""`...)
		default:
			line = appendField(line, merchants[rng.IntN(len(merchants))])
		}
		line = append(line, ',')
		// status
		switch bad {
		case 5:
			line = append(line, "refunded"...)
		default:
			line = append(line, statuses[rng.IntN(len(statuses))]...)
		}
		if bad == 6 {
			line = append(line, ",extra"...)
		}
		line = append(line, eol...)
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write row %d: %w", i+1, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func appendHex(b []byte, v uint64, n int) []byte {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		b = append(b, digits[(v>>(4*uint(i)))&0xf])
	}
	return b
}

// appendAmount writes minor units as a decimal with mu fraction digits;
// short drops trailing zeros of the fraction, so the engine has to pad it.
func appendAmount(b []byte, minor int64, mu int, short bool) []byte {
	s := strconv.FormatInt(minor, 10)
	for len(s) <= mu {
		s = "0" + s
	}
	b = append(b, s[:len(s)-mu]...)
	if mu == 0 {
		return b
	}
	frac := s[len(s)-mu:]
	if short {
		frac = strings.TrimRight(frac, "0")
		if frac == "" {
			return b
		}
	}
	b = append(b, '.')
	return append(b, frac...)
}

// appendField writes a CSV field, quoted when it needs to be (and sometimes
// when it does not, as exporters do).
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\n") && len(s)%3 != 0 {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}
