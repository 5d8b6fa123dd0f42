package httpapitest

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ManyErrors is a CSV file of rows transactions (at least 16), 5 of every 8
// with the bad amount "bad<i>" (row i is on line i+2) and, with dups, two
// rows among the last ten repeating line 2's id: a rejected file with more
// errors than a status record keeps. It returns the file and its count of
// errors.
func ManyErrors(rows int, dups bool) ([]byte, int64) {
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	var errs int64
	dupRows := manyErrorsDups(rows, dups)
	for i := range rows {
		amount := "1.00"
		if i%8 < 5 {
			amount = fmt.Sprintf("bad%d", i)
			errs++
		}
		id := fmt.Sprintf("t%d", i)
		if i == dupRows[0] || i == dupRows[1] {
			id = "t0"
			errs++
		}
		fmt.Fprintf(&b, "%s,%s,USD,2025-01-01T00:00:00Z,m,completed\n", id, amount)
	}
	return []byte(b.String()), errs
}

// manyErrorsDups returns the rows of ManyErrors that repeat row 0's id:
// the first two of the last ten with a good amount (-1, -1 without dups).
func manyErrorsDups(rows int, dups bool) [2]int {
	d := [2]int{-1, -1}
	k := 0
	for i := rows - 10; dups && i < rows && k < 2; i++ {
		if i%8 >= 5 {
			d[k] = i
			k++
		}
	}
	return d
}

// ReadErrorsCSV reads the records of an errors.csv body, header first; a
// last "# N more errors not listed" record has one field.
func ReadErrorsCSV(r io.Reader) ([][]string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	return cr.ReadAll()
}

// CheckManyErrors reports how lines, an errors.csv's records (header
// first), differ from every error of ManyErrors(rows, dups) in line order,
// then the duplicate ids: nil when they list exactly those.
func CheckManyErrors(lines [][]string, rows int, dups bool) error {
	_, errs := ManyErrors(rows, dups)
	if int64(len(lines)) != 1+errs {
		return fmt.Errorf("errors.csv: %d lines, want the header and %d errors; it ends %q", len(lines), errs, lines[len(lines)-1])
	}
	n := 1
	for i := range rows {
		if i%8 >= 5 {
			continue
		}
		if r := lines[n]; len(r) < 3 || r[0] != strconv.Itoa(i+2) || r[1] != "amount" || r[2] != fmt.Sprintf("bad%d", i) {
			return fmt.Errorf("errors.csv line %d = %q, want line %d, amount, bad%d", n, r, i+2, i)
		}
		n++
	}
	for _, i := range manyErrorsDups(rows, dups) {
		if i < 0 {
			continue
		}
		if r := lines[n]; len(r) < 4 || r[0] != strconv.Itoa(i+2) || r[1] != "transaction_id" || !strings.Contains(r[3], "duplicate") {
			return fmt.Errorf("errors.csv line %d = %q, want the duplicate id on line %d", n, r, i+2)
		}
		n++
	}
	return nil
}
