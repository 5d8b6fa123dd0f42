package csvschema_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/txpipe/txpipe/csvschema"
)

// TestProgressCountsStoredBytes: Progress counts the bytes of the file as
// stored, whatever its encoding, so a progress bar against the file's size
// ends at 100% (a UTF-16 file decodes to about half its bytes, and the bar
// stopped near 50%); a second read for duplicate ids counts the file again.
func TestProgressCountsStoredBytes(t *testing.T) {
	file := func(merchant string) []byte {
		var b bytes.Buffer
		b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
		for i := range 20_000 {
			fmt.Fprintf(&b, "tx-%06d,%d.25,EUR,2024-03-01T10:%02d:00Z,%s %d,completed\n", i, i%900+1, i%60, merchant, i%97)
		}
		return b.Bytes()
	}
	plain := file("Corner Store")
	lines := bytes.SplitAfter(plain, []byte("\n"))
	dup := append(bytes.Clone(plain), lines[1]...) // the first row again: a second read
	// Non-ASCII merchants, so Windows-1252 decodes to more bytes than stored.
	accented := file("Café Müller")
	encode := func(e encoding.Encoding, b []byte) []byte {
		out, err := e.NewEncoder().Bytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cases := []struct {
		name     string
		data     []byte
		encoding string
		passes   int64
	}{
		{"utf-8", plain, "", 1},
		{"utf-16le", encode(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), plain), "", 1},
		{"utf-16be", encode(unicode.UTF16(unicode.BigEndian, unicode.UseBOM), plain), "", 1},
		{"windows-1252", encode(charmap.Windows1252, accented), "windows-1252", 1},
		{"utf-16le duplicate", encode(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), dup), "", 2},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 3} {
			var calls []int64
			opt := csvschema.Options{Workers: workers, Format: csvschema.Format{Encoding: c.encoding},
				Progress: func(n int64) { calls = append(calls, n) }}
			rep, err := csvschema.ValidateWith(context.Background(), bytes.NewReader(c.data), opt)
			if err != nil {
				t.Fatal(err)
			}
			if want := c.passes == 1; rep.Valid() != want {
				t.Fatalf("%s: valid %v, want %v: %v", c.name, rep.Valid(), want, rep.Items())
			}
			size := int64(len(c.data))
			if len(calls) < 2 {
				t.Fatalf("%s, %d workers: %d progress calls", c.name, workers, len(calls))
			}
			for i, n := range calls {
				if n > c.passes*size || (i > 0 && n < calls[i-1]) {
					t.Fatalf("%s, %d workers: progress %v against %d bytes (%d passes)", c.name, workers, calls, size, c.passes)
				}
			}
			if last := calls[len(calls)-1]; last != c.passes*size {
				t.Errorf("%s, %d workers: progress ends at %d, want %d (%d bytes, %d passes)", c.name, workers, last, c.passes*size, size, c.passes)
			}
		}
	}
}

// readCounter counts the Read calls on a reader (and hides its Seek).
type readCounter struct {
	r     io.Reader
	calls int
}

func (c *readCounter) Read(p []byte) (int, error) {
	c.calls++
	return c.r.Read(p)
}

// TestLargeFileLargeReads: the scanner's buffer starts small but grows
// while the input fills it, so a large file is read in large pieces (it
// once stayed at 512 bytes: a read call, a system call on a file, per 512
// bytes, which halved the plain path's speed).
func TestLargeFileLargeReads(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "tx-%07d,%d.25,EUR,2024-03-01T10:%02d:00Z,Corner Store %d,completed\n", i, i%900+1, i%60, i%97)
	}
	for _, workers := range []int{1, 3} {
		c := &readCounter{r: bytes.NewReader(b.Bytes())}
		rep, err := csvschema.ValidateWith(context.Background(), c, csvschema.Options{Workers: workers})
		if err != nil || !rep.Valid() {
			t.Fatalf("%v %v", err, rep.Items())
		}
		if max := 2 * (b.Len()/(256<<10) + 12); c.calls > max {
			t.Errorf("%d workers: %d reads of a %d-byte file, want at most %d", workers, c.calls, b.Len(), max)
		}
	}
}
