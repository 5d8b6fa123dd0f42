package csvschema

import (
	"bytes"
	"testing"

	"github.com/txpipe/txpipe/internal/txgen"
)

// BenchmarkLastRecordEnd finds the last record end of a 256 KiB buffer of
// generated rows (about half of them have a quoted field), as the reading
// worker does for every chunk of the parallel pass.
func BenchmarkLastRecordEnd(b *testing.B) {
	var buf bytes.Buffer
	if err := txgen.Write(&buf, txgen.Options{Rows: 4000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()[:bufSize]
	want := bytes.LastIndexByte(data, '\n')
	var st []int
	b.SetBytes(int64(len(data)))
	for range b.N {
		var i int
		if i, st = lastRecordEnd(data, ',', st); i != want {
			b.Fatalf("last record end %d, want %d", i, want)
		}
	}
}
