//go:build integration

package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/lambda"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// exportDay is the day of the stored transactions; exportRows of them,
// one a second, about 8.5 MB of CSV.
var exportDay = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

const exportRows = 60_000

// exportDB stores exportRows transactions of exportDay and a REJECTED
// record with 100 kept errors, whose id it returns.
func exportDB(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	db := sqlitetest.Open(t)
	fileID := strings.Repeat("ab", 16)
	batch := make([]txpipe.Transaction, 0, workflow.MaxBatch)
	for i := range exportRows {
		minor := int64(i*37%100000 + 1)
		batch = append(batch, txpipe.Transaction{
			ID: fmt.Sprintf("t%06d", i), Amount: fmt.Sprintf("%d.%02d", minor/100, minor%100), AmountMinor: minor,
			Currency: []string{"USD", "EUR"}[i%2], Timestamp: exportDay.Add(time.Duration(i) * time.Second),
			Merchant: []string{"Acme Café, \"Main\" St", "=cmd|' /C calc'!A0", "Shop\u2028two"}[i%3], Status: txpipe.TxCompleted,
			FileID: fileID, IngestedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		})
		if len(batch) == cap(batch) || i == exportRows-1 {
			if _, err := db.PutTransactions(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	rejected := strings.Repeat("cd", 16)
	st := &txpipe.FileStatus{FileID: rejected, Status: txpipe.StatusRejected, Filename: "bad.csv", SHA256: strings.Repeat("cd", 32),
		SizeBytes: 1000, ErrorCount: txpipe.MaxReportedErrors, CreatedAt: exportDay, UpdatedAt: exportDay}
	for i := range txpipe.MaxReportedErrors {
		st.Errors = append(st.Errors, txpipe.ErrorItem{Line: i + 2, Column: "amount", Value: fmt.Sprintf("\"bad\" %d", i), Message: "amount is not a decimal number"})
	}
	if _, _, err := db.CreateStatus(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	return db, rejected
}

// failPagesAfter fails every page of transactions after the first n.
type failPagesAfter struct {
	*sqlite.DB
	n     int
	pages atomic.Int64
}

func (f *failPagesAfter) ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	if f.pages.Add(1) > int64(f.n) {
		return txpipe.TxPage{}, txpipe.Errorf(txpipe.ETRANSIENT, "list transactions: connection reset")
	}
	return f.DB.ListTransactions(ctx, q)
}

// exportServer is the httpapi server the API Lambda runs, over db.
func exportServer(db *sqlite.DB, txs httpapi.TransactionLister, baseURL string) http.Handler {
	return httpapi.NewServer(httpapi.Config{
		Statuses: db, Transactions: txs, Files: db,
		Identify: func(*http.Request) (httpapi.Identity, error) {
			return httpapi.Identity{Name: "finance", Role: txpipe.RoleUser}, nil
		},
		BaseURL: baseURL,
	})
}

// localGET is what the local server streams for target: the handler
// behind a real HTTP server.
func localGET(t *testing.T, h http.Handler, target string) []byte {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("local GET %s: %d %s (%v)", target, resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	return b
}

// apiGET is the API Gateway event of GET path?query.
func apiGET(t *testing.T, resource, path string, query map[string]string) events.APIGatewayProxyRequest {
	t.Helper()
	ev := readEvent[events.APIGatewayProxyRequest](t, "apigw-get-status.json")
	ev.Resource, ev.Path = resource, path
	ev.RequestContext.Path = "/dev" + path
	ev.QueryStringParameters, ev.MultiValueQueryStringParameters = query, nil
	ev.PathParameters = nil
	return ev
}

// watchedExports records, at each part an export uploads, how many bytes
// the handler has handed to the adapter and not yet uploaded: what the
// adapter holds, at most.
type watchedExports struct {
	lambda.ExportStore
	written  atomic.Int64 // bytes the handler wrote (counted before each write)
	mu       sync.Mutex
	uploaded int64
	parts    []int
	held     int64 // the most written and not uploaded at a part
}

func (w *watchedExports) StartExport(ctx context.Context, contentType, disposition string) (lambda.ExportUpload, error) {
	u, err := w.ExportStore.StartExport(ctx, contentType, disposition)
	if err != nil {
		return nil, err
	}
	return watchedUpload{u, w}, nil
}

type watchedUpload struct {
	lambda.ExportUpload
	w *watchedExports
}

func (u watchedUpload) UploadPart(ctx context.Context, p []byte) error {
	u.w.mu.Lock()
	u.w.held = max(u.w.held, u.w.written.Load()-u.w.uploaded)
	u.w.uploaded += int64(len(p))
	u.w.parts = append(u.w.parts, len(p))
	u.w.mu.Unlock()
	return u.ExportUpload.UploadPart(ctx, p)
}

// countingWriter counts what a handler writes before the adapter takes it.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

func (c countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// download GETs a 303 answer's URL as a client following the redirect
// does, after checking the answer.
func download(t *testing.T, resp events.APIGatewayProxyResponse) ([]byte, http.Header) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("answer %d (%.300s), want 303", resp.StatusCode, resp.Body)
	}
	h := http.Header(resp.MultiValueHeaders)
	var body lambda.Exported
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("303 body %q: %v", resp.Body, err)
	}
	if body.DownloadURL == "" || body.DownloadURL != h.Get("Location") || h.Get("Cache-Control") != "no-store" {
		t.Errorf("303: Location %q, Cache-Control %q, body %s", h.Get("Location"), h.Get("Cache-Control"), resp.Body)
	}
	if ttl := time.Until(body.ExpiresAt); ttl < 15*time.Minute || ttl > s3store.DownloadTTL {
		t.Errorf("download URL valid for %s, want 15 min to %s", ttl, s3store.DownloadTTL)
	}
	if !strings.Contains(body.DownloadURL, "/"+uploadBucket+"/"+s3store.ExportPrefix) || !strings.Contains(body.DownloadURL, "X-Amz-Signature=") {
		t.Errorf("download URL %s: want a signed URL under %s", body.DownloadURL, s3store.ExportPrefix)
	}
	get, err := http.Get(body.DownloadURL)
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	b, err := io.ReadAll(get.Body)
	if err != nil || get.StatusCode != http.StatusOK {
		t.Fatalf("GET download URL: %d %v", get.StatusCode, err)
	}
	return b, get.Header
}

// noUploadsLeft checks that no multipart upload is open in the bucket and
// that exports/ holds want objects.
func noUploadsLeft(t *testing.T, client *s3.Client, want int) {
	t.Helper()
	ups, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(uploadBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(ups.Uploads))
	}
	objs, err := client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(uploadBucket), Prefix: aws.String(s3store.ExportPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Contents) != want {
		t.Errorf("%d objects under %s, want %d", len(objs.Contents), s3store.ExportPrefix, want)
	}
}

// TestExportsOnS3: through the API Lambda's adapter on gofakes3, an
// export larger than the (lowered) inline limit answers 303, and its URL
// serves exactly the bytes the local server streams for the same request;
// the upload is made of S3-sized parts sent while the handler writes, the
// adapter holding at most a part and the limit. A small export is still
// 200 inline, errors.csv spills alike, and an error after the first byte
// ends the stored file as the local server ends its body.
func TestExportsOnS3(t *testing.T) {
	client := newBucket(t, awstest.Config(awstest.StartS3(t)))
	db, rejected := exportDB(t)
	const maxInline, partSize = 256 << 10, s3store.MinPartSize
	watch := &watchedExports{ExportStore: lambda.ExportsOf[*s3store.Export](s3store.NewExports(client, uploadBucket))}
	newAPI := func(txs httpapi.TransactionLister) *lambda.API {
		return &lambda.API{Exports: watch, MaxInline: maxInline, PartSize: partSize, NewHandler: func(baseURL string) http.Handler {
			h := exportServer(db, txs, baseURL)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(countingWriter{w, &watch.written}, r)
			})
		}}
	}
	api := newAPI(db)
	day := map[string]string{"from": exportDay.Format(time.RFC3339), "to": exportDay.AddDate(0, 0, 1).Format(time.RFC3339)}

	// The whole day: 60,000 rows.
	local := localGET(t, exportServer(db, db, ""), "/transactions.csv?from="+day["from"]+"&to="+day["to"])
	if n := bytes.Count(local, []byte("\n")); n != exportRows+1 || len(local) <= partSize {
		t.Fatalf("local export: %d lines, %d bytes; want the header and %d rows, over a part (%d bytes)", n, len(local), exportRows, partSize)
	}
	resp, err := api.Handle(t.Context(), apiGET(t, "/transactions.csv", "/transactions.csv", day))
	if err != nil {
		t.Fatal(err)
	}
	got, h := download(t, resp)
	if !bytes.Equal(got, local) {
		t.Fatalf("downloaded export: %d bytes, the local server streams %d (first difference at %d)", len(got), len(local), firstDiff(got, local))
	}
	if ct, cd := h.Get("Content-Type"), h.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename="transactions.csv"` {
		t.Errorf("downloaded export: Content-Type %q, Content-Disposition %q; want the handler's", ct, cd)
	}
	// Parts of partSize but the last, sent as the handler wrote, the
	// adapter holding at most a part and the inline limit.
	if wantParts := (len(local) + partSize - 1) / partSize; len(watch.parts) != wantParts {
		t.Errorf("%d parts %v, want %d of %d bytes", len(watch.parts), watch.parts, wantParts, partSize)
	}
	for i, n := range watch.parts[:len(watch.parts)-1] {
		if n != partSize {
			t.Errorf("part %d: %d bytes, want %d", i+1, n, partSize)
		}
	}
	if watch.held > partSize+maxInline {
		t.Errorf("the adapter held %d bytes written and not uploaded, want at most %d (a part and the inline limit)", watch.held, partSize+maxInline)
	}
	noUploadsLeft(t, client, 1)

	// A minute of it: 60 rows, inline as the local server streams them.
	minute := map[string]string{"from": exportDay.Add(time.Hour).Format(time.RFC3339), "to": exportDay.Add(time.Hour + time.Minute).Format(time.RFC3339)}
	local = localGET(t, exportServer(db, db, ""), "/transactions.csv?from="+minute["from"]+"&to="+minute["to"])
	resp, err = api.Handle(t.Context(), apiGET(t, "/transactions.csv", "/transactions.csv", minute))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.IsBase64Encoded || resp.Body != string(local) || bytes.Count(local, []byte("\n")) != 61 {
		t.Errorf("a minute's export: %d (base64 %v), %d bytes; want 200 and the local server's %d bytes, 61 lines", resp.StatusCode, resp.IsBase64Encoded, len(resp.Body), len(local))
	}

	// errors.csv: the record's 100 errors, over a limit of 2,000 bytes.
	small := &lambda.API{Exports: watch, MaxInline: 2000, PartSize: partSize, NewHandler: func(baseURL string) http.Handler { return exportServer(db, db, baseURL) }}
	local = localGET(t, exportServer(db, db, ""), "/status/"+rejected+"/errors.csv")
	resp, err = small.Handle(t.Context(), apiGET(t, "/status/{file_id}/errors.csv", "/status/"+rejected+"/errors.csv", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := download(t, resp); !bytes.Equal(got, local) || bytes.Count(local, []byte("\n")) != 1+txpipe.MaxReportedErrors {
		t.Errorf("errors.csv downloaded: %d bytes, the local server streams %d (%d lines)", len(got), len(local), bytes.Count(local, []byte("\n")))
	}

	// An error after 7 pages (7,000 rows, past the first part): the
	// stored file ends as the local server's body, with "# export
	// stopped: ...".
	local = localGET(t, exportServer(db, &failPagesAfter{DB: db, n: 7}, ""), "/transactions.csv?from="+day["from"]+"&to="+day["to"])
	if !bytes.HasSuffix(local, []byte("# export stopped: list transactions: connection reset\n")) {
		t.Fatalf("local export with a failing page ends %q", local[max(0, len(local)-100):])
	}
	resp, err = newAPI(&failPagesAfter{DB: db, n: 7}).Handle(t.Context(), apiGET(t, "/transactions.csv", "/transactions.csv", day))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := download(t, resp); !bytes.Equal(got, local) {
		t.Errorf("export stopped by an error: %d bytes downloaded, the local server streams %d", len(got), len(local))
	}
	noUploadsLeft(t, client, 3)
}

// TestExportFailsOnS3: when S3 refuses a part for good, the handler's
// writes fail, the multipart upload is aborted (no object, no upload
// left) and the answer is 503 with the contract's error body.
func TestExportFailsOnS3(t *testing.T) {
	faker := gofakes3.New(s3mem.New()).Server()
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
			refused.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>try later</Message></Error>`)
			return
		}
		faker.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client := newBucket(t, awstest.Config(srv.URL))
	db, _ := exportDB(t)
	api := &lambda.API{
		Exports: lambda.ExportsOf[*s3store.Export](s3store.NewExports(client, uploadBucket)), MaxInline: 64 << 10, PartSize: 1 << 20,
		NewHandler: func(baseURL string) http.Handler { return exportServer(db, db, baseURL) },
	}
	day := map[string]string{"from": exportDay.Format(time.RFC3339), "to": exportDay.AddDate(0, 0, 1).Format(time.RFC3339)}
	resp, err := api.Handle(t.Context(), apiGET(t, "/transactions.csv", "/transactions.csv", day))
	if err != nil {
		t.Fatal(err)
	}
	var body httpapi.ErrorBody
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal([]byte(resp.Body), &body) != nil || body.Error.Code != txpipe.ETRANSIENT {
		t.Errorf("answer %d %s, want 503 transient", resp.StatusCode, resp.Body)
	}
	if refused.Load() == 0 {
		t.Fatal("no part 2 was refused: the test did not spill")
	}
	noUploadsLeft(t, client, 0)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
