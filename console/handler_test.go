package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/txpipe/txpipe/console"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestHeaders checks what the console's responses tell the browser: a
// strict CSP, no sniffing, no framing, and the right types. The handler is
// mounted as httpapi mounts it (GET / and GET /console/); the whole server
// with the console is checked by cmd/txpipe's TestServeMountsConsole and by
// the browser tests (-tags integration).
func TestHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", console.Handler())
	mux.Handle("GET /console/", console.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	for _, c := range []struct{ path, ctype, body string }{
		{"/", "text/html", `<script type="module" src="/console/app.js">`},
		{"/console/app.js", "text/javascript", "import"},
		{"/console/style.css", "text/css", "body"},
		{"/console/vendor/uplot/uPlot.esm.js", "text/javascript", "uPlot"},
		{"/console/vendor/noble-hashes/sha2.js", "text/javascript", "sha256"},
	} {
		resp, body := get(t, ts.URL+c.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", c.path, resp.Status)
			continue
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, got, c.ctype)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
			t.Errorf("GET %s: CSP %q", c.path, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", c.path, got)
		}
		if !strings.Contains(body, c.body) {
			t.Errorf("GET %s: body lacks %q", c.path, c.body)
		}
	}
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'", "default-src 'none'"} {
		if !strings.Contains(console.CSP, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
	if strings.Contains(console.CSP, "unsafe-inline") || strings.Contains(console.CSP, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %s", console.CSP)
	}
	// Not found stays not found.
	for _, p := range []string{"/console/", "/console/../go.mod", "/console/nothing.js", "/index.html"} {
		if resp, _ := get(t, ts.URL+p); resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: %s, want an error", p, resp.Status)
		}
	}
}
