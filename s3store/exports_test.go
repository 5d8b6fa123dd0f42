package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
)

// TestExportOnMoto: an export of two parts (S3's smallest whole part and a
// last one) is stored encrypted (SSE-S3) under exports/ with the answer's
// type and disposition, and its download URL serves the bytes; an
// aborted export leaves neither an object nor an open upload.
func TestExportOnMoto(t *testing.T) {
	c, bucket := motoClient(t)
	x := NewExports(c, bucket)
	data := bytes.Repeat([]byte("t1,1.00,USD,2026-01-01T00:00:00Z,\"Shop, \"\"A\"\"\",completed\n"), MinPartSize/56+100)
	e, err := x.StartExport(t.Context(), "text/csv; charset=utf-8", `attachment; filename="transactions.csv"`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Key(), ExportPrefix) || !strings.HasSuffix(e.Key(), ".csv") {
		t.Errorf("export key %q, want %s<id>.csv", e.Key(), ExportPrefix)
	}
	for _, p := range [][]byte{data[:MinPartSize], data[MinPartSize:]} {
		if err := e.UploadPart(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	url, expires, err := e.Complete(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(expires); d > DownloadTTL || d < DownloadTTL-time.Minute {
		t.Errorf("URL expires in %s, want %s", d, DownloadTTL)
	}
	if !strings.Contains(url, "X-Amz-Expires=") || !strings.Contains(url, "/"+e.Key()+"?") {
		t.Errorf("URL %s: want a presigned GET of %s", url, e.Key())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET download URL: %d, %d bytes (%v); want the %d uploaded", resp.StatusCode, len(got), err, len(data))
	}
	for h, want := range map[string]string{
		"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": `attachment; filename="transactions.csv"`,
		"X-Amz-Server-Side-Encryption": "AES256",
	} {
		if resp.Header.Get(h) != want {
			t.Errorf("download %s = %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	if err := e.Abort(t.Context()); err != nil {
		t.Errorf("Abort after Complete: %v, want nothing done", err)
	}

	// Aborted after a part: nothing left.
	a, err := x.StartExport(t.Context(), "text/csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.UploadPart(t.Context(), data[:1000]); err != nil {
		t.Fatal(err)
	}
	if err := a.Abort(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key())}); err == nil {
		t.Errorf("aborted export %s exists", a.Key())
	}
	ups, err := c.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("multipart uploads after the abort: %d (%v), want none", len(ups.Uploads), err)
	}
	if err := a.UploadPart(t.Context(), data[:10]); err == nil {
		t.Error("a part after the abort was taken")
	}
}

// TestPresignDownload: only exports get GET URLs, and a URL says it
// expires no later than the credentials that sign it.
func TestPresignDownload(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	client := s3.NewFromConfig(awstest.Config("http://127.0.0.1:1"), func(o *s3.Options) { o.UsePathStyle = true })
	p := NewPresigner(client, "b")
	p.now = func() time.Time { return now }
	for _, key := range []string{"uploads/abc", "incoming/abc", "exports/../uploads/abc"} {
		if _, _, err := p.PresignDownload(t.Context(), key, time.Hour); txpipe.ErrorCode(err) != txpipe.EINVALID {
			t.Errorf("PresignDownload(%q): %v, want EINVALID", key, err)
		}
	}
	url, expires, err := p.PresignDownload(t.Context(), "exports/abc.csv", time.Hour)
	if err != nil || !expires.Equal(now.Add(time.Hour)) || !strings.Contains(url, "X-Amz-Expires=3600") {
		t.Errorf("static credentials: expires %s, URL %s (%v); want an hour", expires, url, err)
	}
	// Role credentials that end in 20 minutes: so does the URL.
	p.credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s", SessionToken: "t", CanExpire: true, Expires: now.Add(20 * time.Minute)}, nil
	})
	url, expires, err = p.PresignDownload(t.Context(), "exports/abc.csv", time.Hour)
	if err != nil || !expires.Equal(now.Add(20*time.Minute)) || !strings.Contains(url, "X-Amz-Expires=1200") {
		t.Errorf("credentials ending in 20 min: expires %s, URL %s (%v); want 20 min", expires, url, err)
	}
	p.credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no credentials")
	})
	if _, _, err := p.PresignDownload(t.Context(), "exports/abc.csv", time.Hour); err == nil {
		t.Error("PresignDownload without credentials: no error")
	}
}
