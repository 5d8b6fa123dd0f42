package csvschema

import (
	"bytes"
	"fmt"
)

// numCols is the number of columns of the schema.
const numCols = 6

// Column indexes in schema order.
const (
	colID = iota
	colAmount
	colCurrency
	colTimestamp
	colMerchant
	colStatus
)

// columnNames are the schema's columns, in schema order.
var columnNames = [numCols]string{"transaction_id", "amount", "currency", "timestamp", "merchant", "status"}

var (
	errBareQuote   = fmt.Errorf("%w: bare \" in non-quoted field", ErrMalformed)
	errQuoteSyntax = fmt.Errorf("%w: extraneous or missing \" in quoted field", ErrMalformed)
)

// splitFields splits one record into its fields on sep, following RFC 4180.
// It stores at most len(fields) of them and returns how many the record has.
// A quoted field with escaped quotes is unescaped into *scratch, so the
// fields are valid until the next call with the same scratch. On a syntax
// error it returns the index of the bad field and the error.
func splitFields(rec []byte, sep byte, fields [][]byte, scratch *[]byte) (n int, bad int, err error) {
	if bytes.IndexByte(rec, '"') < 0 {
		// No quote: split on the separator only.
		for {
			c := bytes.IndexByte(rec, sep)
			if c < 0 {
				if n < len(fields) {
					fields[n] = rec
				}
				return n + 1, -1, nil
			}
			if n < len(fields) {
				fields[n] = rec[:c]
			}
			n++
			rec = rec[c+1:]
		}
	}
	*scratch = (*scratch)[:0]
	i := 0
	for {
		var f []byte
		if i < len(rec) && rec[i] == '"' {
			i++
			start := i
			escaped := false
			sbase := len(*scratch)
			for {
				q := bytes.IndexByte(rec[i:], '"')
				if q < 0 {
					return n, n, errQuoteSyntax
				}
				if i+q+1 < len(rec) && rec[i+q+1] == '"' {
					if !escaped {
						*scratch = append(*scratch, rec[start:i+q+1]...)
						escaped = true
					} else {
						*scratch = append(*scratch, rec[i:i+q+1]...)
					}
					i += q + 2
					continue
				}
				if escaped {
					*scratch = append(*scratch, rec[i:i+q]...)
					f = (*scratch)[sbase:]
				} else {
					f = rec[start : i+q]
				}
				i += q + 1
				break
			}
			if i < len(rec) && rec[i] != sep {
				return n, n, errQuoteSyntax
			}
		} else {
			c := bytes.IndexByte(rec[i:], sep)
			if c < 0 {
				f = rec[i:]
			} else {
				f = rec[i : i+c]
			}
			if bytes.IndexByte(f, '"') >= 0 {
				return n, n, errBareQuote
			}
			i += len(f)
		}
		if n < len(fields) {
			fields[n] = f
		}
		n++
		if i >= len(rec) {
			return n, -1, nil
		}
		i++ // the separator
	}
}

// trim drops surrounding spaces and tabs.
func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
