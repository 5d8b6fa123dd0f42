package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// Intake is the first part of the pipeline, run while the upload request
// waits: validate the file, store it, record its status and start its run.
// The local server and the validator Lambda both use it.
type Intake struct {
	Files    FileStore
	Statuses StatusStore
	Runs     Starter
	Retry    RetryPolicy // for storing the file and starting the run; DefaultRetry if zero
	Now      Clock       // time.Now if nil
	Logger   *slog.Logger
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now().UTC()
	}
	return time.Now().UTC()
}

func (in *Intake) retry() RetryPolicy {
	if in.Retry.MaxAttempts == 0 {
		return DefaultRetry
	}
	return in.Retry
}

// Submit validates, stores and starts the processing of a spooled upload.
// It returns the file's status record and created=false when a file with
// the same bytes (so the same file id) was known already. A rejected file
// comes back with status REJECTED and its errors; that is not an error.
func (in *Intake) Submit(ctx context.Context, up Upload) (*txpipe.FileStatus, bool, error) {
	if up.SHA256 == "" {
		return nil, false, txpipe.Errorf(txpipe.EINVALID, "upload has no checksum")
	}
	fileID := txpipe.FileIDFromSHA256(up.SHA256)
	known, err := in.Statuses.GetStatus(ctx, fileID)
	// A file rejected before may come again with a format (separator,
	// encoding, profile): it is validated again under it, and its record
	// replaced, so a user who wrote the profile a rejection suggested can
	// send the same file. Without a format it stays the known rejection.
	replaceable := func(status string) bool {
		return txpipe.AwaitingBytes(status) || (status == txpipe.StatusRejected && up.Format != (csvschema.Format{}))
	}
	switch {
	case err == nil && !replaceable(known.Status):
		return known, false, nil
	case err == nil:
		// Declared with POST /uploads: these are its bytes.
	case txpipe.ErrorCode(err) != txpipe.ENOTFOUND:
		return nil, false, fmt.Errorf("look up file %s: %w", fileID, err)
	}

	if _, err := up.File.Seek(0, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("rewind upload %s: %w", fileID, err)
	}
	rep, err := csvschema.ValidateWith(ctx, up.File, csvschema.Options{Format: up.Format})
	if err != nil {
		if errors.Is(err, csvschema.ErrFormat) {
			return nil, false, txpipe.Errorf(txpipe.EINVALID, "%v", err)
		}
		return nil, false, fmt.Errorf("validate file %s: %w", fileID, err)
	}
	now := in.now()
	dialect := rep.Dialect
	st := &txpipe.FileStatus{
		FileID: fileID, Filename: up.Filename, SHA256: up.SHA256, SizeBytes: up.Size,
		Rows: rep.Rows, Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now,
		Dialect: &dialect,
	}
	if up.Format.Profile != nil {
		st.Profile = up.Format.Profile.Name
	}
	if !rep.Valid() {
		st.Status = txpipe.StatusRejected
		st.ErrorCount = rep.ErrorCount
		st.Errors = rep.Items()
		got, created, err := in.record(ctx, st, replaceable)
		if err != nil {
			return nil, false, fmt.Errorf("record rejected file %s: %w", fileID, err)
		}
		return got, created, nil
	}

	err = in.retry().Do(ctx, func(ctx context.Context) error {
		if pp, ok := in.Files.(PathPutter); ok && up.Path != "" {
			return pp.PutFileFromPath(ctx, up.SHA256, up.Path)
		}
		if _, err := up.File.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind upload: %w", err)
		}
		return in.Files.PutFile(ctx, up.SHA256, up.File)
	}, nil)
	if err != nil {
		return nil, false, fmt.Errorf("store file %s: %w", fileID, err)
	}

	// The run is started before the status record is written: a crash in
	// between leaves a run that creates the record itself (see Transform),
	// never a VALIDATED record that nothing will process.
	//
	// The same bytes uploaded twice at once both miss the first look-up;
	// looking again here, after the validation that takes the time, leaves
	// a window of milliseconds for a second run, which the idempotent
	// writes would make harmless (local jobs are also one per file).
	if known, err := in.Statuses.GetStatus(ctx, fileID); err == nil && !replaceable(known.Status) {
		return known, false, nil
	}
	st.Status = txpipe.StatusValidated
	state := RunState{FileID: fileID, FileKey: up.SHA256, Filename: up.Filename, Rows: rep.Rows, SizeBytes: up.Size}
	if f := runFormat(up.Format, rep.Dialect); f != (csvschema.Format{}) {
		state.Format = &f
	}
	if err := in.retry().Do(ctx, func(ctx context.Context) error { return in.Runs.StartRun(ctx, state) }, nil); err != nil {
		return nil, false, fmt.Errorf("start run of file %s: %w", fileID, err)
	}
	if _, _, err := in.record(ctx, st, replaceable); err != nil {
		return nil, false, fmt.Errorf("record file %s: %w", fileID, err)
	}
	if in.Logger != nil {
		in.Logger.InfoContext(ctx, "file accepted", "file_id", fileID, "filename", up.Filename, "rows", rep.Rows, "size_bytes", up.Size)
	}
	return st, true, nil
}

// record stores the status record of a file whose bytes were taken in: it
// creates it, or replaces the AWAITING_UPLOAD or EXPIRED record of a
// declared upload. created=false and the stored record come back when
// another upload of the same bytes recorded it first (or its run has
// already moved it on).
func (in *Intake) record(ctx context.Context, st *txpipe.FileStatus, replaceable func(string) bool) (rec *txpipe.FileStatus, created bool, err error) {
	err = in.retry().Do(ctx, func(ctx context.Context) error {
		rec, created, err = in.Statuses.CreateStatus(ctx, st)
		if err != nil || created || !replaceable(rec.Status) {
			return err
		}
		c := *st
		c.CreatedAt = rec.CreatedAt
		from := []string{txpipe.StatusAwaitingUpload, txpipe.StatusExpired}
		if rec.Status == txpipe.StatusRejected {
			from = []string{txpipe.StatusRejected}
		}
		err = in.Statuses.UpdateStatus(ctx, &c, from...)
		if txpipe.ErrorCode(err) == txpipe.ECONFLICT {
			rec, err = in.Statuses.GetStatus(ctx, st.FileID)
			return err
		}
		if err == nil {
			rec, created = &c, true
		}
		return err
	}, nil)
	return rec, created, err
}

// runFormat is the format a run reads the stored file with: the upload's,
// with the separator and encoding the validation found, so the transform
// step detects nothing. A plain file (comma, UTF-8, no profile) gets the
// zero Format, which keeps its run state as it was.
func runFormat(f csvschema.Format, d txpipe.Dialect) csvschema.Format {
	f.Delimiter, f.Encoding = d.Delimiter, d.Encoding
	if f.Delimiter == "," && f.Encoding == csvschema.EncUTF8 && f.Profile == nil {
		return csvschema.Format{}
	}
	return f
}
