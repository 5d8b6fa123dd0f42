package csvschema

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// fieldCountErr is the error of a record with n fields.
func (k *checker) fieldCountErr(rec []byte, n int) error {
	return fmt.Errorf("%w: %d, the header has %d", ErrFieldCount, n, k.nfields)
}

// plainAmount rewrites an amount in the profile's format (decimal comma,
// digit groups) as a plain decimal in k.plain. Groups must be of three
// digits, the first of one to three, so 1.234,56 is read and 1.23,4 is not.
func (k *checker) plainAmount(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, ErrEmpty
	}
	if v[0] == '-' || v[0] == '+' {
		return nil, errAmountNegative
	}
	dec, th := k.prof.decimal, k.prof.thousands
	out := k.plain[:0]
	i, group, groups := 0, 0, 0
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			out = append(out, c)
			group++
		case th != 0 && c == th:
			if group == 0 || (groups == 0 && group > 3) || (groups > 0 && group != 3) {
				return nil, k.amountFormatErr()
			}
			groups++
			group = 0
		default:
			goto frac
		}
	}
frac:
	if group == 0 || (groups > 0 && group != 3) {
		return nil, k.amountFormatErr()
	}
	if i < len(v) {
		if v[i] != dec || i+1 == len(v) {
			return nil, k.amountFormatErr()
		}
		out = append(out, '.')
		for _, c := range v[i+1:] {
			if c < '0' || c > '9' {
				return nil, k.amountFormatErr()
			}
			out = append(out, c)
		}
	}
	k.plain = out
	return out, nil
}

func (k *checker) amountFormatErr() error {
	ex := "1234.56"
	switch {
	case k.prof.thousands != 0:
		ex = "1" + string(k.prof.thousands) + "234" + string(k.prof.decimal) + "56"
	case k.prof.decimal == ',':
		ex = "1234,56"
	}
	return fmt.Errorf("%w: not a decimal in the profile's format, such as %s", ErrBadAmount, ex)
}

// parseTime parses a timestamp in the profile's layout and zone, or, for a
// spreadsheet, a date cell (a serial day number) or RFC 3339 text.
func (k *checker) parseTime(v []byte) (time.Time, error) {
	if len(v) == 0 {
		return time.Time{}, ErrEmpty
	}
	loc := time.UTC
	layout := ""
	if k.prof != nil {
		loc, layout = k.prof.loc, k.prof.layout
	}
	if k.xlsx {
		if t, ok := serialDate(v, loc); ok {
			return t, nil
		}
	}
	if layout == "" {
		return parseTimestamp(v)
	}
	t, err := time.ParseInLocation(layout, string(v), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: not in the profile's layout %q", ErrBadTimestamp, layout)
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, errTSRange
	}
	return t.UTC(), nil
}

// serialDate reads a spreadsheet date cell's value: days since 1899-12-30
// (the 1900 date system as Excel counts it past February 1900), the
// fraction being the time of day, rounded to the second, in loc.
func serialDate(v []byte, loc *time.Location) (time.Time, bool) {
	for _, c := range v {
		if (c < '0' || c > '9') && c != '.' {
			return time.Time{}, false
		}
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < 1 || f > 2958465 { // 9999-12-31
		return time.Time{}, false
	}
	days := math.Floor(f)
	secs := int(math.Round((f - days) * 86400))
	// The day and the time of day are wall clock in loc.
	return time.Date(1899, 12, 30+int(days), 0, 0, secs, 0, loc).UTC(), true
}
