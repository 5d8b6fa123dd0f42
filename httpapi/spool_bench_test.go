package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/workflow"
)

// discardUploader accepts every upload without looking at it.
type discardUploader struct{}

func (discardUploader) Submit(ctx context.Context, up workflow.Upload) (*txpipe.FileStatus, bool, error) {
	return &txpipe.FileStatus{FileID: txpipe.FileIDFromSHA256(up.SHA256), Status: txpipe.StatusValidated}, true, nil
}

// BenchmarkSpool measures how fast an upload's body is streamed to the
// spool file and hashed (multipart, through the client), without
// validation or storage. Set TXPIPE_BENCH_FILE to a large file, e.g. one
// of 1M rows from internal/txgen/cmd/txgen.
//
//	TXPIPE_BENCH_FILE=/tmp/1m.csv go test ./httpapi -run '^$' -bench Spool
func BenchmarkSpool(b *testing.B) {
	name := os.Getenv("TXPIPE_BENCH_FILE")
	if name == "" {
		b.Skip("TXPIPE_BENCH_FILE is not set")
	}
	fi, err := os.Stat(name)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.NewServer(httpapi.Config{Uploader: discardUploader{}, SpoolDir: b.TempDir(), MaxBodyBytes: 1 << 30}))
	defer srv.Close()
	c := &httpapi.Client{Endpoint: srv.URL, HTTP: &http.Client{}}
	b.SetBytes(fi.Size())
	for b.Loop() {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		res, err := c.Upload(b.Context(), "big.csv", f)
		f.Close()
		if err != nil || !res.Created() {
			b.Fatalf("upload: %v %+v", err, res)
		}
	}
}
