// Package s3store keeps txpipe's uploaded files in an Amazon S3 bucket
// with aws-sdk-go-v2: workflow.FileStore over the S3 transfer manager.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.FileStore = (*Store)(nil)

// KeyPrefix is the prefix of the object keys: a file of key k is the
// object "uploads/k".
const KeyPrefix = "uploads/"

// The S3 calls the store makes, one interface each, so tests can put faults
// in front of the real client.
type (
	uploader interface {
		UploadObject(ctx context.Context, in *transfermanager.UploadObjectInput, opts ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error)
	}
	objectGetter interface {
		GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	}
)

// Store is a workflow.FileStore on one S3 bucket.
type Store struct {
	up     uploader
	get    objectGetter
	c      *s3.Client // copies and deletes of two-step uploads
	bucket string
}

// Option configures a Store.
type Option func(*transfermanager.Options)

// WithPartSize sets the part size of multipart uploads (default and
// minimum 5 MiB). Memory use of an upload is about part size times
// concurrency, whatever the file's size.
func WithPartSize(n int64) Option {
	return func(o *transfermanager.Options) {
		o.PartSizeBytes = max(n, 5<<20)
		o.MultipartUploadThreshold = o.PartSizeBytes
	}
}

// WithConcurrency sets how many parts an upload sends at once (default 3).
func WithConcurrency(n int) Option {
	return func(o *transfermanager.Options) {
		if n > 0 {
			o.Concurrency = n
		}
	}
}

// New returns a Store on bucket. Files are encrypted at rest with SSE-S3
// (AES256).
func New(client *s3.Client, bucket string, opts ...Option) *Store {
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = 5 << 20
		o.MultipartUploadThreshold = 5 << 20
		o.Concurrency = 3
		for _, f := range opts {
			f(o)
		}
	})
	return &Store{up: tm, get: client, c: client, bucket: bucket}
}

func objectKey(key string) (string, error) {
	if key == "" || strings.ContainsAny(key, "/\\") || strings.Contains(key, "..") {
		return "", txpipe.Errorf(txpipe.EINVALID, "invalid file key %q", key)
	}
	return KeyPrefix + key, nil
}

// PutFile streams r to the object uploads/<key>, in parts when it is large:
// it holds a few parts in memory, never the whole file. An upload that
// fails (r returns an error, the context ends) leaves no object.
func (s *Store) PutFile(ctx context.Context, key string, r io.Reader) error {
	k, err := objectKey(key)
	if err != nil {
		return err
	}
	_, err = s.up.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:               aws.String(s.bucket),
		Key:                  aws.String(k),
		Body:                 r,
		ContentType:          aws.String("text/csv"),
		ServerSideEncryption: tmtypes.ServerSideEncryptionAes256,
	})
	if err != nil {
		return translate(err, "upload s3://%s/%s", s.bucket, k)
	}
	return nil
}

// OpenFile returns the object's body as it streams from S3. The caller
// closes it.
func (s *Store) OpenFile(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := objectKey(key)
	if err != nil {
		return nil, err
	}
	out, err := s.get.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return nil, translate(err, "open s3://%s/%s", s.bucket, k)
	}
	return &body{ReadCloser: out.Body, what: "read s3://" + s.bucket + "/" + k}, nil
}

// body translates the errors of a streaming read: a connection lost in the
// middle of a file is worth retrying.
type body struct {
	io.ReadCloser
	what string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = translate(err, "%s", b.what)
	}
	return n, err
}

// codes maps S3 API error codes to txpipe kinds. Server faults, 5xx and 429
// responses, timeouts and network errors are transient for every service
// (awserr.Kind).
var codes = awserr.Codes{
	"NoSuchKey":           txpipe.ENOTFOUND,
	"NoSuchBucket":        txpipe.ENOTFOUND,
	"NotFound":            txpipe.ENOTFOUND,
	"SlowDown":            txpipe.ETRANSIENT,
	"Throttling":          txpipe.ETRANSIENT,
	"ThrottlingException": txpipe.ETRANSIENT,
	"RequestTimeout":      txpipe.ETRANSIENT,
	"InternalError":       txpipe.ETRANSIENT,
	"ServiceUnavailable":  txpipe.ETRANSIENT,
	"PreconditionFailed":  txpipe.ECONFLICT,
	"EntityTooLarge":      txpipe.ETOOLARGE,
}

// kindOf returns the txpipe error code of an S3 or transport error. Beyond
// awserr.Kind, a 404 response whose API error code is not listed (nor a
// server fault) is not found, and a body cut short is transient.
func kindOf(err error) string {
	var ae smithy.APIError
	decided := errors.As(err, &ae) && (codes[ae.ErrorCode()] != "" || ae.ErrorFault() == smithy.FaultServer)
	var re *awshttp.ResponseError
	if !decided && errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return txpipe.ENOTFOUND
	}
	kind := awserr.Kind(err, codes)
	if kind == txpipe.EINTERNAL && errors.Is(err, io.ErrUnexpectedEOF) {
		return txpipe.ETRANSIENT
	}
	return kind
}

func translate(err error, format string, args ...any) error {
	return &txpipe.Error{Code: kindOf(err), Message: fmt.Sprintf(format, args...), Err: err}
}
