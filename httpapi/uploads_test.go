package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func declare(t *testing.T, e *env, body string) answer {
	t.Helper()
	return do(t, request(t, http.MethodPost, e.url+"/uploads", e.key, "application/json", strings.NewReader(body)))
}

func declJSON(name string, size int, sum string) string {
	return `{"filename": "` + name + `", "size_bytes": ` + itoa(size) + `, "sha256": "` + sum + `"}`
}

func itoa(n int) string { return strconv.Itoa(n) }

func put(t *testing.T, rawURL string, headers map[string]any, body io.Reader, size int64) answer {
	t.Helper()
	req := request(t, http.MethodPut, rawURL, "", "", body)
	for k, v := range headers {
		req.Header.Set(k, v.(string))
	}
	req.ContentLength = size
	return do(t, req)
}

func TestTwoStepUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	data := validCSV("two", 50)

	a := declare(t, e, declJSON("../month.csv", len(data), strings.ToUpper(sha(data))))
	wantCode(t, "declare", a, http.StatusCreated, "")
	for _, k := range []string{"file_id", "status", "upload_url", "method", "headers", "expires_at", "status_url"} {
		if _, ok := a.body[k]; !ok {
			t.Errorf("declare answer lacks %q: %s", k, a.raw)
		}
	}
	fileID := a.body["file_id"].(string)
	if got, want := fileID, txpipe.FileIDFromSHA256(sha(data)); got != want {
		t.Fatalf("file_id = %q, want %q (the one-step flow's id)", got, want)
	}
	if got, want := a.body["status"], txpipe.StatusAwaitingUpload; got != want {
		t.Errorf("status = %v, want %v", got, want)
	}
	if got, want := a.body["method"], "PUT"; got != want {
		t.Errorf("method = %v, want %v", got, want)
	}
	exp, err := time.Parse(time.RFC3339, a.body["expires_at"].(string))
	if err != nil || time.Until(exp) < 15*time.Minute {
		t.Errorf("expires_at = %v (%v): want at least 15 minutes ahead", a.body["expires_at"], err)
	}
	u := a.body["upload_url"].(string)
	if !strings.HasPrefix(u, e.url+"/uploads/"+fileID+"?") {
		t.Errorf("upload_url = %q, want one on this server", u)
	}
	st := do(t, request(t, http.MethodGet, e.url+"/status/"+fileID, e.key, "", nil))
	wantCode(t, "status before the bytes", st, http.StatusOK, "")
	if got := st.body["status"]; got != txpipe.StatusAwaitingUpload {
		t.Errorf("status before the bytes = %v, want AWAITING_UPLOAD", got)
	}
	if got := st.body["filename"]; got != "month.csv" {
		t.Errorf("filename = %v, want month.csv", got)
	}

	// No x-api-key: the URL carries its own authority.
	p := put(t, u, a.body["headers"].(map[string]any), strings.NewReader(data), int64(len(data)))
	wantCode(t, "PUT", p, http.StatusOK, "")
	if got, want := p.body["status"], txpipe.StatusValidated; got != want {
		t.Errorf("PUT answer status = %v, want %v", got, want)
	}
	if got, want := e.runs.count(), 1; got != want {
		t.Fatalf("%d runs started, want %d", got, want)
	}
	st = do(t, request(t, http.MethodGet, e.url+"/status/"+fileID, e.key, "", nil))
	if got := st.body["status"]; got != txpipe.StatusValidated {
		t.Errorf("status after the bytes = %v, want VALIDATED", got)
	}
	if got, want := st.body["rows"], float64(50); got != want {
		t.Errorf("rows = %v, want %v", got, want)
	}
	if _, ok := st.body["expires_at"]; ok {
		t.Errorf("a validated record has expires_at: %s", st.raw)
	}
	spoolEmpty(t, e)

	// Known bytes: 200 with the record, nothing to send, in both flows.
	a = declare(t, e, declJSON("again.csv", len(data), sha(data)))
	wantCode(t, "declare known", a, http.StatusOK, "")
	if _, ok := a.body["upload_url"]; ok || a.body["file_id"] != fileID {
		t.Errorf("declare known bytes: %s", a.raw)
	}
	res, err := e.client().Upload(t.Context(), "same.csv", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Record.FileID != fileID {
		t.Errorf("one-step upload of the same bytes: %d %s, want 200 %s", res.StatusCode, res.Record.FileID, fileID)
	}
	// A second PUT to the URL changes nothing.
	p = put(t, u, nil, strings.NewReader(data), int64(len(data)))
	wantCode(t, "second PUT", p, http.StatusOK, "")
	if got, want := e.runs.count(), 1; got != want {
		t.Errorf("%d runs after a second PUT, want %d", got, want)
	}
}

func TestTwoStepUploadRefusesOtherBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	data := validCSV("other", 20)
	a := declare(t, e, declJSON("x.csv", len(data), sha(data)))
	wantCode(t, "declare", a, http.StatusCreated, "")
	u, fileID := a.body["upload_url"].(string), a.body["file_id"].(string)

	other := strings.Replace(data, "Shop 1,", "Shop X,", 1)
	cases := []struct {
		name string
		body string
		size int64 // Content-Length; -1 chunked
		code int
		err  string
		want string // in the message
	}{
		{"same size, other bytes", other, int64(len(other)), 400, "invalid", "SHA-256"},
		{"shorter Content-Length", data[:10], 10, 400, "invalid", "declared"},
		{"longer Content-Length", data + "x", int64(len(data)) + 1, 400, "invalid", "declared"},
		{"chunked, too long", data + "more", -1, 400, "invalid", "longer"},
		{"chunked, too short", data[:len(data)-1], -1, 400, "invalid", "declared"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := put(t, u, nil, io.MultiReader(strings.NewReader(c.body)), c.size)
			wantCode(t, c.name, p, c.code, c.err)
			if !strings.Contains(p.raw, c.want) {
				t.Errorf("message %s does not say %q", p.raw, c.want)
			}
		})
	}
	if got := e.runs.count(); got != 0 {
		t.Errorf("%d runs started by refused bytes, want 0", got)
	}
	st := do(t, request(t, http.MethodGet, e.url+"/status/"+fileID, e.key, "", nil))
	if got := st.body["status"]; got != txpipe.StatusAwaitingUpload {
		t.Errorf("status after refused bytes = %v, want AWAITING_UPLOAD", got)
	}
	spoolEmpty(t, e)

	// A URL whose signature or terms were changed is refused.
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	q.Set("size", "1")
	parsed.RawQuery = q.Encode()
	p := put(t, parsed.String(), nil, strings.NewReader("x"), 1)
	wantCode(t, "tampered URL", p, http.StatusForbidden, "forbidden")
	q = parsed.Query()
	q.Del("signature")
	parsed.RawQuery = q.Encode()
	wantCode(t, "unsigned URL", put(t, parsed.String(), nil, strings.NewReader("x"), 1), http.StatusForbidden, "forbidden")
}

func TestTwoStepUploadExpires(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := newEnv(t, envOptions{now: clock})
	data := validCSV("late", 5)
	a := declare(t, e, declJSON("late.csv", len(data), sha(data)))
	wantCode(t, "declare", a, http.StatusCreated, "")
	u, fileID := a.body["upload_url"].(string), a.body["file_id"].(string)

	now.Add(int64(2 * time.Hour))
	st := do(t, request(t, http.MethodGet, e.url+"/status/"+fileID, e.key, "", nil))
	if got := st.body["status"]; got != txpipe.StatusExpired {
		t.Errorf("status after expires_at = %v, want EXPIRED", got)
	}
	p := put(t, u, nil, strings.NewReader(data), int64(len(data)))
	wantCode(t, "PUT after expiry", p, http.StatusForbidden, "forbidden")
	if !strings.Contains(p.raw, "expired") {
		t.Errorf("message %s does not say the URL expired", p.raw)
	}
	n, err := e.db.ExpireUploads(t.Context(), clock())
	if err != nil || n != 1 {
		t.Fatalf("ExpireUploads = %d, %v; want 1", n, err)
	}
	rec, err := e.db.GetStatus(t.Context(), fileID)
	if err != nil || rec.Status != txpipe.StatusExpired {
		t.Fatalf("stored status after the sweep = %+v, %v; want EXPIRED", rec, err)
	}
	// Declared again: a new URL, and its bytes are taken in.
	a = declare(t, e, declJSON("late.csv", len(data), sha(data)))
	wantCode(t, "declare again", a, http.StatusCreated, "")
	p = put(t, a.body["upload_url"].(string), nil, strings.NewReader(data), int64(len(data)))
	wantCode(t, "PUT to the new URL", p, http.StatusOK, "")
	if got := p.body["status"]; got != txpipe.StatusValidated {
		t.Errorf("status = %v, want VALIDATED", got)
	}
}

func TestDeclareRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxUpload: 1000})
	good := sha("x")
	cases := []struct {
		name, body string
		code       int
		err        string
	}{
		{"not JSON", "filename=x", 400, "invalid"},
		{"short sha256", declJSON("a.csv", 10, "abc"), 400, "invalid"},
		{"non-hex sha256", declJSON("a.csv", 10, strings.Repeat("g", 64)), 400, "invalid"},
		{"zero size", declJSON("a.csv", 0, good), 400, "invalid"},
		{"negative size", declJSON("a.csv", -5, good), 400, "invalid"},
		{"unknown field", `{"filename": "a.csv", "size_bytes": 1, "sha256": "` + good + `", "md5": "x"}`, 400, "invalid"},
		{"over the limit", declJSON("a.csv", 1001, good), 413, "too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.name, declare(t, e, c.body), c.code, c.err)
		})
	}
	wantCode(t, "no key", do(t, request(t, http.MethodPost, e.url+"/uploads", "", "application/json",
		strings.NewReader(declJSON("a.csv", 1, good)))), http.StatusUnauthorized, "unauthorized")
}

func TestUploadUseUploadsAbove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{useUploadsAbove: 1000})
	data := validCSV("big", 100) // > 1000 bytes
	a := do(t, request(t, http.MethodPost, e.url+"/upload", e.key, "text/csv", strings.NewReader(data)))
	wantCode(t, "POST /upload over the limit", a, http.StatusRequestEntityTooLarge, "use_uploads")
	if !strings.Contains(a.raw, "POST /uploads") {
		t.Errorf("message %s does not name POST /uploads", a.raw)
	}
	small := validCSV("s", 2)
	wantCode(t, "small POST /upload", do(t, request(t, http.MethodPost, e.url+"/upload", e.key, "text/csv", strings.NewReader(small))), http.StatusAccepted, "")
}

func TestUploadPreflight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{origins: []string{"https://console.example"}})
	req := request(t, http.MethodOptions, e.url+"/uploads/abc", "", "", nil)
	req.Header.Set("Origin", "https://console.example")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	a := do(t, req)
	if a.code != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("preflight from an allowed origin: %d %v", a.code, a.header)
	}
	req = request(t, http.MethodOptions, e.url+"/uploads/abc", "", "", nil)
	req.Header.Set("Origin", "https://evil.example")
	if a := do(t, req); a.code != http.StatusForbidden || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", a.code, a.header)
	}
}

func TestClientUploadFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{useUploadsAbove: 1000})
	c := e.client()

	data := validCSV("client", 100) // over the 1000-byte direct limit
	var sent int64
	res, err := c.UploadFile(t.Context(), "c.csv", strings.NewReader(data), int64(len(data)),
		httpapi.UploadOptions{Progress: func(n int64) { sent = n }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created() || res.Record.Status != txpipe.StatusValidated || res.Record.Rows != 100 {
		t.Fatalf("UploadFile over the direct limit: %d %+v, want 202 VALIDATED 100 rows", res.StatusCode, res.Record)
	}
	if got, want := res.Record.FileID, txpipe.FileIDFromSHA256(sha(data)); got != want {
		t.Errorf("file id %s, want %s", got, want)
	}
	if sent != int64(len(data)) {
		t.Errorf("progress ended at %d bytes, want %d", sent, len(data))
	}
	// The same bytes in one step: known, same id.
	res2, err := c.Upload(t.Context(), "c.csv", strings.NewReader(data))
	if err == nil {
		t.Fatalf("one-step upload over the direct limit: %d, want 413 use_uploads", res2.StatusCode)
	}
	if got := txpipe.ErrorCode(err); got != txpipe.EUSEUPLOADS {
		t.Errorf("one-step error code %q, want use_uploads", got)
	}
	res2, err = c.UploadFile(t.Context(), "c.csv", strings.NewReader(data), int64(len(data)), httpapi.UploadOptions{TwoStep: true})
	if err != nil || res2.StatusCode != http.StatusOK || res2.Record.FileID != res.Record.FileID {
		t.Fatalf("two-step upload of known bytes: %+v, %v; want 200 %s", res2, err, res.Record.FileID)
	}

	bad := header + "t1,-1,USD,2026-01-02T03:04:05Z,Shop,completed\n"
	res3, err := c.UploadFile(t.Context(), "bad.csv", strings.NewReader(bad), int64(len(bad)), httpapi.UploadOptions{TwoStep: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res3.Rejected() || res3.Record.ErrorCount != 1 || len(res3.Record.Errors) != 1 || res3.Record.Errors[0].Line != 2 {
		t.Errorf("two-step upload of a bad file: %d %+v, want 422 with its error on line 2", res3.StatusCode, res3.Record)
	}
}
