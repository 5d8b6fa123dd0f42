package iso4217_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedTableUpToDate regenerates the table from the XML in
// node_modules and amendments.txt and compares it with table.go.
func TestGeneratedTableUpToDate(t *testing.T) {
	xml := filepath.Join("..", "node_modules", "currency-codes", "iso-4217-list-one.xml")
	if _, err := os.Stat(xml); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: run npm ci", err)
		}
		t.Skipf("%v: run npm ci to check the generated table", err)
	}
	out := filepath.Join(t.TempDir(), "table.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-xml", xml, "-amendments", "amendments.txt", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("table.go is stale: run go generate ./iso4217 and commit it")
	}
}
