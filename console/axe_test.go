//go:build integration

package console_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// axeSource finds axe-core (npm ci installs it from package.json into the
// repository's node_modules; TXPIPE_AXE_JS names another copy).
func axeSource(t *testing.T) string {
	t.Helper()
	paths := []string{os.Getenv("TXPIPE_AXE_JS")}
	if dir, err := os.Getwd(); err == nil {
		for d := dir; ; d = filepath.Dir(d) {
			paths = append(paths, filepath.Join(d, "node_modules", "axe-core", "axe.min.js"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("axe-core not found: npm ci installs it (package.json)")
	}
	t.Skip("axe-core not found: run npm ci, or set TXPIPE_AXE_JS")
	return ""
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// TestAxeAudit runs axe-core in the browser on every page of the console,
// with data on them, and fails on any serious or critical violation.
func TestAxeAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	axe := axeSource(t)
	ts := startServer(t)
	fileID := uploadAndWait(t, ts, "audit.csv", mustValidCSV("audit-", 30))
	b := newBrowser(t, ts.URL)
	// axe is injected by the test, not served by the console: let the page
	// run it despite the console's script-src 'self' and Trusted Types.
	if _, err := chromedp.Call(b.ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	audit := func(name string) {
		t.Helper()
		var loaded bool
		b.eval(`typeof window.axe !== "undefined"`, &loaded)
		if !loaded {
			b.do("inject axe-core", chromedp.Evaluate[chromedp.Void](axe))
		}
		raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](
			`axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", name, err)
		}
		var vs []axeViolation
		if err := json.Unmarshal(raw, &vs); err != nil {
			t.Fatalf("axe on %s: %v", name, err)
		}
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				var where []string
				for _, n := range v.Nodes {
					where = append(where, strings.Trim(strings.Join(strings.Fields(strings.Trim(jsonString(n.Target), "[]")), " "), `"`))
				}
				t.Errorf("%s: %s violation %s (%s) at %v", name, v.Impact, v.ID, v.Help, where)
			} else {
				t.Logf("%s: %s violation %s (%s), %d nodes", name, v.Impact, v.ID, v.Help, len(v.Nodes))
			}
		}
	}

	b.do("open the console", chromedp.Navigate(ts.URL+"/"))
	b.wait("the sign-in form", `document.getElementById("key") !== null`, 10*time.Second)
	audit("sign-in")
	b.do("sign in", chromedp.SendKeys(chromedp.ID("key"), ts.AdminKey), chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	b.wait("the file list", `!document.getElementById("nav").hidden && document.querySelector("main tbody a") !== null`, 10*time.Second)
	audit("files")
	for _, p := range []struct{ hash, ready string }{
		{"#/upload", `document.getElementById("file") !== null`},
		{"#/files/" + fileID, `document.querySelector("main dl") !== null`},
		{"#/transactions", `document.querySelector("main form") !== null`},
		{"#/volumes", `document.querySelector("main form") !== null`},
		{"#/dlq", `document.querySelector("main h1") !== null`},
		{"#/keys", `document.querySelector("main tbody tr") !== null`},
	} {
		b.goTo(p.hash)
		b.wait(p.hash, p.ready, 10*time.Second)
		time.Sleep(300 * time.Millisecond) // let the page's first data arrive
		audit(p.hash)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func mustValidCSV(prefix string, n int) string {
	s, _ := validCSV(prefix, n)
	return s
}
