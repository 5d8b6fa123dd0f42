package s3store

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/storetest"
	"github.com/txpipe/txpipe/workflow"
)

// recorder records the SSE header of every PUT and POST the SDK sends.
type recorder struct {
	mu   sync.Mutex
	sse  []string
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodPost {
		r.mu.Lock()
		r.sse = append(r.sse, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery+" sse="+req.Header.Get("X-Amz-Server-Side-Encryption"))
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

// newClient starts gofakes3, creates a bucket and returns a path-style
// client of it.
func newClient(t *testing.T) (*s3.Client, string, *recorder) {
	t.Helper()
	cfg := awstest.Config(awstest.StartS3(t))
	rec := &recorder{next: cfg.HTTPClient.(*http.Client).Transport}
	cfg.HTTPClient = &http.Client{Transport: rec}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "txpipe-files"
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return c, bucket, rec
}

func TestFileStoreContract(t *testing.T) {
	c, bucket, _ := newClient(t)
	s := New(c, bucket)
	storetest.TestFileStore(t, func(t *testing.T) workflow.FileStore { return s })
}

func TestKeysAndEncryption(t *testing.T) {
	if testing.Short() {
		t.Skip("an 11 MB multipart upload; run without -short")
	}
	c, bucket, rec := newClient(t)
	s := New(c, bucket)
	key := strings.Repeat("ab", 32)
	big := strings.Repeat("x", 11<<20) // over the part size: a multipart upload
	if err := s.PutFile(t.Context(), key, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	out, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("uploads/" + key)})
	if err != nil {
		t.Fatalf("HeadObject uploads/%s: %v", key, err)
	}
	if got, want := aws.ToInt64(out.ContentLength), int64(len(big)); got != want {
		t.Errorf("object size %d, want %d", got, want)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var creates int
	for _, r := range rec.sse {
		// SSE is set on PutObject and CreateMultipartUpload (POST ?uploads);
		// parts inherit it.
		if strings.HasPrefix(r, "POST /"+bucket+"/uploads/"+key+"?uploads") {
			creates++
			if !strings.HasSuffix(r, "sse=AES256") {
				t.Errorf("request %s: want sse=AES256", r)
			}
		}
	}
	if creates == 0 {
		t.Errorf("no multipart upload started for an 11 MiB file; requests: %v", rec.sse)
	}
}

func TestInvalidKeyAndMissingBucket(t *testing.T) {
	c, _, _ := newClient(t)
	s := New(c, "no-such-bucket")
	if _, err := s.OpenFile(t.Context(), "../etc"); txpipe.ErrorCode(err) != txpipe.EINVALID {
		t.Errorf("OpenFile(../etc): %v, want EINVALID", err)
	}
	if _, err := s.OpenFile(t.Context(), "abc"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("OpenFile in a missing bucket: %v, want ENOTFOUND", err)
	}
}

// failingUploader answers every upload with a throttling error, as S3's
// SlowDown would after the SDK's retries.
type failingUploader struct{ err error }

func (f failingUploader) UploadObject(context.Context, *transfermanager.UploadObjectInput, ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error) {
	return nil, f.err
}

func TestErrorKinds(t *testing.T) {
	c, bucket, _ := newClient(t)
	s := New(c, bucket)
	s.up = failingUploader{err: context.DeadlineExceeded}
	err := s.PutFile(t.Context(), "abc", strings.NewReader("x"))
	if got, want := txpipe.ErrorCode(err), txpipe.ETRANSIENT; got != want {
		t.Errorf("PutFile timing out: %v (code %q), want %q", err, got, want)
	}
}
