package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/txpipe/txpipe"
)

// ExportPrefix is where the API's answers too large for a Lambda response
// go (exports/<random id>.csv); the bucket's lifecycle deletes them after a
// day.
const ExportPrefix = "exports/"

// MinPartSize is S3's smallest part of a multipart upload, but for the
// last one.
const MinPartSize = 5 << 20

// DownloadTTL is how long a download URL of an export is valid (at most:
// no longer than the credentials that sign it).
const DownloadTTL = time.Hour

// multipartClient is the S3 calls of an export, so tests can put faults in
// front of the real client.
type multipartClient interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Exports writes response bodies to new objects under ExportPrefix, part
// by part as they are produced, and signs GET URLs of them. The client's
// own credentials sign the URLs: they need s3:GetObject on ExportPrefix.
type Exports struct {
	c      multipartClient
	ps     *Presigner
	bucket string
}

// NewExports returns the Exports of bucket.
func NewExports(client *s3.Client, bucket string) *Exports {
	return &Exports{c: client, ps: NewPresigner(client, bucket), bucket: bucket}
}

// Export is one export being uploaded: parts in order, then Complete or
// Abort. It is not safe for concurrent use.
type Export struct {
	x        *Exports
	key      string
	uploadID string
	parts    []types.CompletedPart
	ended    bool
}

// StartExport begins the multipart upload of a new object under
// ExportPrefix (SSE-S3), whose GET answers with contentType and
// disposition (either may be empty).
func (x *Exports) StartExport(ctx context.Context, contentType, disposition string) (*Export, error) {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	key := ExportPrefix + hex.EncodeToString(id[:]) + extensionOf(contentType)
	in := &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(x.bucket),
		Key:                  aws.String(key),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
		ChecksumAlgorithm:    types.ChecksumAlgorithmCrc32,
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if disposition != "" {
		in.ContentDisposition = aws.String(disposition)
	}
	out, err := x.c.CreateMultipartUpload(ctx, in)
	if err != nil {
		return nil, translate(err, "start export s3://%s/%s", x.bucket, key)
	}
	return &Export{x: x, key: key, uploadID: aws.ToString(out.UploadId)}, nil
}

// extensionOf is the key's extension for a content type: .csv, .json, or
// none.
func extensionOf(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "text/csv":
		return ".csv"
	case mt == "application/json":
		return ".json"
	}
	return ""
}

// Key is the export's object key.
func (e *Export) Key() string { return e.key }

// UploadPart sends p as the next part. Every part but the last must be at
// least MinPartSize bytes on S3 (CompleteMultipartUpload refuses smaller
// ones). p is not kept.
func (e *Export) UploadPart(ctx context.Context, p []byte) error {
	if e.ended {
		return txpipe.Errorf(txpipe.EINTERNAL, "upload a part of export s3://%s/%s: it has ended", e.x.bucket, e.key)
	}
	n := int32(len(e.parts) + 1)
	out, err := e.x.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(e.x.bucket), Key: aws.String(e.key), UploadId: aws.String(e.uploadID),
		PartNumber: aws.Int32(n), Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return translate(err, "upload part %d of export s3://%s/%s", n, e.x.bucket, e.key)
	}
	e.parts = append(e.parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	return nil
}

// Complete ends the upload (an export with no part gets an empty one) and
// returns a GET URL of the object and the time it stops working.
func (e *Export) Complete(ctx context.Context) (string, time.Time, error) {
	if len(e.parts) == 0 {
		if err := e.UploadPart(ctx, nil); err != nil {
			return "", time.Time{}, err
		}
	}
	if e.ended {
		return "", time.Time{}, txpipe.Errorf(txpipe.EINTERNAL, "complete export s3://%s/%s: it has ended", e.x.bucket, e.key)
	}
	_, err := e.x.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(e.x.bucket), Key: aws.String(e.key), UploadId: aws.String(e.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: e.parts},
	})
	if err != nil {
		return "", time.Time{}, translate(err, "complete export s3://%s/%s", e.x.bucket, e.key)
	}
	e.ended = true
	return e.x.ps.PresignDownload(ctx, e.key, DownloadTTL)
}

// Abort drops the upload and the parts sent: no object is left. Aborting
// an ended export does nothing.
func (e *Export) Abort(ctx context.Context) error {
	if e.ended {
		return nil
	}
	e.ended = true
	_, err := e.x.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(e.x.bucket), Key: aws.String(e.key), UploadId: aws.String(e.uploadID),
	})
	if err != nil {
		return translate(err, "abort export s3://%s/%s", e.x.bucket, e.key)
	}
	return nil
}

// PresignDownload returns a GET URL of the object key (under ExportPrefix)
// valid for ttl, or less when the signing credentials expire sooner, and
// the time it stops working.
func (p *Presigner) PresignDownload(ctx context.Context, key string, ttl time.Duration) (string, time.Time, error) {
	if !strings.HasPrefix(key, ExportPrefix) || strings.Contains(key, "..") {
		return "", time.Time{}, txpipe.Errorf(txpipe.EINVALID, "presign GET of %q: not an export (%s...)", key, ExportPrefix)
	}
	now := p.now()
	expires := now.Add(ttl)
	if creds := p.credentials; creds != nil {
		c, err := creds.Retrieve(ctx)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("presign GET s3://%s/%s: credentials: %w", p.bucket, key, err)
		}
		if c.CanExpire && c.Expires.Before(expires) {
			expires = c.Expires
		}
	}
	req, err := p.ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(expires.Sub(now)))
	if err != nil {
		return "", time.Time{}, translate(err, "presign GET s3://%s/%s", p.bucket, key)
	}
	return req.URL, expires.UTC().Truncate(time.Second), nil
}
