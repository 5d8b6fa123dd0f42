// Package console is txpipe's web console: a small single-page app in plain
// JavaScript modules (no build step), embedded in the binary and served by
// `txpipe serve` at /. It speaks only the public HTTP API, with the API key
// the user signs in with (kept in the tab's session storage).
//
// Handler serves the assets with a strict Content-Security-Policy: scripts
// and styles from this origin only, no inline script, Trusted Types
// required (so no HTML string can reach the DOM), no framing.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:assets
var assets embed.FS

// CSP is the Content-Security-Policy of every console response. connect-src
// allows S3 (the two-step upload's presigned PUT URL on AWS).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' https://*.amazonaws.com; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Prefix is the path under which the assets are served; the app itself is
// served at /.
const Prefix = "/console/"

// Handler serves the console: index.html at / and the assets under
// Prefix. Mount it for "GET /{$}" and "GET /console/".
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		if !strings.HasPrefix(r.URL.Path, Prefix) || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
