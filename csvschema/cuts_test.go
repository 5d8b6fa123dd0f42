package csvschema_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// cutsFile returns a file of rows rows whose merchants hold quoted
// separators and quotes and letters beyond ASCII (beyond U+FFFF too when
// wide, for UTF-16), with CRLF line ends and blank lines. (A quoted line end
// is split correctly but makes the row invalid: a control character.)
func cutsFile(rows int, wide bool) string {
	var b bytes.Buffer
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\r\n")
	for i := range rows {
		merchant := "Café Noël"
		switch i % 5 {
		case 1:
			merchant = "\"Zürich, Hauptbahnhof \"\"Süd\"\"\""
		case 2:
			merchant = "\"a, b; c\""
		case 3:
			if wide {
				merchant = "Emoji 😀 shop"
			}
		}
		fmt.Fprintf(&b, "tx-%d,%d.%02d,EUR,2026-01-02T03:04:05Z,%s,completed\r\n", i, i, i%100, merchant)
		if i%37 == 0 {
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

func decodeFormat(t *testing.T, r io.Reader, f csvschema.Format) []txpipe.Transaction {
	t.Helper()
	d := csvschema.NewDecoderFormat(r, f)
	var out []txpipe.Transaction
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = append(out, tx)
	}
}

// The offsets the validator records while it validates cut a file in any
// text encoding into chunks of whole rows: each chunk, decoded after the
// header's bytes, reads exactly its rows, and the chunks together read the
// whole file's rows in order, quoted line ends included. The decoder
// reports the same offsets.
func TestCutsAreRowBoundariesInEveryEncoding(t *testing.T) {
	const rows, every = 500, 60
	for _, c := range []struct {
		name string
		enc  encoding.Encoding
		wide bool
		f    csvschema.Format
	}{
		{"utf-8", nil, true, csvschema.Format{}},
		{"utf-8 BOM", unicode.UTF8BOM, true, csvschema.Format{}},
		{"windows-1252", charmap.Windows1252, false, csvschema.Format{Encoding: csvschema.EncWindows1252}},
		{"iso-8859-1", charmap.ISO8859_1, false, csvschema.Format{Encoding: csvschema.EncISO88591}},
		{"utf-16le BOM", unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), true, csvschema.Format{}},
		{"utf-16be BOM", unicode.UTF16(unicode.BigEndian, unicode.UseBOM), true, csvschema.Format{}},
		{"utf-16le declared", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), true, csvschema.Format{Encoding: csvschema.EncUTF16LE}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := cutsFile(rows, c.wide)
			data := []byte(text)
			if c.enc != nil {
				var err error
				if data, err = c.enc.NewEncoder().Bytes(data); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(data), csvschema.Options{Format: c.f, CutEvery: every, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Valid() || rep.Rows != rows {
				t.Fatalf("rows %d, errors %+v", rep.Rows, rep.Items())
			}
			if want := rows / every; len(rep.Cuts) != want {
				t.Fatalf("%d cuts, want %d", len(rep.Cuts), want)
			}
			f := c.f
			f.Encoding = rep.Dialect.Encoding
			whole := decodeFormat(t, bytes.NewReader(data), f)
			if len(whole) != rows {
				t.Fatalf("the whole file decodes to %d rows", len(whole))
			}

			// The decoder's offsets after every every-th row are the cuts.
			d := csvschema.NewDecoderFormat(bytes.NewReader(data), f)
			var tx txpipe.Transaction
			for i := 1; i <= rows; i++ {
				if err := d.Decode(&tx); err != nil {
					t.Fatal(err)
				}
				if i == 1 && d.HeaderEnd() != rep.HeaderEnd {
					t.Errorf("decoder header end %d, validator %d", d.HeaderEnd(), rep.HeaderEnd)
				}
				if i%every == 0 && d.Offset() != rep.Cuts[i/every-1] {
					t.Errorf("after row %d: decoder offset %d, cut %d", i, d.Offset(), rep.Cuts[i/every-1])
				}
			}

			header := data[:rep.HeaderEnd]
			bounds := append(append([]int64{rep.HeaderEnd}, rep.Cuts...), int64(len(data)))
			var got []txpipe.Transaction
			for i := 1; i < len(bounds); i++ {
				chunk := append(append([]byte{}, header...), data[bounds[i-1]:bounds[i]]...)
				part := decodeFormat(t, bytes.NewReader(chunk), f)
				if want := min(every, rows-(i-1)*every); len(part) != want {
					t.Errorf("chunk %d [%d, %d): %d rows, want %d", i-1, bounds[i-1], bounds[i], len(part), want)
				}
				got = append(got, part...)
			}
			if len(got) != len(whole) {
				t.Fatalf("chunks read %d rows, the whole file %d", len(got), len(whole))
			}
			for i := range got {
				if got[i] != whole[i] {
					t.Fatalf("row %d: chunks read %+v, the whole file %+v", i, got[i], whole[i])
				}
			}
		})
	}
}

// FuzzCuts: on any input and declared encoding the validator's cuts are
// ordered offsets within the file after its header, and for a valid file
// the chunks they make, each decoded after the header's bytes, read the
// file's rows exactly.
func FuzzCuts(f *testing.F) {
	encs := []string{"", csvschema.EncWindows1252, csvschema.EncISO88591, csvschema.EncUTF16LE, csvschema.EncUTF16BE}
	for _, c := range []struct {
		enc  encoding.Encoding
		wide bool
		i    uint8
	}{{nil, true, 0}, {charmap.Windows1252, false, 1}, {charmap.ISO8859_1, false, 2}, {unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), true, 3},
		{unicode.UTF16(unicode.BigEndian, unicode.UseBOM), true, 0}} {
		data := []byte(cutsFile(12, c.wide))
		if c.enc != nil {
			data, _ = c.enc.NewEncoder().Bytes(data)
		}
		f.Add(data, c.i, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, enc, every uint8) {
		if len(data) > 1<<16 {
			return
		}
		fm := csvschema.Format{Encoding: encs[int(enc)%len(encs)]}
		n := int64(every%8) + 1
		rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(data), csvschema.Options{Format: fm, CutEvery: n, Workers: 1})
		if err != nil {
			return // a format the input cannot be read in
		}
		// The parallel pass, its input cut into small chunks, agrees.
		restore := csvschema.SetChunkLimit(1 + len(data)%53)
		par, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(data), csvschema.Options{Format: fm, CutEvery: n, Workers: 2})
		restore()
		if err != nil {
			t.Fatalf("one worker read the input, two did not: %v", err)
		}
		sameReport(t, "two workers, small chunks", par, rep)
		prev := rep.HeaderEnd
		for _, c := range rep.Cuts {
			if c < prev || c > int64(len(data)) {
				t.Fatalf("cuts %v after a header of %d bytes, in %d bytes", rep.Cuts, rep.HeaderEnd, len(data))
			}
			prev = c
		}
		if !rep.Valid() || rep.HeaderEnd == 0 {
			return
		}
		fm.Encoding = rep.Dialect.Encoding
		whole, err := decodeRows(bytes.NewReader(data), fm)
		if err != nil {
			t.Fatalf("a valid file does not decode: %v", err)
		}
		bounds := append(append([]int64{rep.HeaderEnd}, rep.Cuts...), int64(len(data)))
		var got []txpipe.Transaction
		for i := 1; i < len(bounds); i++ {
			chunk := append(append([]byte{}, data[:rep.HeaderEnd]...), data[bounds[i-1]:bounds[i]]...)
			part, err := decodeRows(bytes.NewReader(chunk), fm)
			if err != nil {
				t.Fatalf("chunk [%d, %d): %v", bounds[i-1], bounds[i], err)
			}
			got = append(got, part...)
		}
		if len(got) != len(whole) {
			t.Fatalf("chunks read %d rows, the file %d (cuts %v, header %d)", len(got), len(whole), rep.Cuts, rep.HeaderEnd)
		}
		for i := range got {
			if got[i] != whole[i] {
				t.Fatalf("row %d: chunks %+v, file %+v", i, got[i], whole[i])
			}
		}
	})
}

func decodeRows(r io.Reader, f csvschema.Format) ([]txpipe.Transaction, error) {
	d := csvschema.NewDecoderFormat(r, f)
	var out []txpipe.Transaction
	for {
		var tx txpipe.Transaction
		err := d.Decode(&tx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
}
