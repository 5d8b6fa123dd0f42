package csvschema

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // profiles name IANA zones; Lambda images have no zoneinfo

	"github.com/txpipe/txpipe/iso4217"
)

// Profile maps the columns of a file that does not follow the schema's own
// layout to the schema's fields and declares its value formats. Package
// profile reads it from YAML; docs/contract.md describes the format.
type Profile struct {
	// Name is the profile's name where it is stored; not part of the
	// file format's rules.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Delimiter and Encoding, if set, apply when the upload declares none.
	Delimiter string `json:"delimiter,omitempty" yaml:"delimiter,omitempty"`
	Encoding  string `json:"encoding,omitempty" yaml:"encoding,omitempty"`
	// Columns maps a schema field to the file's header that holds it
	// (matched trimmed and case-insensitively). A field neither mapped nor
	// constant is read from the header of its own name.
	Columns map[string]string `json:"columns,omitempty" yaml:"columns,omitempty"`
	// Constants gives a value for a field the file does not have
	// (currency, merchant or status).
	Constants map[string]string `json:"constants,omitempty" yaml:"constants,omitempty"`
	// Statuses maps the file's status values (case-insensitively) to the
	// schema's completed, pending and failed.
	Statuses map[string]string `json:"statuses,omitempty" yaml:"statuses,omitempty"`
	Amount   AmountFormat      `json:"amount,omitzero" yaml:"amount,omitempty"`
	Time     TimeFormat        `json:"timestamp,omitzero" yaml:"timestamp,omitempty"`
	// IgnoreExtraColumns accepts headers that map to no field (their
	// values are not read); otherwise they reject the file.
	IgnoreExtraColumns bool `json:"ignore_extra_columns,omitempty" yaml:"ignore_extra_columns,omitempty"`
}

// AmountFormat is how a file writes its amounts.
type AmountFormat struct {
	// Decimal is the decimal separator: "." (the default) or ",".
	Decimal string `json:"decimal,omitempty" yaml:"decimal,omitempty"`
	// Thousands is the digit-group separator, if the file uses one: ".",
	// ",", " " or "'" (never the decimal separator). Groups must be of three
	// digits.
	Thousands string `json:"thousands,omitempty" yaml:"thousands,omitempty"`
}

// TimeFormat is how a file writes its timestamps.
type TimeFormat struct {
	// Layout is a Go time layout such as "02.01.2006" or
	// "2006-01-02 15:04:05"; "" means RFC 3339 with a zone.
	Layout string `json:"layout,omitempty" yaml:"layout,omitempty"`
	// Timezone is the IANA zone of timestamps whose layout has no zone
	// (UTC if empty), such as Europe/Berlin.
	Timezone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
}

// Fields are the schema's fields, in schema order.
func Fields() []string { return columnNames[:] }

// constantFields are the fields a profile may set to a constant.
var constantFields = []string{"currency", "merchant", "status"}

func fieldIndex(name string) int {
	for i, n := range columnNames {
		if n == name {
			return i
		}
	}
	return -1
}

func profileErr(format string, args ...any) error {
	return fmt.Errorf("%w: profile: "+format, append([]any{ErrFormat}, args...)...)
}

// Check reports the first rule the profile breaks, naming the key.
func (p *Profile) Check() error {
	if _, err := ParseDelimiter(p.Delimiter); err != nil {
		return profileErr("delimiter: %v", err)
	}
	if _, err := CanonicalEncoding(p.Encoding); err != nil {
		return profileErr("encoding: %v", err)
	}
	headers := map[string]string{}
	for _, f := range slices.Sorted(mapKeys(p.Columns)) {
		h := p.Columns[f]
		if fieldIndex(f) < 0 {
			return profileErr("columns: %q is not a field of the schema (%s)", f, strings.Join(columnNames[:], ", "))
		}
		key := strings.ToLower(strings.TrimSpace(h))
		if key == "" {
			return profileErr("columns.%s: empty header name", f)
		}
		if other, ok := headers[key]; ok {
			return profileErr("columns.%s: header %q is mapped to %s already", f, h, other)
		}
		headers[key] = f
	}
	for _, f := range slices.Sorted(mapKeys(p.Constants)) {
		v := p.Constants[f]
		if !slices.Contains(constantFields, f) {
			return profileErr("constants: %q cannot be a constant (only %s)", f, strings.Join(constantFields, ", "))
		}
		if _, ok := p.Columns[f]; ok {
			return profileErr("constants.%s: the field is mapped to a column too", f)
		}
		if err := checkConstant(f, strings.TrimSpace(v)); err != nil {
			return profileErr("constants.%s: %v", f, err)
		}
	}
	for _, v := range slices.Sorted(mapKeys(p.Statuses)) {
		if parseStatus([]byte(p.Statuses[v])) == "" {
			return profileErr("statuses.%s: %q is not completed, pending or failed", v, p.Statuses[v])
		}
	}
	d, t := p.Amount.Decimal, p.Amount.Thousands
	if d != "" && d != "." && d != "," {
		return profileErr(`amount.decimal: %q is not "." or ","`, d)
	}
	if d == "" {
		d = "."
	}
	if t != "" && t != "." && t != "," && t != " " && t != "'" {
		return profileErr(`amount.thousands: %q is not ".", ",", " " or "'"`, t)
	}
	if t == d {
		return profileErr("amount.thousands: the same as the decimal separator %q", d)
	}
	if p.Time.Layout != "" {
		// A layout must round-trip a date, or it parses nothing.
		ref := time.Date(2024, 1, 15, 10, 30, 45, 0, time.UTC)
		if _, err := time.Parse(p.Time.Layout, ref.Format(p.Time.Layout)); err != nil || !strings.ContainsAny(p.Time.Layout, "2") {
			return profileErr("timestamp.layout: %q is not a Go time layout (write the date 2006-01-02 15:04:05 as the file does, e.g. 02.01.2006)", p.Time.Layout)
		}
	}
	if p.Time.Timezone != "" {
		if _, err := loadLocation(p.Time.Timezone); err != nil {
			return profileErr("timestamp.timezone: %q is not an IANA time zone such as Europe/Berlin", p.Time.Timezone)
		}
	}
	return nil
}

// checkConstant checks a constant as the rules would check the value in a file.
func checkConstant(field, v string) error {
	switch field {
	case "currency":
		if _, ok := iso4217.LookupBytes([]byte(v)); !ok {
			return fmt.Errorf("%q is %w", v, ErrBadCurrency)
		}
	case "status":
		if parseStatus([]byte(v)) == "" {
			return fmt.Errorf("%q is not completed, pending or failed", v)
		}
	case "merchant":
		return checkName([]byte(v), MaxMerchantBytes)
	}
	return nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Compiled profile state the checker uses.
type compiled struct {
	consts    [numCols][]byte
	hasConst  [numCols]bool
	statuses  map[string]string // lower-case file value -> status
	decimal   byte              // 0: plain amounts
	thousands byte
	layout    string
	fixed     *fixedLayout // layout, when it is parsed by position
	loc       *time.Location
	ignore    bool
	headers   [numCols]string // the header each field is read from ("" if constant)
}

func (p *Profile) compile() (*compiled, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	c := &compiled{ignore: p.IgnoreExtraColumns, layout: p.Time.Layout, loc: time.UTC}
	if f, ok := compileFixed(p.Time.Layout); ok {
		c.fixed = f
	}
	for i, f := range columnNames {
		if v, ok := p.Constants[f]; ok {
			c.consts[i], c.hasConst[i] = []byte(strings.TrimSpace(v)), true
			continue
		}
		c.headers[i] = f
		if h, ok := p.Columns[f]; ok {
			c.headers[i] = strings.TrimSpace(h)
		}
	}
	if len(p.Statuses) > 0 {
		c.statuses = make(map[string]string, len(p.Statuses))
		for k, v := range p.Statuses {
			c.statuses[strings.ToLower(strings.TrimSpace(k))] = parseStatus([]byte(v))
		}
	}
	if p.Amount.Decimal == "," || p.Amount.Thousands != "" {
		c.decimal = '.'
		if p.Amount.Decimal == "," {
			c.decimal = ','
		}
		if p.Amount.Thousands != "" {
			c.thousands = p.Amount.Thousands[0]
		}
	}
	if p.Time.Timezone != "" {
		loc, err := loadLocation(p.Time.Timezone)
		if err != nil {
			return nil, profileErr("timestamp.timezone: %v", err)
		}
		c.loc = loc
	}
	return c, nil
}

// locations caches the zones profiles name: time.LoadLocation reads and
// parses the zone's file on every call, and a profile is compiled once per
// file read. Only names that load are kept, so the cache holds at most the
// zone database's few hundred zones.
var locations sync.Map // string -> *time.Location

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}
