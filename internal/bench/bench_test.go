package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 50); p != 100*time.Millisecond {
		t.Errorf("p50 %v, want 100ms", p)
	}
	if p := percentile(d, 99); p != 198*time.Millisecond {
		t.Errorf("p99 %v, want 198ms", p)
	}
	if p := percentile(d[:1], 99); p != time.Millisecond {
		t.Errorf("p99 of one %v, want 1ms", p)
	}
}

// TestBareReadAndTable reads a generated file and prints a table whose
// ratios are to the bare read.
func TestBareReadAndTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.csv")
	size, err := generate(path, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != size || size < 50_000 {
		t.Fatalf("size %d", size)
	}
	n, err := BareRead(path)
	if err != nil || n != 1001 {
		t.Fatalf("BareRead: %d records, %v; want 1001", n, err)
	}
	r := &Report{Rows: 1000, Bytes: size, Results: []Result{
		{Name: "bare encoding/csv read, 1 core", Rows: 1000, Wall: time.Second},
		{Name: "txpipe validate, 1 core", Rows: 1000, Wall: 2 * time.Second, PeakRSS: 32 << 20},
		{Name: "range query, one day, p99", Wall: 1500 * time.Microsecond},
	}}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{"1.000", "0.500", "32 MiB", "1.50ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
