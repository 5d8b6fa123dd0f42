package s3store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// IncomingPrefix is where the bytes of two-step uploads land: a declared
// file of SHA-256 h is the object "incoming/h" until Validate claims it
// (copies it to uploads/h and deletes it). The bucket's lifecycle expires
// what is never claimed.
const IncomingPrefix = "incoming/"

var (
	_ workflow.UploadStore = (*Store)(nil)
	_ workflow.RangeOpener = (*Store)(nil)
)

// IncomingKey is the object key the bytes of the file with hex SHA-256
// sum are sent to.
func IncomingKey(sum string) string { return IncomingPrefix + sum }

// TenantIncomingKey is IncomingKey for a file of tenant: a tenant other
// than the default sends its bytes to "incoming/TENANT/sum", so their
// arrival starts the tenant's run.
func TenantIncomingKey(tenant, sum string) string {
	if t := txpipe.TenantOrDefault(tenant); t != txpipe.DefaultTenant {
		return IncomingPrefix + t + "/" + sum
	}
	return IncomingKey(sum)
}

// FileKeyOfIncoming returns the file key (the hex SHA-256) of an object
// key under IncomingPrefix (a tenant's included), or an EINVALID error.
func FileKeyOfIncoming(key string) (string, error) {
	_, sum, err := TenantFileKeyOfIncoming(key)
	return sum, err
}

// TenantFileKeyOfIncoming returns the tenant and the file key of an object
// key made by TenantIncomingKey, or an EINVALID error.
func TenantFileKeyOfIncoming(key string) (tenant, sum string, err error) {
	rest, ok := strings.CutPrefix(key, IncomingPrefix)
	tenant = txpipe.DefaultTenant
	if t, s, nested := strings.Cut(rest, "/"); nested {
		if txpipe.CheckTenant(t) != nil {
			ok = false
		}
		tenant, rest = t, s
	}
	if b, err := hex.DecodeString(rest); !ok || err != nil || len(b) != 32 || strings.ToLower(rest) != rest {
		return "", "", txpipe.Errorf(txpipe.EINVALID, "object key %q is not %s[<tenant>/]<64 lower-case hex digits>", key, IncomingPrefix)
	}
	return tenant, rest, nil
}

// OpenUpload returns the bytes of an incoming object (key is its full
// object key, under IncomingPrefix), streaming from S3.
func (s *Store) OpenUpload(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := FileKeyOfIncoming(key); err != nil {
		return nil, err
	}
	out, err := s.get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, translate(err, "open s3://%s/%s", s.bucket, key)
	}
	return &body{ReadCloser: out.Body, what: "read s3://" + s.bucket + "/" + key}, nil
}

// OpenUploadAt returns the bytes of an incoming object from offset off on
// (a ranged GET when off > 0), so a reader can start over or skip ahead.
func (s *Store) OpenUploadAt(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	if off <= 0 {
		return s.OpenUpload(ctx, key)
	}
	if _, err := FileKeyOfIncoming(key); err != nil {
		return nil, err
	}
	out, err := s.get.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-", off)),
	}, wholeObjectChecksumsOnly)
	if err != nil {
		return nil, translate(err, "open bytes %d- of s3://%s/%s", off, s.bucket, key)
	}
	return &body{ReadCloser: out.Body, what: "read s3://" + s.bucket + "/" + key}, nil
}

// ClaimUpload copies the incoming object key to the file fileKey (a copy
// inside S3, up to 5 GB) and deletes it.
func (s *Store) ClaimUpload(ctx context.Context, key, fileKey string) error {
	dst, err := objectKey(fileKey)
	if err != nil {
		return err
	}
	if _, err := FileKeyOfIncoming(key); err != nil {
		return err
	}
	_, err = s.c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(dst),
		CopySource:           aws.String(s.bucket + "/" + key),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
	})
	if err != nil {
		return translate(err, "copy s3://%s/%s to %s", s.bucket, key, dst)
	}
	if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}); err != nil {
		return translate(err, "delete s3://%s/%s", s.bucket, key)
	}
	return nil
}

// OpenRange returns n bytes of the file from off (a ranged GET).
func (s *Store) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	k, err := objectKey(key)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	out, err := s.get.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(k),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
	}, wholeObjectChecksumsOnly)
	if err != nil {
		return nil, translate(err, "open bytes %d-%d of s3://%s/%s", off, off+n-1, s.bucket, k)
	}
	return &body{ReadCloser: out.Body, what: "read s3://" + s.bucket + "/" + k}, nil
}

// wholeObjectChecksumsOnly turns off the SDK's response checksum check for
// one call: an object's stored checksum covers all its bytes, so it cannot
// check a range (S3 sends none for a range; some emulators send the whole
// object's, which the SDK would then compare with the range and refuse).
func wholeObjectChecksumsOnly(o *s3.Options) {
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

// Presigner makes the S3 presigned PUT URLs of declared uploads: S3 itself
// refuses a body whose SHA-256 (x-amz-checksum-sha256, a signed header) or
// length (Content-Length, signed) differ from the declaration. It
// implements httpapi.Presigner. It also signs the GET URLs of exports
// (PresignDownload).
type Presigner struct {
	ps          *s3.PresignClient
	credentials aws.CredentialsProvider // of the signatures: a URL works no longer than they do
	bucket      string
	now         func() time.Time
}

// NewPresigner returns a Presigner for bucket. The credentials of client
// sign the URLs: they need s3:PutObject on IncomingPrefix only.
func NewPresigner(client *s3.Client, bucket string) *Presigner {
	return &Presigner{ps: s3.NewPresignClient(client), credentials: client.Options().Credentials, bucket: bucket, now: time.Now}
}

// PresignUpload returns a PUT URL for the bytes of st (st.SizeBytes bytes
// of SHA-256 st.SHA256) valid until st.ExpiresAt, and the headers the PUT
// must carry.
func (p *Presigner) PresignUpload(ctx context.Context, st *txpipe.FileStatus) (string, map[string]string, error) {
	sum, err := hex.DecodeString(st.SHA256)
	if err != nil || len(sum) != 32 {
		return "", nil, txpipe.Errorf(txpipe.EINVALID, "presign upload of file %s: sha256 %q is not 64 hex digits", st.FileID, st.SHA256)
	}
	ttl := st.ExpiresAt.Sub(p.now())
	if ttl < time.Minute {
		return "", nil, txpipe.Errorf(txpipe.EINVALID, "presign upload of file %s: it expires at %s", st.FileID, st.ExpiresAt)
	}
	key := TenantIncomingKey(txpipe.TenantOfFileID(st.FileID), st.SHA256)
	req, err := p.ps.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(p.bucket),
		Key:            aws.String(key),
		ContentLength:  aws.Int64(st.SizeBytes),
		ContentType:    aws.String("text/csv"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", nil, translate(err, "presign PUT s3://%s/%s", p.bucket, key)
	}
	headers := map[string]string{}
	for name, vs := range req.SignedHeader {
		switch http.CanonicalHeaderKey(name) {
		case "Host", "Content-Length": // set by the client from the URL and the body
			continue
		}
		headers[name] = strings.Join(vs, ",")
	}
	return req.URL, headers, nil
}
