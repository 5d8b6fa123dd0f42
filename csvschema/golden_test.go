package csvschema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/txgen"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/golden")

// TestGolden validates representative bad files and compares the reports
// with testdata/golden/*.golden; `go test ./csvschema -update` rewrites them.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	gen := filepath.Join(dir, "generated.csv")
	if *update {
		var b bytes.Buffer
		if err := txgen.Write(&b, txgen.Options{Rows: 400, Seed: 42, BadShare: 0.4}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(gen, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := csvschema.Validate(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(struct {
				Rows       int64              `json:"rows"`
				ErrorCount int64              `json:"error_count"`
				Errors     []txpipe.ErrorItem `json:"errors"`
			}{rep.Rows, rep.ErrorCount, rep.Items()}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".csv") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./csvschema -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s (run go test ./csvschema -update if the change is right):\n%s", golden, got)
			}
		})
	}
}
