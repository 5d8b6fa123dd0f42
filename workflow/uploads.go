package workflow

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
)

// Declaration is what a client declares before it sends a file's bytes in
// the two-step upload (POST /uploads).
type Declaration struct {
	Filename  string `json:"filename"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"` // 64 hex digits of the file's bytes
	// How to read the bytes, as POST /upload's form fields say it ("":
	// detect); recorded on the AWAITING_UPLOAD record and used when the
	// bytes arrive (the profile is read then).
	Delimiter string `json:"delimiter,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Profile   string `json:"profile,omitempty"`
	Sheet     string `json:"sheet,omitempty"`
	// Tenant is the tenant of the key that declared it (not read from the
	// request body); "" is the default tenant.
	Tenant string `json:"-"`
}

// Format is the format d declares.
func (d Declaration) Format() txpipe.DeclaredFormat {
	return txpipe.DeclaredFormat{Delimiter: d.Delimiter, Encoding: d.Encoding, Profile: d.Profile, Sheet: d.Sheet}
}

// Upload defaults.
const (
	// DefaultUploadTTL is how long an upload URL stays valid (the contract
	// asks for at least 15 minutes).
	DefaultUploadTTL = time.Hour
	// DefaultMaxUploadBytes is the local limit of a declared file.
	DefaultMaxUploadBytes = 10 << 30
	// MaxS3UploadBytes is the largest object one S3 PUT takes, the limit of
	// a declared file on AWS.
	MaxS3UploadBytes = 5 << 30
)

// Uploads records declared uploads: the first step of the two-step upload.
// The bytes' arrival is taken in by Intake.Submit (locally the PUT to the
// server's upload URL; on AWS the validator step of the state machine).
type Uploads struct {
	Statuses StatusStore
	MaxBytes int64         // DefaultMaxUploadBytes if 0
	TTL      time.Duration // DefaultUploadTTL if 0
	Now      Clock         // time.Now if nil
}

// Check returns d with its SHA-256 in lower case, or an EINVALID or
// ETOOLARGE error saying which field is wrong and why.
func (u *Uploads) Check(d Declaration) (Declaration, error) {
	d.SHA256 = strings.ToLower(strings.TrimSpace(d.SHA256))
	if b, err := hex.DecodeString(d.SHA256); err != nil || len(b) != 32 {
		return d, txpipe.Errorf(txpipe.EINVALID, "sha256 must be 64 hex digits (the SHA-256 of the file's bytes), got %q", short(d.SHA256))
	}
	if d.SizeBytes < 1 {
		return d, txpipe.Errorf(txpipe.EINVALID, "size_bytes must be at least 1, got %d", d.SizeBytes)
	}
	if max := u.maxBytes(); d.SizeBytes > max {
		return d, txpipe.Errorf(txpipe.ETOOLARGE, "size_bytes %d is larger than the limit of %d bytes", d.SizeBytes, max)
	}
	f := csvschema.Format{Delimiter: d.Delimiter, Encoding: d.Encoding}
	if err := f.Check(); err != nil {
		return d, txpipe.Errorf(txpipe.EINVALID, "%s", FormatMessage(err))
	}
	d.Encoding = f.Encoding
	if d.Profile != "" {
		if err := profile.CheckName(d.Profile); err != nil {
			return d, txpipe.Errorf(txpipe.EINVALID, "profile: %v", err)
		}
	}
	if len(d.Sheet) > maxFormatField {
		return d, txpipe.Errorf(txpipe.EINVALID, "sheet is longer than %d bytes", maxFormatField)
	}
	return d, nil
}

// maxFormatField bounds a declared sheet name (as POST /upload's form
// fields; the other values are checked against their few valid ones).
const maxFormatField = 256

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func (u *Uploads) maxBytes() int64 {
	if u.MaxBytes > 0 {
		return u.MaxBytes
	}
	return DefaultMaxUploadBytes
}

func (u *Uploads) now() time.Time {
	if u.Now != nil {
		return u.Now().UTC()
	}
	return time.Now().UTC()
}

// Declare records the upload of d and returns its status record. When a
// file with d's SHA-256 is known (it has bytes: any status but
// AWAITING_UPLOAD or EXPIRED) it returns that record and awaiting=false:
// nothing needs sending. Otherwise the record is AWAITING_UPLOAD with a new
// ExpiresAt, and awaiting=true: the caller hands out an upload URL valid
// until then.
func (u *Uploads) Declare(ctx context.Context, d Declaration) (st *txpipe.FileStatus, awaiting bool, err error) {
	d, err = u.Check(d)
	if err != nil {
		return nil, false, err
	}
	fileID := txpipe.ScopedFileID(d.Tenant, txpipe.FileIDFromSHA256(d.SHA256))
	now := u.now()
	ttl := u.TTL
	if ttl <= 0 {
		ttl = DefaultUploadTTL
	}
	rec := &txpipe.FileStatus{
		FileID: fileID, Status: txpipe.StatusAwaitingUpload, Filename: d.Filename, SHA256: d.SHA256,
		SizeBytes: d.SizeBytes, Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(ttl).Truncate(time.Second), Profile: d.Profile,
	}
	if f := d.Format(); f != (txpipe.DeclaredFormat{}) {
		rec.Format = &f
	}
	got, created, err := u.Statuses.CreateStatus(ctx, rec)
	if err != nil {
		return nil, false, fmt.Errorf("declare upload of file %s: %w", fileID, err)
	}
	if created {
		return got, true, nil
	}
	if !txpipe.AwaitingBytes(got.Status) {
		return got, false, nil
	}
	// Declared before and not sent (or expired): a new URL, a new expiry.
	rec.CreatedAt = got.CreatedAt
	switch err := u.Statuses.UpdateStatus(ctx, rec, txpipe.StatusAwaitingUpload, txpipe.StatusExpired); {
	case err == nil:
		return rec, true, nil
	case txpipe.ErrorCode(err) == txpipe.ECONFLICT:
		// The bytes arrived meanwhile.
		known, err := u.Statuses.GetStatus(ctx, fileID)
		if err != nil {
			return nil, false, fmt.Errorf("declare upload of file %s: %w", fileID, err)
		}
		return known, false, nil
	default:
		return nil, false, fmt.Errorf("declare upload of file %s again: %w", fileID, err)
	}
}

// UploadExpirer marks the AWAITING_UPLOAD records whose ExpiresAt is before
// now EXPIRED and returns how many it marked (the local counterpart of the
// S3 lifecycle rule on the upload prefix).
type UploadExpirer interface {
	ExpireUploads(ctx context.Context, now time.Time) (int, error)
}
