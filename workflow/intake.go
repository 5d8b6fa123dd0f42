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
	// Recorder, if set, records a new file's status record and starts its
	// run in one write (the local engine when it keeps its jobs in the
	// status store); Runs then only serves runs started elsewhere.
	Recorder RunRecorder
	Retry    RetryPolicy // for storing the file and starting the run; DefaultRetry if zero
	Now      Clock       // time.Now if nil
	Logger   *slog.Logger
	// Chunks and MinChunkRows are as Tasks.Chunks and Tasks.MinChunkRows.
	Chunks       int
	MinChunkRows int64
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now().UTC()
	}
	return time.Now().UTC()
}

func (in *Intake) retry() RetryPolicy {
	if in.Retry.MaxAttempts == 0 {
		return DefaultRetry()
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
	fileID := txpipe.ScopedFileID(up.Tenant, txpipe.FileIDFromSHA256(up.SHA256))
	known, err := in.Statuses.GetStatus(ctx, fileID)
	// A file rejected before may come again with a format (separator,
	// encoding, profile): it is validated again under it, and its record
	// replaced, so a user who wrote the profile a rejection suggested can
	// send the same file. Without a format it stays the known rejection.
	replaceable := func(status string) bool {
		return txpipe.AwaitingBytes(status) || (status == txpipe.StatusRejected && up.Format != (csvschema.Format{}))
	}
	switch {
	case err == nil && in.lostStart(known):
		// Recorded, but its run was never started (see startLost).
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
	// The validation records where the file can be cut into chunks, so
	// Split need not read it again (see Tasks.Split).
	rep, err := csvschema.ValidateWith(ctx, up.File, csvschema.Options{Format: up.Format, CutEvery: CutRows})
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
		st.AddEvent(txpipe.StatusEvent{At: now, Status: txpipe.StatusRejected, Step: "Validate",
			Message: fmt.Sprintf("%d rows, %d errors", rep.Rows, rep.ErrorCount)})
		if rep.ErrorCount > int64(len(rep.Errors)) {
			// More errors than the record keeps: the bytes are stored so
			// every rejected row can be listed (RowErrors). A file that
			// cannot be stored is still rejected; only that list is lost.
			if err := in.storeFile(ctx, up); err != nil && in.Logger != nil {
				in.Logger.WarnContext(ctx, "store rejected file for its errors", "file_id", fileID, "err", err)
			}
		}
		got, created, err := in.record(ctx, st, replaceable)
		if err != nil {
			return nil, false, fmt.Errorf("record rejected file %s: %w", fileID, err)
		}
		return got, created, nil
	}

	if err := in.storeFile(ctx, up); err != nil {
		return nil, false, fmt.Errorf("store file %s: %w", fileID, err)
	}

	// Exactly one run per file: a conditional write of the status record
	// decides which of concurrent uploads of the same bytes starts it; the
	// others answer with the winner's record. Where the store can, the
	// record and the run's start are one atomic write (RunRecorder), so a
	// crash cannot leave either without the other; elsewhere the run starts
	// after the record, and a record left VALIDATED without a run (a crash
	// in between) is started again by the next upload of the same bytes
	// once it is StaleValidated old.
	st.Status = txpipe.StatusValidated
	st.AddEvent(txpipe.StatusEvent{At: now, Status: txpipe.StatusValidated, Step: "Validate", Message: fmt.Sprintf("%d rows valid; file stored", rep.Rows)})
	state := RunState{FileID: fileID, FileKey: up.SHA256, Filename: up.Filename, Rows: rep.Rows, SizeBytes: up.Size}
	if f := runFormat(up.Format, rep.Dialect); f != (csvschema.Format{}) {
		state.Format = &f
	}
	if rep.HeaderEnd > 0 {
		state.HeaderEnd = rep.HeaderEnd
		state.Chunks = chunksAt(rep.HeaderEnd, rep.Cuts, CutRows, ChunkRowsWithin(rep.Rows, in.Chunks, in.MinChunkRows), rep.Rows, up.Size)
	}
	replaceableFrom := []string{txpipe.StatusAwaitingUpload, txpipe.StatusExpired}
	if up.Format != (csvschema.Format{}) {
		replaceableFrom = append(replaceableFrom, txpipe.StatusRejected)
	}
	if rr := in.Recorder; rr != nil {
		var rec *txpipe.FileStatus
		var created bool
		err := in.retry().Do(ctx, func(ctx context.Context) error {
			var err error
			rec, created, err = rr.RecordAndStart(ctx, st, state, replaceableFrom...)
			return err
		}, nil)
		if err != nil {
			return nil, false, fmt.Errorf("record file %s and start its run: %w", fileID, err)
		}
		if !created {
			return rec, false, nil
		}
	} else {
		rec, created, err := in.record(ctx, st, replaceable)
		if err != nil {
			return nil, false, fmt.Errorf("record file %s: %w", fileID, err)
		}
		if !created && !in.lostStart(rec) {
			return rec, false, nil
		}
		if !created && in.Logger != nil {
			in.Logger.WarnContext(ctx, "starting the run of a file recorded without one", "file_id", fileID, "recorded_at", rec.UpdatedAt)
		}
		if !created {
			// Restarting a lost start: the record is touched first, so
			// that uploads in the next StaleValidated start nothing more.
			touched := *rec
			touched.UpdatedAt = in.now()
			if err := in.Statuses.UpdateStatus(ctx, &touched, txpipe.StatusValidated); err != nil {
				if txpipe.ErrorCode(err) == txpipe.ECONFLICT {
					cur, gerr := in.Statuses.GetStatus(ctx, fileID)
					if gerr != nil {
						return nil, false, fmt.Errorf("look up file %s: %w", fileID, gerr)
					}
					return cur, false, nil // its run moved it on meanwhile
				}
				return nil, false, fmt.Errorf("touch file %s: %w", fileID, err)
			}
			rec = &touched
		}
		if err := in.retry().Do(ctx, func(ctx context.Context) error { return in.Runs.StartRun(ctx, state) }, nil); err != nil {
			return nil, false, fmt.Errorf("start run of file %s: %w", fileID, err)
		}
		if !created {
			return rec, false, nil
		}
	}
	if in.Logger != nil {
		in.Logger.InfoContext(ctx, "file accepted", "file_id", fileID, "filename", up.Filename, "rows", rep.Rows, "size_bytes", up.Size)
	}
	return st, true, nil
}

// StaleValidated is how long a file may stay VALIDATED before an upload of
// the same bytes takes it for one whose run was never started (a crash
// between recording it and starting its run, where the two are not one
// write). A started run moves it to PROCESSING within seconds.
const StaleValidated = 5 * time.Minute

// RunRecorder is a Starter that records a file's status record and starts
// its run in one atomic write (the local engine over SQLite: the run is a
// job row beside the record). RecordAndStart creates st, or replaces a
// record whose status is one of from, and starts run with it; otherwise it
// starts nothing and returns the stored record with created=false.
type RunRecorder interface {
	RecordAndStart(ctx context.Context, st *txpipe.FileStatus, run RunState, from ...string) (rec *txpipe.FileStatus, created bool, err error)
}

// lostStart reports whether rec is a record whose run was likely never
// started: VALIDATED for longer than StaleValidated, where the record and
// the start are separate writes.
func (in *Intake) lostStart(rec *txpipe.FileStatus) bool {
	if in.Recorder != nil {
		return false
	}
	return rec.Status == txpipe.StatusValidated && in.now().Sub(rec.UpdatedAt) > StaleValidated
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
	f.Delimiter, f.Encoding, f.Sheet = d.Delimiter, d.Encoding, d.Sheet
	if f.Delimiter == "," && f.Encoding == csvschema.EncUTF8 && f.Profile == nil {
		return csvschema.Format{}
	}
	return f
}

// storeFile stores the upload's bytes under their SHA-256, with retries.
func (in *Intake) storeFile(ctx context.Context, up Upload) error {
	return in.retry().Do(ctx, func(ctx context.Context) error {
		if pp, ok := in.Files.(PathPutter); ok && up.Path != "" {
			return pp.PutFileFromPath(ctx, up.SHA256, up.Path)
		}
		if _, err := up.File.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewind upload: %w", err)
		}
		return in.Files.PutFile(ctx, up.SHA256, up.File)
	}, nil)
}
