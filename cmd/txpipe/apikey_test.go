package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

func TestAPIKeyCommand(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	openDB(t, dataDir) // a data dir with a database and no keys
	code, out, errOut := clientCLI(t, "apikey", "create", "--name", "ci", "--quota-per-day", "3", "--data-dir", dataDir, "--json")
	var created struct {
		Name        string `json:"name"`
		APIKey      string `json:"api_key"`
		QuotaPerDay int64  `json:"quota_per_day"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("apikey create --json = %d %q %q", code, out, errOut)
	}
	if created.Name != "ci" || created.QuotaPerDay != 3 || !strings.HasPrefix(created.APIKey, httpapi.APIKeyPrefix) {
		t.Errorf("apikey create --json printed %+v", created)
	}

	// The server on that data dir knows the key (and makes no other) and
	// holds it to its quota.
	url, first := startServer(t, dataDir)
	if first != "" {
		t.Errorf("serve made a first key although the data dir has one")
	}
	// (Status reads do not count against the quota; transactions queries do.)
	c := &httpapi.Client{Endpoint: url, APIKey: created.APIKey}
	q := txpipe.TxQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Limit: 10}
	for i := range 3 {
		if _, err := c.Transactions(t.Context(), q); err != nil {
			t.Fatalf("request %d with the new key: %v", i+1, err)
		}
	}
	if _, err := c.Transactions(t.Context(), q); txpipe.ErrorCode(err) != txpipe.ERATELIMIT {
		t.Errorf("request past the quota of 3: %v, want %q", err, txpipe.ERATELIMIT)
	}

	// Human text: the key alone on stdout.
	code, out, errOut = clientCLI(t, "apikey", "create", "--name", "two", "--data-dir", dataDir)
	if code != exitOK || !regexp.MustCompile(`^txp_[0-9a-f]{64}\n$`).MatchString(out) || !strings.Contains(errOut, "shown only once") {
		t.Errorf("apikey create = %d %q %q", code, out, errOut)
	}

	// Names are unique.
	code, out, errOut = clientCLI(t, "apikey", "create", "--name", "two", "--data-dir", dataDir)
	if code != exitUsage || out != "" || !strings.Contains(errOut, `"two" exists already`) {
		t.Errorf("apikey create with a name taken = %d %q %q, want 2, nothing on stdout, and why", code, out, errOut)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no subcommand", []string{"apikey"}},
		{"unknown subcommand", []string{"apikey", "delete"}},
		{"no name", []string{"apikey", "create", "--data-dir", dataDir}},
		{"zero rate", []string{"apikey", "create", "--name", "x", "--rate-per-second", "0", "--data-dir", dataDir}},
		{"zero quota", []string{"apikey", "create", "--name", "x", "--quota-per-day", "0", "--data-dir", dataDir}},
	} {
		if code, _, _ := clientCLI(t, tc.args...); code != exitUsage {
			t.Errorf("%s: exit %d, want %d", tc.name, code, exitUsage)
		}
	}
}
