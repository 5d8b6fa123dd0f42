package main

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestMain runs up to 8 parallel tests at once unless -parallel is given:
// they spend their time waiting on their own in-process servers (polls,
// back-offs), not on a CPU, so the default of GOMAXPROCS leaves the cores
// idle.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}

// allCommands returns the command path of every txpipe command.
func allCommands() [][]string {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	root := &cobra.Command{Use: "txpipe"}
	for _, c := range commands {
		root.AddCommand(c())
	}
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	return paths
}

// TestNoSecretInHelpOrUsage runs every command's help and a usage error of
// each with TXPIPE_API_KEY set, and finds the key nowhere in the output.
func TestNoSecretInHelpOrUsage(t *testing.T) {
	const secret = "txp_0123456789secretsecretsecret"
	t.Setenv(envAPIKey, secret)
	t.Setenv(envEndpoint, "http://127.0.0.1:1")
	paths := allCommands()
	if len(paths) < 9 {
		t.Fatalf("found %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		for _, args := range [][]string{
			append(append([]string{}, p...), "--help"),
			append([]string{"help"}, p...),
			append(append([]string{}, p...), "--no-such-flag"),
			append(append([]string{}, p...), "--no-such-flag", "--json"),
			append(append([]string{}, p...), "one", "two", "three"),
		} {
			code, out, errOut := runCLI(t, "", args...)
			if strings.Contains(out+errOut, secret) {
				t.Errorf("txpipe %s printed the API key:\n%s\n%s", strings.Join(args, " "), out, errOut)
			}
			if args[len(args)-1] == "--help" || args[0] == "help" {
				if code != exitOK || out == "" || errOut != "" {
					t.Errorf("txpipe %s = %d, stdout %d bytes, stderr %q; want 0 and help on stdout", strings.Join(args, " "), code, len(out), errOut)
				}
			}
			if args[len(args)-1] == "--no-such-flag" && (code != exitUsage || out != "") {
				t.Errorf("txpipe %s = %d, stdout %q; want %d and nothing on stdout", strings.Join(args, " "), code, out, exitUsage)
			}
		}
	}
	// The help names the variable instead.
	_, out, _ := runCLI(t, "", "upload", "--help")
	if !strings.Contains(out, "$"+envAPIKey) {
		t.Errorf("upload --help does not name $%s:\n%s", envAPIKey, out)
	}
}

func TestHelpIsSpecific(t *testing.T) {
	t.Parallel()
	_, viaHelp, _ := runCLI(t, "", "help", "upload")
	_, viaFlag, _ := runCLI(t, "", "upload", "--help")
	if viaHelp != viaFlag || !strings.Contains(viaHelp, "--wait") {
		t.Errorf("help upload and upload --help differ or lack --wait:\n%s\n---\n%s", viaHelp, viaFlag)
	}
	for _, args := range [][]string{{"dlq", "--help"}, {"dlq", "-h"}, {"apikey", "create", "-h"}, {"--help"}} {
		if code, out, _ := runCLI(t, "", args...); code != exitOK || out == "" {
			t.Errorf("txpipe %s = %d, want 0 and help on stdout", strings.Join(args, " "), code)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"uplaod"}, "did you mean upload"},
		{[]string{"dlq"}, "a subcommand is needed: list or redrive"},
		{[]string{"dlq", "purge"}, `unknown subcommand "purge"`},
		{[]string{"apikey"}, "a subcommand is needed: create"},
		{[]string{"status"}, "want one FILE_ID, got 0"},
		{[]string{"serve", "--workers", "many"}, "invalid argument"},
	} {
		code, out, errOut := runCLI(t, "", tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("txpipe %s = %d, stdout %q, stderr %q; want %d, %q and a pointer to the help", strings.Join(tc.args, " "), code, out, errOut, exitUsage, tc.want)
		}
	}
}

// TestJSONErrors: with --json an error is one JSON document on stderr and
// stdout stays empty.
func TestJSONErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args     []string
		code     int
		wantCode string
	}{
		{[]string{"status", "--json"}, exitUsage, "usage"},
		{[]string{"status", "--json", "--endpoint", "http://" + closedAddr(t), "--api-key", "k", "f"}, exitUsage, "network"},
		{[]string{"dlq", "list", "--json", "--data-dir", t.TempDir()}, exitUsage, "no_data_dir"},
		{[]string{"upload", "--json", "--api-key", "k", "/no/such/file.csv"}, exitUsage, "io"},
	} {
		code, out, errOut := runCLI(t, "", tc.args...)
		var doc struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if code != tc.code || out != "" || json.Unmarshal([]byte(errOut), &doc) != nil || doc.Error.Code != tc.wantCode || doc.Error.Message == "" {
			t.Errorf("txpipe %s = %d, stdout %q, stderr %q; want %d and {\"error\": {\"code\": %q, ...}}", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.wantCode)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "", "version", "--json")
	var v buildInfo
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Errorf("version --json = %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "", "version"); code != exitOK || !strings.HasPrefix(out, "txpipe ") {
		t.Errorf("version = %d %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := runCLI(t, "", "completion", shell)
		if code != exitOK || !strings.Contains(out, "txpipe") || len(out) < 500 {
			t.Errorf("completion %s = %d, %d bytes, stderr %q", shell, code, len(out), errOut)
		}
	}
}

// TestLocalStoreCommandsNeedADataDir: apikey and dlq in a directory
// without a data dir say where they looked, exit 2 and create nothing.
func TestLocalStoreCommandsNeedADataDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(envDataDir, "")
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "redrive", "f1"}, {"apikey", "create", "--name", "x"}} {
		code, out, errOut := runCLI(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, dir) || !strings.Contains(errOut, "--data-dir") || !strings.Contains(errOut, envDataDir) {
			t.Errorf("txpipe %s = %d, stdout %q, stderr %q; want 2, where it looked and how to point it", strings.Join(args, " "), code, out, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the commands created %v", entries)
	}
}
