package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/console"
)

// TestServeMountsConsole checks that `txpipe serve` serves the web console
// at / with its security headers, that the first key is an admin key, and
// that the console's API paths answer (the browser tests drive the pages,
// in the console package).
func TestServeMountsConsole(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	url, key := startServer(t, dataDir)
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "/console/app.js") {
		t.Fatalf("GET /: %s\n%s", resp.Status, body)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
		t.Errorf("GET /: CSP %q", got)
	}
	for _, c := range []struct{ path, want string }{
		{"/whoami", `"role":"admin"`},
		{"/files", `"items":[]`},
		{"/volumes?from=2024-01-01&to=2024-02-01", `"items":[]`},
		{"/dlq", `"items":[]`},
		{"/keys", `"name":"default"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+c.path, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), c.want) || !json.Valid(b) {
			t.Errorf("GET %s: %s %s, want 200 with %s", c.path, resp.Status, b, c.want)
		}
	}
	// The API keeps its key check beside the console.
	resp, err = http.Get(url + "/files")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /files without a key: %s, want 401", resp.Status)
	}
	// A key made without --admin cannot manage keys.
	code, out, errOut := localCLI(t, dataDir, "apikey", "create", "--name", "uploader")
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, errOut)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/keys", nil)
	req.Header.Set("x-api-key", strings.TrimSpace(out))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /keys with a user key: %s, want 403", resp.Status)
	}
}
