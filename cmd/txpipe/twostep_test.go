package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/txgen"
)

// TestTwoStepUploadEndToEnd sends a file through POST /uploads and the
// server's own upload URL, and follows its run to COMPLETED.
func TestTwoStepUploadEndToEnd(t *testing.T) {
	t.Parallel()
	url, key := startServer(t, t.TempDir())
	var buf bytes.Buffer
	if err := txgen.Write(&buf, txgen.Options{Rows: 3000, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	c := &httpapi.Client{Endpoint: url, APIKey: key}
	res, err := c.UploadFile(t.Context(), "month.csv", bytes.NewReader(buf.Bytes()), int64(buf.Len()), httpapi.UploadOptions{TwoStep: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created() {
		t.Fatalf("two-step upload: %d %+v, want 202", res.StatusCode, res.Record)
	}
	st, err := c.Wait(t.Context(), res.Record.FileID, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != 3000 || st.Counts().Total() != 3000 || st.Inserted != 3000 {
		t.Fatalf("final status %+v, want COMPLETED with 3000 rows inserted", st)
	}
	if st.Filename != "month.csv" || st.SizeBytes != int64(buf.Len()) {
		t.Errorf("record filename %q size %d, want month.csv %d", st.Filename, st.SizeBytes, buf.Len())
	}
}
