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
	if f := k.prof.fixed; f != nil {
		if t, ok := f.parse(v, loc); ok {
			if y := t.UTC().Year(); y < 0 || y > 9999 {
				return time.Time{}, errTSRange
			}
			return t.UTC(), nil
		}
		// Not in the layout: time.Parse says why the same way.
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

// fixedLayout is a time layout made only of the numeric fields 2006, 01,
// 02, 15, 04, 05 and punctuation or spaces (02.01.2006 15:04:05,
// 2006-01-02, ...): it is parsed by position, several times faster than
// time.ParseInLocation, with the same result.
type fixedLayout struct {
	n                  int
	lits               []int // positions of literal bytes
	lit                string
	y, mo, d, h, mi, s int // positions of the fields; -1 if absent
}

func compileFixed(layout string) (*fixedLayout, bool) {
	f := &fixedLayout{n: len(layout), lit: layout, y: -1, mo: -1, d: -1, h: -1, mi: -1, s: -1}
	for i := 0; i < len(layout); {
		rest := layout[i:]
		set := func(p *int, w int) bool {
			if *p >= 0 {
				return false
			}
			*p = i
			i += w
			return true
		}
		ok := true
		switch {
		case len(rest) >= 4 && rest[:4] == "2006":
			ok = set(&f.y, 4)
		case len(rest) >= 2 && rest[:2] == "01":
			ok = set(&f.mo, 2)
		case len(rest) >= 2 && rest[:2] == "02":
			ok = set(&f.d, 2)
		case len(rest) >= 2 && rest[:2] == "15":
			ok = set(&f.h, 2)
		case len(rest) >= 2 && rest[:2] == "04":
			ok = set(&f.mi, 2)
		case len(rest) >= 2 && rest[:2] == "05":
			ok = set(&f.s, 2)
		default:
			c := rest[0]
			if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80 || c == '_' {
				return nil, false
			}
			f.lits = append(f.lits, i)
			i++
		}
		if !ok {
			return nil, false
		}
	}
	if f.y < 0 || f.mo < 0 || f.d < 0 || (f.s >= 0 && f.mi < 0) || (f.mi >= 0 && f.h < 0) {
		return nil, false
	}
	return f, true
}

// parse reads v in the layout; ok=false if it does not fit.
func (f *fixedLayout) parse(v []byte, loc *time.Location) (time.Time, bool) {
	if len(v) != f.n {
		return time.Time{}, false
	}
	for _, p := range f.lits {
		if v[p] != f.lit[p] {
			return time.Time{}, false
		}
	}
	num := func(p int) (int, bool) {
		if p < 0 {
			return 0, true
		}
		return d2(v[p], v[p+1])
	}
	c, ok1 := d2(v[f.y], v[f.y+1])
	y, ok2 := d2(v[f.y+2], v[f.y+3])
	mo, ok3 := num(f.mo)
	d, ok4 := num(f.d)
	h, ok5 := num(f.h)
	mi, ok6 := num(f.mi)
	s, ok7 := num(f.s)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return time.Time{}, false
	}
	y += c * 100
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, loc), true
}
