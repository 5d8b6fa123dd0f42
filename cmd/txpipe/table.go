package main

import (
	"bufio"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// writeTable prints rows in columns two spaces apart, padded by display
// width (Unicode East Asian Width: a CJK character takes two cells, a
// combining mark none), so wide text keeps the columns aligned. The last
// column is not padded.
func writeTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], runewidth.StringWidth(cell))
		}
	}
	bw := bufio.NewWriter(w)
	for _, r := range rows {
		for i, cell := range r {
			bw.WriteString(cell)
			if i < len(r)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(cell)+2))
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
