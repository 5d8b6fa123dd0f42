//go:build integration

// excelize writes the workbook of testdata/dialects under the integration tag
// only, so the test binary of the quick loop does not link it (the reading
// side is the xlsx package's; its tests compare it with excelize).

package csvschema_test

import (
	"bytes"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// writeXLSX writes testdata/dialects/sheet.xlsx: the transactions as a workbook whose first sheet
// ("Umsätze"; a second, "Notes", is empty) holds them: amounts as numbers, timestamps as date cells (serial days with a date
// format), a blank row in the middle (skipped, but counted in row numbers).
var writeXLSX = func() []byte {
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Umsätze"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		panic(err)
	}
	if _, err := f.NewSheet("Notes"); err != nil {
		panic(err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		panic(err)
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	if err != nil {
		panic(err)
	}
	row := 1
	set := func(vals ...any) {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, vals); err != nil {
			panic(err)
		}
		row++
	}
	set("transaction_id", "amount", "currency", "timestamp", "merchant", "status")
	for i, tx := range dialectTx {
		if i == 10 {
			row++ // a blank row
		}
		amount, err := strconv.ParseFloat(tx.Amount, 64)
		if err != nil {
			panic(err)
		}
		serial := float64(tx.Timestamp.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC))) / float64(24*time.Hour)
		set(tx.ID, amount, tx.Currency, excelize.Cell{StyleID: dateStyle, Value: serial}, tx.Merchant, tx.Status)
	}
	if err := sw.Flush(); err != nil {
		panic(err)
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}
