package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/telemetry/prom"
	"github.com/txpipe/txpipe/workflow"
)

// env is a real API handler on a loopback port with its stores.
type env struct {
	url     string
	handler *httpapi.Server
	http    *http.Server
	db      *sqlite.DB // transactions, status records and API keys
	runs    *runs
	spool   string
	logs    *syncBuffer
	key     string // a key with generous limits
}

type envOptions struct {
	maxBody         int64
	now             func() time.Time
	useUploadsAbove int64
	maxUpload       int64
	origins         []string
	dir             string // the data dir; a new temporary one if empty
	maxUploads      int
	uploadIdle      time.Duration
}

func newEnv(t testing.TB, opt envOptions) *env {
	t.Helper()
	dir := opt.dir
	if dir == "" {
		dir = t.TempDir()
		sqlitetest.Seed(t, dir)
	}
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "txpipe.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	files, err := localfs.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, runs: &runs{}, spool: spool, logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	intake := &workflow.Intake{Files: files, Statuses: db, Runs: e.runs, Logger: logger}
	reg := prometheus.NewRegistry()
	h := httpapi.NewServer(httpapi.Config{
		Uploader: intake, Statuses: db, Transactions: db, Keys: db,
		MaxBodyBytes: opt.maxBody, SpoolDir: spool, Logger: logger, Metrics: prom.New(reg), MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		MaxUploads: opt.maxUploads, UploadIdleTimeout: opt.uploadIdle,
		Now: opt.now, Health: db, UseUploadsAbove: opt.useUploadsAbove, UploadOrigins: opt.origins,
		Declarer:     &workflow.Uploads{Statuses: db, MaxBytes: opt.maxUpload, Now: opt.now},
		UploadSecret: []byte("0123456789abcdef0123456789abcdef"),
		Profiles:     db,
	})
	// The server's own limits (timeouts, header size), as txpipe serve has.
	srv := httptest.NewUnstartedServer(h)
	srv.Config = httpapi.NewHTTPServer(h, logger)
	srv.Start()
	t.Cleanup(srv.Close)
	e.url, e.handler, e.http = srv.URL, h, srv.Config
	e.key = e.newKey(t, txpipe.APIKey{Name: "test", RatePerSecond: 1e6, Burst: 1e6, QuotaPerDay: 1e9})
	return e
}

// newKey stores k with a new secret and returns the secret.
func (e *env) newKey(t testing.TB, k txpipe.APIKey) string {
	t.Helper()
	secret, hash, err := httpapi.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	k.ID, k.Hash = "id-"+hash[:8], hash
	if err := e.db.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return secret
}

func (e *env) client() *httpapi.Client { return &httpapi.Client{Endpoint: e.url, APIKey: e.key} }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const header = "transaction_id,amount,currency,timestamp,merchant,status\n"

// validCSV returns a valid file of n rows, different for every tag.
func validCSV(tag string, n int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := range n {
		fmt.Fprintf(&b, "%s-%d,%d.50,USD,2026-01-02T03:04:05Z,Shop %d,completed\n", tag, i, i, i)
	}
	return b.String()
}

// answer is a decoded HTTP answer.
type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (a answer) errorCode() string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: decode %q: %v", req.Method, req.URL, raw, err)
		}
	}
	return a
}

func request(t testing.TB, method, url, key, contentType string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// multipartBody returns a multipart body with a part per name (the file
// part is the one called "file").
func multipartBody(t testing.TB, parts map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for name, content := range parts {
		w, err := mw.CreateFormFile(name, name+".csv")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func wantCode(t testing.TB, what string, a answer, code int, errCode string) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: status %d, want %d; body %s", what, a.code, code, a.raw)
	}
	if errCode != "" {
		if got := a.errorCode(); got != errCode {
			t.Fatalf("%s: error.code %q, want %q; body %s", what, got, errCode, a.raw)
		}
		e := a.body["error"].(map[string]any)
		if msg, _ := e["message"].(string); msg == "" {
			t.Fatalf("%s: error without a message: %s", what, a.raw)
		}
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func spoolEmpty(t testing.TB, e *env) {
	t.Helper()
	ents, err := os.ReadDir(e.spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("spool dir holds %d files after the request, want none", len(ents))
	}
}

func TestUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	good := validCSV("up", 3)

	ct, body := multipartBody(t, map[string]string{"file": good})
	a := do(t, request(t, "POST", e.url+"/upload", e.key, ct, body))
	wantCode(t, "new file", a, http.StatusAccepted, "")
	if got, want := strings.Join(keysOf(a.body), ","), "dialect,file_id,rows,status,status_url"; got != want {
		t.Errorf("202 fields = %s, want %s", got, want)
	}
	id, _ := a.body["file_id"].(string)
	if id == "" {
		t.Fatalf("202 without file_id: %s", a.raw)
	}
	if got, want := a.body["status"], txpipe.StatusValidated; got != want {
		t.Errorf("status = %v, want %v", got, want)
	}
	if got, want := a.body["rows"], 3.0; got != want {
		t.Errorf("rows = %v, want %v", got, want)
	}
	if got, want := a.body["status_url"], e.url+"/status/"+id; got != want {
		t.Errorf("status_url = %v, want %v", got, want)
	}
	if got, want := e.runs.count(), 1; got != want {
		t.Errorf("runs started = %d, want %d", got, want)
	}
	spoolEmpty(t, e)

	// The status URL answers with the record.
	a = do(t, request(t, "GET", e.url+"/status/"+id, e.key, "", nil))
	wantCode(t, "status", a, http.StatusOK, "")
	for _, f := range []string{"file_id", "status", "filename", "sha256", "size_bytes", "rows", "inserted", "updated",
		"unchanged", "error_count", "errors", "attempts", "created_at", "updated_at"} {
		if _, ok := a.body[f]; !ok {
			t.Errorf("status record lacks %q: %s", f, a.raw)
		}
	}
	if got, want := a.body["filename"], "file.csv"; got != want {
		t.Errorf("filename = %v, want %v", got, want)
	}
	if got, want := a.body["size_bytes"], float64(len(good)); got != want {
		t.Errorf("size_bytes = %v, want %v", got, want)
	}

	// The same bytes again, raw this time: 200 with the existing record.
	a = do(t, request(t, "POST", e.url+"/upload?filename=again.csv", e.key, "text/csv", strings.NewReader(good)))
	wantCode(t, "known bytes", a, http.StatusOK, "")
	if got := a.body["file_id"]; got != id {
		t.Errorf("known bytes: file_id = %v, want %v", got, id)
	}
	if got, want := a.body["filename"], "file.csv"; got != want {
		t.Errorf("known bytes: filename = %v, want the first upload's %v", got, want)
	}
	if got, want := e.runs.count(), 1; got != want {
		t.Errorf("runs started after known bytes = %d, want %d", got, want)
	}

	// A raw text/csv upload of new bytes, named by the query.
	a = do(t, request(t, "POST", e.url+"/upload?filename=raw.csv", e.key, "text/csv; charset=utf-8", strings.NewReader(validCSV("raw", 2))))
	wantCode(t, "raw upload", a, http.StatusAccepted, "")
	st, err := e.client().Status(t.Context(), a.body["file_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Filename, "raw.csv"; got != want {
		t.Errorf("raw upload filename = %q, want %q", got, want)
	}

	// A rejected file: 422, and 422 again when it comes back.
	bad := header + "t1,12.345,USD,2026-01-02T03:04:05Z,Shop,completed\nt2,1,XXX,2026-01-02T03:04:05Z,Shop,completed\n"
	for i := range 2 {
		ct, body := multipartBody(t, map[string]string{"file": bad})
		a = do(t, request(t, "POST", e.url+"/upload", e.key, ct, body))
		wantCode(t, fmt.Sprintf("rejected file, upload %d", i+1), a, http.StatusUnprocessableEntity, txpipe.EREJECTED)
		if got, want := strings.Join(keysOf(a.body), ","), "dialect,error,error_count,errors,file_id,status"; got != want {
			t.Errorf("422 fields = %s, want %s", got, want)
		}
		if got, want := a.body["status"], txpipe.StatusRejected; got != want {
			t.Errorf("status = %v, want %v", got, want)
		}
		if got, want := a.body["error_count"], 2.0; got != want {
			t.Errorf("error_count = %v, want %v", got, want)
		}
		errs, _ := a.body["errors"].([]any)
		if len(errs) != 2 {
			t.Fatalf("errors = %v, want 2", a.body["errors"])
		}
		first := errs[0].(map[string]any)
		if got, want := first["line"], 2.0; got != want {
			t.Errorf("errors[0].line = %v, want %v", got, want)
		}
		if got, want := first["column"], "amount"; got != want {
			t.Errorf("errors[0].column = %v, want %v", got, want)
		}
		if got, want := first["value"], "12.345"; got != want {
			t.Errorf("errors[0].value = %v, want %v", got, want)
		}
		if msg, _ := first["message"].(string); msg == "" {
			t.Errorf("errors[0].message is empty")
		}
	}
	spoolEmpty(t, e)

	// Malformed requests.
	ct, body = multipartBody(t, map[string]string{"other": good})
	wantCode(t, "no file part", do(t, request(t, "POST", e.url+"/upload", e.key, ct, body)), http.StatusBadRequest, txpipe.EINVALID)
	wantCode(t, "JSON body", do(t, request(t, "POST", e.url+"/upload", e.key, "application/json", strings.NewReader("{}"))),
		http.StatusBadRequest, txpipe.EUNSUPPORTED)
	wantCode(t, "no content type", do(t, request(t, "POST", e.url+"/upload", e.key, "", strings.NewReader(good))),
		http.StatusBadRequest, txpipe.EUNSUPPORTED)
	wantCode(t, "broken multipart", do(t, request(t, "POST", e.url+"/upload", e.key, "multipart/form-data; boundary=xyz",
		strings.NewReader("--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"))), http.StatusBadRequest, txpipe.EINVALID)
	spoolEmpty(t, e)

	// The request log names the key.
	if logs := e.logs.String(); !strings.Contains(logs, `"key":"test"`) || !strings.Contains(logs, `"status":202`) {
		t.Errorf("request log lacks the key name or status:\n%s", logs)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, path := range []string{"/status/abc", "/transactions?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"} {
		wantCode(t, "no key "+path, do(t, request(t, "GET", e.url+path, "", "", nil)), http.StatusUnauthorized, txpipe.EUNAUTHORIZED)
		wantCode(t, "unknown key "+path, do(t, request(t, "GET", e.url+path, "txp_nope", "", nil)), http.StatusForbidden, txpipe.EFORBIDDEN)
	}
	ct, body := multipartBody(t, map[string]string{"file": validCSV("auth", 1)})
	wantCode(t, "upload without key", do(t, request(t, "POST", e.url+"/upload", "", ct, body)), http.StatusUnauthorized, txpipe.EUNAUTHORIZED)
	ct, body = multipartBody(t, map[string]string{"file": validCSV("auth", 1)})
	wantCode(t, "upload with unknown key", do(t, request(t, "POST", e.url+"/upload", "txp_nope", ct, body)), http.StatusForbidden, txpipe.EFORBIDDEN)
	if got, want := e.runs.count(), 0; got != want {
		t.Errorf("runs started = %d, want %d", got, want)
	}
	// healthz and metrics need no key.
	wantCode(t, "healthz", do(t, request(t, "GET", e.url+"/healthz", "", "", nil)), http.StatusOK, "")
	wantCode(t, "metrics", do(t, request(t, "GET", e.url+"/metrics", "", "", nil)), http.StatusOK, "")
	wantCode(t, "unknown path", do(t, request(t, "GET", e.url+"/nope", "", "", nil)), http.StatusNotFound, txpipe.ENOTFOUND)

	// The client reports API errors as *txpipe.Error with the code.
	c := &httpapi.Client{Endpoint: e.url, APIKey: "txp_nope"}
	_, err := c.Status(t.Context(), "abc")
	var te *txpipe.Error
	if !errors.As(err, &te) || te.Code != txpipe.EFORBIDDEN {
		t.Errorf("client Status with unknown key: error %v, want a *txpipe.Error %q", err, txpipe.EFORBIDDEN)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxBody: 4 << 10})
	big := validCSV("big", 400) // about 17 KiB
	if len(big) <= 4<<10 {
		t.Fatalf("test file of %d bytes is not over the limit", len(big))
	}
	// Known length: refused before the body is read.
	ct, body := multipartBody(t, map[string]string{"file": big})
	wantCode(t, "multipart with length", do(t, request(t, "POST", e.url+"/upload", e.key, ct, body)), http.StatusRequestEntityTooLarge, txpipe.ETOOLARGE)
	// Unknown length (chunked): refused when the limit is crossed.
	ct, body = multipartBody(t, map[string]string{"file": big})
	wantCode(t, "chunked multipart", do(t, request(t, "POST", e.url+"/upload", e.key, ct, io.MultiReader(body))), http.StatusRequestEntityTooLarge, txpipe.ETOOLARGE)
	wantCode(t, "chunked raw", do(t, request(t, "POST", e.url+"/upload", e.key, "text/csv", io.MultiReader(strings.NewReader(big)))), http.StatusRequestEntityTooLarge, txpipe.ETOOLARGE)
	// A file under the limit passes.
	ct, body = multipartBody(t, map[string]string{"file": validCSV("small", 3)})
	wantCode(t, "small file", do(t, request(t, "POST", e.url+"/upload", e.key, ct, body)), http.StatusAccepted, "")

	// The client, with a file far over the limit (it asks 100-continue first).
	f := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(f, []byte(strings.Repeat(big, 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	_, err = e.client().Upload(t.Context(), "big.csv", fh)
	if got := txpipe.ErrorCode(err); got != txpipe.ETOOLARGE {
		t.Errorf("client upload over the limit: error %v (code %q), want code %q", err, got, txpipe.ETOOLARGE)
	}
	// (A body of unknown length far over the limit may meet a reset
	// connection instead of the 413: the server stops reading it.)
	spoolEmpty(t, e)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, envOptions{now: func() time.Time { return now }})
	key := e.newKey(t, txpipe.APIKey{Name: "slow", RatePerSecond: 0.5, Burst: 2, QuotaPerDay: 1000})
	for i := range 2 {
		wantCode(t, fmt.Sprintf("request %d in the burst", i+1), do(t, request(t, "GET", e.url+"/status/none", key, "", nil)), http.StatusNotFound, txpipe.ENOTFOUND)
	}
	a := do(t, request(t, "GET", e.url+"/status/none", key, "", nil))
	wantCode(t, "request past the burst", a, http.StatusTooManyRequests, txpipe.ERATELIMIT)
	if got, want := a.header.Get("Retry-After"), "2"; got != want {
		t.Errorf("Retry-After = %q, want %q (one token at 0.5/s)", got, want)
	}
	// Another key is not limited by this one's bucket.
	wantCode(t, "other key", do(t, request(t, "GET", e.url+"/status/none", e.key, "", nil)), http.StatusNotFound, "")
	// A token later, the key passes again.
	now = now.Add(2 * time.Second)
	wantCode(t, "after the wait", do(t, request(t, "GET", e.url+"/status/none", key, "", nil)), http.StatusNotFound, "")
}

const txQuery = "/transactions?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"

func TestQuota(t *testing.T) {
	t.Parallel()
	// 17:29:30.5 UTC: 6 h 30 min 29.5 s to midnight UTC, rounded up.
	now := time.Date(2026, 3, 4, 17, 29, 30, 500_000_000, time.UTC)
	e := newEnv(t, envOptions{now: func() time.Time { return now }})
	key := e.newKey(t, txpipe.APIKey{Name: "small", RatePerSecond: 1000, Burst: 1000, QuotaPerDay: 3})
	for i := range 3 {
		wantCode(t, fmt.Sprintf("request %d in the quota", i+1), do(t, request(t, "GET", e.url+txQuery, key, "", nil)), http.StatusOK, "")
	}
	ct, body := multipartBody(t, map[string]string{"file": validCSV("quota", 1)})
	a := do(t, request(t, "POST", e.url+"/upload", key, ct, body))
	wantCode(t, "upload over the quota", a, http.StatusTooManyRequests, txpipe.ERATELIMIT)
	if got, want := a.header.Get("Retry-After"), "23430"; got != want {
		t.Errorf("Retry-After = %q, want %q (until UTC midnight)", got, want)
	}
	c := &httpapi.Client{Endpoint: e.url, APIKey: key}
	_, err := c.Transactions(t.Context(), txpipe.TxQuery{From: now.Add(-time.Hour), To: now, Limit: 10})
	if got := txpipe.ErrorCode(err); got != txpipe.ERATELIMIT || !strings.Contains(err.Error(), "retry after 6h30m30s") || strings.Count(err.Error(), "retry after") != 1 {
		t.Errorf("client over the quota: error %v, want %q with the wait", err, txpipe.ERATELIMIT)
	}
	// The next UTC day has a new quota.
	now = now.Add(23430 * time.Second)
	wantCode(t, "next day", do(t, request(t, "GET", e.url+txQuery, key, "", nil)), http.StatusOK, "")
}

func TestStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	res, err := e.client().Upload(t.Context(), "s.csv", strings.NewReader(validCSV("status", 2)))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created() {
		t.Fatalf("upload answered %d, want 202", res.StatusCode)
	}
	st, err := e.client().Status(t.Context(), res.Record.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Rows, int64(2); got != want {
		t.Errorf("Rows = %d, want %d", got, want)
	}
	if got, want := st.Filename, "s.csv"; got != want {
		t.Errorf("Filename = %q, want %q", got, want)
	}
	a := do(t, request(t, "GET", e.url+"/status/0123456789abcdef", e.key, "", nil))
	wantCode(t, "unknown file", a, http.StatusNotFound, txpipe.ENOTFOUND)
	_, err = e.client().Status(t.Context(), "0123456789abcdef")
	if got := txpipe.ErrorCode(err); got != txpipe.ENOTFOUND {
		t.Errorf("client Status of unknown file: %v, want code %q", err, txpipe.ENOTFOUND)
	}
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var txs []txpipe.Transaction
	for i := range 260 {
		txs = append(txs, txpipe.Transaction{
			ID: fmt.Sprintf("tx-%03d", i), Amount: "1.00", AmountMinor: 100, Currency: "USD",
			Timestamp: base.Add(time.Duration(i-5) * time.Minute), Merchant: "M", Status: txpipe.TxCompleted,
			FileID: "f1", IngestedAt: base,
		})
	}
	if _, err := e.db.PutTransactions(t.Context(), txs); err != nil {
		t.Fatal(err)
	}
	// tx-005 .. tx-254 are in [base, base+250min).
	from, to := base, base.Add(250*time.Minute)
	var got []string
	q := txpipe.TxQuery{From: from, To: to, Limit: 100}
	pages := 0
	for {
		page, err := e.client().Transactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tx := range page.Items {
			got = append(got, tx.ID)
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		q.Cursor = page.NextCursor
	}
	if len(got) != 250 || got[0] != "tx-005" || got[249] != "tx-254" || !slices.IsSorted(got) {
		t.Fatalf("paged %d transactions from %v to %v, want 250 from tx-005 to tx-254 in order", len(got), first(got), last(got))
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}

	// The JSON shape and the default limit.
	u := fmt.Sprintf("%s/transactions?from=%s&to=%s", e.url, from.Format(time.RFC3339), to.Format(time.RFC3339))
	a := do(t, request(t, "GET", u, e.key, "", nil))
	wantCode(t, "transactions", a, http.StatusOK, "")
	items, _ := a.body["items"].([]any)
	if len(items) != txpipe.DefaultTxLimit {
		t.Errorf("default page holds %d items, want %d", len(items), txpipe.DefaultTxLimit)
	}
	if c, _ := a.body["next_cursor"].(string); c == "" {
		t.Errorf("first page has no next_cursor")
	}
	tx := items[0].(map[string]any)
	if got, want := strings.Join(keysOf(tx), ","), "amount,amount_minor,currency,file_id,ingested_at,merchant,status,timestamp,transaction_id"; got != want {
		t.Errorf("transaction fields = %s, want %s", got, want)
	}
	// An empty window answers an empty list, not null.
	a = do(t, request(t, "GET", e.url+"/transactions?from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z", e.key, "", nil))
	wantCode(t, "empty window", a, http.StatusOK, "")
	if !strings.Contains(a.raw, `"items":[]`) {
		t.Errorf("empty window answered %s, want items []", a.raw)
	}

	for _, bad := range []string{
		"to=2026-05-02T00:00:00Z",
		"from=2026-05-01T00:00:00Z",
		"from=yesterday&to=2026-05-02T00:00:00Z",
		"from=2026-05-01&to=2026-05-02T00:00:00Z",
		"from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=1001",
		"from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=0",
		"from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=ten",
		"from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&cursor=garbage!",
	} {
		wantCode(t, bad, do(t, request(t, "GET", e.url+"/transactions?"+bad, e.key, "", nil)), http.StatusBadRequest, txpipe.EINVALID)
	}
	a = do(t, request(t, "GET", e.url+"/transactions?from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=1000", e.key, "", nil))
	wantCode(t, "limit 1000", a, http.StatusOK, "")
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestHealthzAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	a := do(t, request(t, "GET", e.url+"/healthz", "", "", nil))
	wantCode(t, "healthz", a, http.StatusOK, "")
	if _, err := e.client().Upload(t.Context(), "m.csv", strings.NewReader(validCSV("metrics", 4))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Upload(t.Context(), "bad.csv", strings.NewReader(header+"x,1,USD,nope,M,completed\n")); err != nil {
		t.Fatal(err)
	}
	a = do(t, request(t, "GET", e.url+"/metrics", "", "", nil))
	wantCode(t, "metrics", a, http.StatusOK, "")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type = %q, want text/plain", ct)
	}
	for _, want := range []string{
		`txpipe_uploads_total{result="accepted"} 1`,
		`txpipe_uploads_total{result="rejected"} 1`,
		`txpipe_rows_validated_total 4`,
		`txpipe_rows_rejected_total 1`,
		`txpipe_http_request_duration_seconds_count{code="202",route="POST /upload"} 1`,
		`txpipe_http_request_duration_seconds_count{code="422",route="POST /upload"} 1`,
		`txpipe_http_request_duration_seconds_count{code="200",route="GET /healthz"} 1`,
		`txpipe_dlq_depth 0`,
	} {
		if !strings.Contains(a.raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestServerErrorsHideCauses checks that an internal failure answers a
// generic message and logs the cause.
func TestServerErrorsHideCauses(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := httpapi.NewServer(httpapi.Config{
		Statuses: failingStatuses{}, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	a := do(t, request(t, "GET", srv.URL+"/status/x", "", "", nil))
	wantCode(t, "internal error", a, http.StatusInternalServerError, txpipe.EINTERNAL)
	if strings.Contains(a.raw, "secret detail") {
		t.Errorf("500 answer shows the cause: %s", a.raw)
	}
	if !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("log lacks the cause of the 500:\n%s", logs.String())
	}
	a = do(t, request(t, "GET", srv.URL+"/status/transient", "", "", nil))
	wantCode(t, "transient error", a, http.StatusServiceUnavailable, txpipe.ETRANSIENT)
}

type failingStatuses struct{}

func (failingStatuses) GetStatus(ctx context.Context, id string) (*txpipe.FileStatus, error) {
	if id == "transient" {
		return nil, txpipe.Wrap(txpipe.ETRANSIENT, errors.New("throttled"))
	}
	return nil, fmt.Errorf("read status: %w", errors.New("secret detail"))
}

func TestSpans(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	h := httpapi.NewServer(httpapi.Config{Statuses: failingStatuses{}, TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	defer srv.Close()

	req := request(t, "GET", srv.URL+"/status/x", "", "", nil)
	parent := "4bf92f3577b34da6a3ce929d0e0e4736"
	req.Header.Set("traceparent", "00-"+parent+"-00f067aa0ba902b7-01")
	wantCode(t, "status", do(t, req), http.StatusInternalServerError, "")
	wantCode(t, "healthz", do(t, request(t, "GET", srv.URL+"/healthz", "", "", nil)), http.StatusOK, "")

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	s := spans[0]
	if got, want := s.Name(), "GET /status/{file_id}"; got != want {
		t.Errorf("span name = %q, want %q", got, want)
	}
	if got := s.SpanContext().TraceID().String(); got != parent {
		t.Errorf("span trace id = %s, want the caller's %s", got, parent)
	}
	if got, want := s.Status().Code, codes.Error; got != want {
		t.Errorf("span status = %v, want %v", got, want)
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["http.response.status_code"] != "500" || attrs["http.route"] != "GET /status/{file_id}" {
		t.Errorf("span attributes = %v", attrs)
	}
	if got, want := spans[1].Name(), "GET /healthz"; got != want {
		t.Errorf("second span name = %q, want %q", got, want)
	}
}
