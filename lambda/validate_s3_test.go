package lambda_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// TestValidateFromS3FindsDuplicatesOnSecondRead: the validator reads an
// upload from S3 once for the rules and the chunks; a duplicate id found by
// its hash is confirmed on a second read of the object (S3 GET again), not
// by keeping every id in memory, and the SHA-256 check and the exact lines
// survive it. A valid upload read the same way gets its chunks in one pass.
func TestValidateFromS3FindsDuplicatesOnSecondRead(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(awstest.StartS3(t))
	gets := &countGets{c: http.DefaultClient}
	cfg.HTTPClient = gets
	client := newBucket(t, cfg)
	store := s3store.New(client, uploadBucket)
	db := sqlitetest.Open(t)

	put := func(data []byte) workflow.RunState {
		t.Helper()
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		if _, _, err := (&workflow.Uploads{Statuses: db}).Declare(ctx, workflow.Declaration{Filename: "m.csv", SizeBytes: int64(len(data)), SHA256: hexSum}); err != nil {
			t.Fatal(err)
		}
		putIncoming(t, client, data)
		return workflow.RunState{FileID: txpipe.FileIDFromSHA256(hexSum), FileKey: hexSum, UploadKey: s3store.IncomingKey(hexSum)}
	}
	steps := &workflow.Tasks{Files: store, Uploads: store, Statuses: db, ChunkRows: 1000}

	var csv bytes.Buffer
	if err := txgen.Write(&csv, txgen.Options{Rows: 4000, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(csv.String(), "\n")
	id := strings.SplitN(lines[100], ",", 2)[0]
	lines[3000] = id + "," + strings.SplitN(lines[3000], ",", 2)[1]
	gets.n.Store(0)
	st, err := steps.Validate(ctx, put([]byte(strings.Join(lines, ""))))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetStatus(ctx, st.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Rejected || rec.Status != txpipe.StatusRejected || rec.ErrorCount != 1 || rec.Errors[0].Line != 3001 ||
		!strings.Contains(rec.Errors[0].Message, "first on line 101") {
		t.Errorf("rejected %v, status %s, errors %d %+v; want REJECTED, line 3001 first on line 101", st.Rejected, rec.Status, rec.ErrorCount, rec.Errors)
	}
	if got := gets.n.Load(); got != 2 {
		t.Errorf("%d GETs of the upload, want 2 (the second for the duplicate candidate)", got)
	}
	gets.n.Store(0)

	st, err = steps.Validate(ctx, put(csv.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected || len(st.Chunks) != 4 || st.Chunks[3].End != int64(csv.Len()) || st.Rows != 4000 {
		t.Errorf("valid upload: rejected %v, rows %d, chunks %+v; want 4 chunks of 1,000 rows to the end (%d)", st.Rejected, st.Rows, st.Chunks, csv.Len())
	}
	if got := gets.n.Load(); got != 1 {
		t.Errorf("%d GETs of a valid upload, want 1 (one pass)", got)
	}
}

// countGets counts the GETs of objects under incoming/.
type countGets struct {
	c aws.HTTPClient
	n atomic.Int32
}

func (g *countGets) Do(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/incoming/") {
		g.n.Add(1)
	}
	return g.c.Do(r)
}
