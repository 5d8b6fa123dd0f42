package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/internal/txgen"
)

const validCSV = "transaction_id,amount,currency,timestamp,merchant,status\n" +
	"t1,99.9,usd,2024-01-15T10:30:00+02:00,\"Shop, Inc\",COMPLETED\n" +
	"t2,1500,JPY,2024-01-15T10:30:00Z,Café,pending\n"

const invalidCSV = "transaction_id,amount,currency,timestamp,merchant,status\n" +
	"t1,99.999,USD,2024-01-15T10:30:00Z,Shop,completed\n" +
	"t2,1,DEM,2024-01-15T10:30:00Z,Shop,completed\n" +
	"t1,1,USD,2024-01-15T10:30:00Z,Shop,completed\n"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateCLI(t *testing.T) {
	t.Parallel()
	valid := writeFile(t, "valid.csv", validCSV)
	invalid := writeFile(t, "invalid.csv", invalidCSV)

	t.Run("valid", func(t *testing.T) {
		code, out, errOut := runCLI(t, "", "validate", valid)
		if code != exitOK {
			t.Errorf("exit = %d, want %d; stderr %s", code, exitOK, errOut)
		}
		if want := valid + ": valid, 2 rows\n"; out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
		if errOut != "" {
			t.Errorf("stderr = %q, want nothing (no progress bar off a terminal)", errOut)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		code, out, _ := runCLI(t, "", "validate", valid, invalid)
		if code != exitRejected {
			t.Errorf("exit = %d, want %d", code, exitRejected)
		}
		for _, want := range []string{
			invalid + ": invalid, 3 rows, 3 errors",
			"line 2, amount \"99.999\": invalid amount: 3 fraction digits, USD has 2",
			"line 3, currency \"DEM\": not a current ISO 4217 currency code",
			"line 4, transaction_id \"t1\": duplicate transaction_id: first on line 2",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, _ := runCLI(t, "", "validate", "--json", valid, invalid)
		if code != exitRejected {
			t.Errorf("exit = %d, want %d", code, exitRejected)
		}
		var doc struct {
			Files []struct {
				File       string `json:"file"`
				Valid      bool   `json:"valid"`
				Rows       int64  `json:"rows"`
				ErrorCount int64  `json:"error_count"`
				Errors     []struct {
					Line    int    `json:"line"`
					Column  string `json:"column"`
					Value   string `json:"value"`
					Message string `json:"message"`
				} `json:"errors"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, out)
		}
		if len(doc.Files) != 2 {
			t.Fatalf("files = %d, want 2", len(doc.Files))
		}
		if f := doc.Files[0]; f.File != valid || !f.Valid || f.Rows != 2 || f.ErrorCount != 0 || f.Errors == nil {
			t.Errorf("valid file = %+v", f)
		}
		f := doc.Files[1]
		if f.Valid || f.Rows != 3 || f.ErrorCount != 3 || len(f.Errors) != 3 {
			t.Fatalf("invalid file = %+v", f)
		}
		if e := f.Errors[0]; e.Line != 2 || e.Column != "amount" || e.Value != "99.999" || e.Message == "" {
			t.Errorf("first error = %+v", e)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		code, out, _ := runCLI(t, invalidCSV, "validate", "-")
		if code != exitRejected || !strings.Contains(out, "duplicate transaction_id") {
			t.Errorf("exit = %d, stdout %q", code, out)
		}
	})
	t.Run("stdin pipe", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			pw.WriteString(invalidCSV)
			pw.Close()
		}()
		defer pr.Close()
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"validate", "-"}, pr, &out, &errb)
		if code != exitRejected || !strings.Contains(out.String(), "line 4, transaction_id \"t1\": duplicate transaction_id: first on line 2") {
			t.Errorf("exit = %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	})
	t.Run("usage and I/O errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"validate"},
			{"validate", "--bogus", valid},
			{"validate", filepath.Join(t.TempDir(), "missing.csv")},
			{"validate", valid, t.TempDir()},
		} {
			code, _, errOut := runCLI(t, "", args...)
			if code != exitUsage || errOut == "" {
				t.Errorf("%q: exit = %d, stderr %q; want %d and a message", args, code, errOut, exitUsage)
			}
		}
	})
	t.Run("many errors", func(t *testing.T) {
		var b bytes.Buffer
		if err := txgen.Write(&b, txgen.Options{Rows: 1000, Seed: 5, BadShare: 0.5}); err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, "bad.csv", b.String())
		code, out, _ := runCLI(t, "", "validate", p)
		if code != exitRejected {
			t.Errorf("exit = %d", code)
		}
		if n := strings.Count(out, "\n  line "); n != 100 {
			t.Errorf("printed %d errors, want the first 100", n)
		}
		if !strings.Contains(out, "more errors") {
			t.Errorf("no count of the errors beyond 100:\n%s", out[len(out)-200:])
		}
	})
}
