package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/profile"
)

func dialectFile(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "csvschema", "testdata", "dialects", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateDialects: separators are detected and said; a forced comma
// on a semicolon file gets one error naming the separator; a bank export
// validates under its profile and, without one, gets a profile skeleton.
func TestValidateDialects(t *testing.T) {
	t.Parallel()
	semi := writeFile(t, "semi.csv", "transaction_id;amount;currency;timestamp;merchant;status\nA1;12.50;EUR;2024-01-15T10:30:00Z;Shop;completed\n")
	code, out, errOut := clientCLI(t, "validate", semi)
	if code != exitOK || !strings.Contains(out, "valid, 1 rows (read as ';'-separated utf-8)") {
		t.Fatalf("validate semicolon file = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = clientCLI(t, "validate", "--delimiter", ",", semi)
	if code != exitRejected || !strings.Contains(out, `the header is one column when split on ","; it splits on ";": the file's separator is likely ";"`) ||
		strings.Count(out, "line 1") != 1 {
		t.Fatalf("validate --delimiter , = %d\n%s", code, out)
	}
	code, out, _ = clientCLI(t, "validate", "--json", "--delimiter", "tab", dialectFile(t, "tab-utf16le-bom.csv"))
	if code != exitOK || !strings.Contains(out, `"delimiter": "\t"`) || !strings.Contains(out, `"encoding": "utf-16le"`) {
		t.Fatalf("validate --json tab file = %d\n%s", code, out)
	}

	bank, prof := dialectFile(t, "semicolon-windows1252.csv"), dialectFile(t, "bank.profile.yaml")
	code, out, errOut = clientCLI(t, "validate", "--profile-file", prof, bank)
	if code != exitOK || !strings.Contains(out, "valid, 20 rows (read as ';'-separated windows-1252)") {
		t.Fatalf("validate under the profile = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = clientCLI(t, "validate", "--encoding", "cp1252", bank)
	if code != exitRejected || !strings.Contains(out, "a profile to start from") || !strings.Contains(out, `amount: "Betrag"`) {
		t.Fatalf("validate without the profile = %d\n%s", code, out)
	}
	code, out, _ = clientCLI(t, "validate", bank)
	if code != exitRejected || !strings.Contains(out, "declare its encoding") {
		t.Fatalf("validate Windows-1252 as UTF-8 = %d\n%s", code, out)
	}
	code, _, errOut = clientCLI(t, "validate", "--encoding", "ebcdic", bank)
	if code != exitUsage || !strings.Contains(errOut, "unknown encoding") {
		t.Fatalf("unknown encoding = %d\n%s", code, errOut)
	}
	bad := writeFile(t, "bad.yaml", "columns:\n  amout: Betrag\n")
	code, _, errOut = clientCLI(t, "validate", "--profile-file", bad, bank)
	if code == exitOK || !strings.Contains(errOut, `"amout" is not a field`) {
		t.Fatalf("bad profile = %d\n%s", code, errOut)
	}
}

// TestProfileSuggest: the skeleton is a valid profile that reads the
// file's dialect and maps every field.
func TestProfileSuggest(t *testing.T) {
	t.Parallel()
	code, out, errOut := clientCLI(t, "profile", "suggest", "--encoding", "windows-1252", dialectFile(t, "semicolon-windows1252.csv"))
	if code != exitOK || !strings.Contains(errOut, "6 of 6 fields matched") {
		t.Fatalf("suggest = %d\n%s%s", code, out, errOut)
	}
	p, err := profile.Parse([]byte(out))
	if err != nil {
		t.Fatalf("the suggestion does not parse: %v\n%s", err, out)
	}
	if p.Delimiter != ";" || p.Encoding != "windows-1252" || p.Columns["timestamp"] != "Buchungstag" || p.Amount.Decimal != "," ||
		p.Time.Layout != "02.01.2006 15:04:05" || !p.IgnoreExtraColumns {
		t.Fatalf("suggestion %+v\n%s", p, out)
	}
}

// TestProfileCommands: create, list, show, upload --profile, delete,
// against a running server.
func TestProfileCommands(t *testing.T) {
	t.Parallel()
	url, key := startServer(t, t.TempDir())
	conn := []string{"--endpoint", url, "--api-key", key}
	cli := func(args ...string) (int, string, string) {
		return clientCLI(t, append(args[:len(args):len(args)], conn...)...)
	}
	bank, prof := dialectFile(t, "semicolon-windows1252.csv"), dialectFile(t, "bank.profile.yaml")

	code, out, errOut := cli("upload", "--encoding", "windows-1252", bank)
	if code != exitRejected || !strings.Contains(errOut, "a profile to start from") || out != "" {
		t.Fatalf("upload without a profile = %d\nstdout %q\n%s", code, out, errOut)
	}
	if code, out, errOut = cli("profile", "create", "bank", "--file", prof); code != exitOK || out != "profile bank created\n" {
		t.Fatalf("create = %d %q %s", code, out, errOut)
	}
	if code, out, _ = cli("profile", "list"); code != exitOK || !strings.Contains(out, "bank") {
		t.Fatalf("list = %d %q", code, out)
	}
	want, _ := os.ReadFile(prof)
	if code, out, _ = cli("profile", "show", "bank"); code != exitOK || out != string(want) {
		t.Fatalf("show = %d %q", code, out)
	}
	code, out, errOut = cli("upload", "--profile", "bank", "--wait", bank)
	if code != exitOK || !fileIDLine.MatchString(out) {
		t.Fatalf("upload --profile = %d %q\n%s", code, out, errOut)
	}
	code, out, _ = cli("status", "--json", strings.TrimSpace(out))
	if code != exitOK || !strings.Contains(out, `"profile": "bank"`) || !strings.Contains(out, `"encoding": "windows-1252"`) || !strings.Contains(out, `"inserted": 20`) {
		t.Fatalf("status = %d\n%s", code, out)
	}
	if code, _, errOut = cli("profile", "delete", "bank"); code != exitOK {
		t.Fatalf("delete = %d %s", code, errOut)
	}
	if code, _, errOut = cli("profile", "show", "bank"); code != exitRejected {
		t.Fatalf("show deleted = %d %s", code, errOut)
	}
	if code, _, errOut = cli("profile", "create", "bank", "--file", writeFile(t, "p.yaml", "colums: {}\n")); code == exitOK {
		t.Fatalf("create with a bad file = %d %s", code, errOut)
	}
}
