package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// Tasks are the work of the pipeline's steps. The local engine calls Run for each
// step of a job; on AWS the transformer and notifier Lambda functions call
// it with the event Step Functions sends them.
type Tasks struct {
	Files        FileStore
	Transactions TransactionWriter
	Statuses     StatusStore
	Notifier     Notifier
	DeadLetters  DeadLetterQueue
	Now          Clock // time.Now if nil
	Logger       *slog.Logger
	// BatchSize is the number of rows per PutTransactions call; MaxBatch if 0.
	BatchSize int
	// ProgressEvery is how often Transform records the counts so far on
	// the PROCESSING record: 2 s if 0, never if negative.
	ProgressEvery time.Duration
	// Uploads holds two-step uploads for Validate (AWS); nil locally, where
	// the server's upload URL takes them in before the run starts.
	Uploads UploadStore
	// Profiles reads the profile a two-step upload declared, for Validate
	// (AWS); nil where no upload declares one.
	Profiles ProfileGetter
	// ChunkRows is the rows per chunk Split cuts; ChunkRowsWithin(rows,
	// Chunks, MinChunkRows) if 0.
	ChunkRows int64
	// Chunks is the most chunks a file is cut into: MaxChunks if 0 (Step
	// Functions' payload), LocalChunks for the local engine.
	Chunks int
	// MinChunkRows is the fewest rows a chunk has (the last one excepted):
	// DefaultChunkRows if 0 (AWS), LocalChunkRows for the local engine.
	MinChunkRows int64
}

func (s *Tasks) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Tasks) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run runs the step named in.Step with the run's state and returns the
// state for the next step.
func (s *Tasks) Run(ctx context.Context, in StepInput) (RunState, error) {
	switch in.Step {
	case StepValidate:
		return s.Validate(ctx, in.State)
	case StepSplit:
		return s.Split(ctx, in.State)
	case StepTransform:
		if in.Chunk != nil {
			return s.TransformChunk(ctx, in.State, *in.Chunk)
		}
		return s.Transform(ctx, in.State)
	case StepFinish:
		return s.Finish(ctx, in.State)
	case StepNotify:
		return s.Notify(ctx, in.State)
	case StepMarkFailed:
		return s.MarkFailed(ctx, in.State)
	case StepSendToDLQ:
		if err := s.DeadLetters.SendDeadLetter(ctx, in.State); err != nil {
			return in.State, fmt.Errorf("send file %s to the dead-letter queue: %w", in.State.FileID, err)
		}
		return in.State, nil
	}
	return in.State, txpipe.Errorf(txpipe.EINVALID, "unknown step %q", in.Step)
}

// runnable are the statuses a run moves on from.
var runnable = []string{
	txpipe.StatusValidated, txpipe.StatusProcessing, txpipe.StatusFailed,
	txpipe.StatusAwaitingUpload, txpipe.StatusExpired,
}

// ensureStatus returns the file's status record, creating a VALIDATED one
// from the run's state if the intake crashed before writing it.
func (s *Tasks) ensureStatus(ctx context.Context, st RunState) (*txpipe.FileStatus, error) {
	now := s.now()
	rec, _, err := s.Statuses.CreateStatus(ctx, &txpipe.FileStatus{
		FileID: st.FileID, Status: txpipe.StatusValidated, Filename: st.Filename, SHA256: st.FileKey,
		SizeBytes: st.SizeBytes, Rows: st.Rows, Errors: []txpipe.ErrorItem{}, CreatedAt: now, UpdatedAt: now,
		Dialect: st.dialect(), Profile: st.profileName(),
		Events: []txpipe.StatusEvent{{At: now, Status: txpipe.StatusValidated, Step: "Validate"}},
	})
	if err != nil {
		return nil, fmt.Errorf("status of file %s: %w", st.FileID, err)
	}
	return rec, nil
}

// Transform streams the stored file through the decoder and writes its
// rows in batches. Writes are idempotent per file, so a retried or resumed
// run writes every row once and ends with the same counts.
func (s *Tasks) Transform(ctx context.Context, st RunState) (RunState, error) {
	rec, done, err := s.beginProcessing(ctx, st, StepTransform)
	if err != nil || done != nil {
		if done != nil {
			st.Counts = done
		}
		return st, err
	}

	start := time.Now()
	rd, durable := s.Transactions.(RowsDurability)
	if durable {
		if err := rd.BeginRows(ctx, st.FileID); err != nil {
			return st, fmt.Errorf("begin rows of file %s: %w", st.FileID, err)
		}
	}
	every := s.ProgressEvery
	if every == 0 {
		every = 2 * time.Second
	}
	lastProgress := time.Now()
	progress := func(c txpipe.Counts) {
		// Counts so far on the PROCESSING record, for `upload --wait`.
		if every < 0 || time.Since(lastProgress) < every {
			return
		}
		lastProgress = time.Now()
		rec.SetCounts(c)
		rec.UpdatedAt = s.now()
		if err := s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing); err != nil {
			s.logger().WarnContext(ctx, "progress not recorded", "file_id", st.FileID, "err", err)
		}
	}
	f, err := s.Files.OpenFile(ctx, st.FileKey)
	if err != nil {
		return st, fmt.Errorf("open file %s: %w", st.FileID, err)
	}
	counts, rows, err := s.writeRows(ctx, st.FileID, st.Format, f, progress)
	f.Close()
	if err != nil {
		// The attempt's failure goes on the timeline (best effort: the
		// engine retries or fails the run whatever this write does).
		rec.UpdatedAt = s.now()
		rec.AddEvent(txpipe.StatusEvent{At: rec.UpdatedAt, Status: txpipe.StatusProcessing, Step: StepTransform, Attempt: rec.Attempts, Message: "failed: " + err.Error()})
		_ = s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing)
		return st, err
	}
	if durable {
		if err := rd.SyncRows(ctx, st.FileID); err != nil {
			return st, err
		}
	}
	if rows != st.Rows {
		return st, txpipe.Errorf(txpipe.EINVALID, "file %s has %d rows, %d were validated", st.FileID, rows, st.Rows)
	}
	rec.Rows = rows
	rec.SetCounts(counts)
	rec.UpdatedAt = s.now()
	rec.AddEvent(txpipe.StatusEvent{At: rec.UpdatedAt, Status: txpipe.StatusProcessing, Step: StepTransform, Attempt: rec.Attempts,
		Message: fmt.Sprintf("%d rows written (%d inserted, %d updated, %d unchanged) in %.1f s", rows, counts.Inserted, counts.Updated, counts.Unchanged, time.Since(start).Seconds())})
	if err := s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing); err != nil {
		return st, fmt.Errorf("record counts of file %s: %w", st.FileID, err)
	}
	s.logger().InfoContext(ctx, "rows written", "file_id", st.FileID, "rows", rows,
		"inserted", counts.Inserted, "updated", counts.Updated, "unchanged", counts.Unchanged,
		"seconds", time.Since(start).Seconds())
	st.Counts = &counts
	return st, nil
}

// ProgressInterval is how often counts so far are recorded (ProgressEvery,
// 2 s if 0; negative: never).
func (s *Tasks) ProgressInterval() time.Duration {
	if s.ProgressEvery == 0 {
		return 2 * time.Second
	}
	return s.ProgressEvery
}

// RecordProgress puts the counts written so far on the PROCESSING record
// of a file (for `upload --wait`); the local engine calls it as a map
// step's chunks finish. A record no longer PROCESSING is left alone.
func (s *Tasks) RecordProgress(ctx context.Context, fileID string, c txpipe.Counts) {
	rec, err := s.Statuses.GetStatus(ctx, fileID)
	if err != nil || rec.Status != txpipe.StatusProcessing {
		return
	}
	rec.SetCounts(c)
	rec.UpdatedAt = s.now()
	if pw, ok := s.Statuses.(ProgressWriter); ok {
		err = pw.UpdateProgress(ctx, rec)
	} else {
		err = s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing)
	}
	if err != nil {
		s.logger().WarnContext(ctx, "progress not recorded", "file_id", fileID, "err", err)
	}
}

// writeRows decodes the file in one goroutine and writes batches in
// another, so parsing and storage overlap. Two batches are in flight at
// most, which bounds memory.
func (s *Tasks) writeRows(ctx context.Context, fileID string, format *csvschema.Format, f io.Reader, progress func(txpipe.Counts)) (txpipe.Counts, int64, error) {
	st := RunState{FileID: fileID, Format: format}
	size := s.BatchSize
	if size <= 0 || size > MaxBatch {
		size = MaxBatch
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan []txpipe.Transaction, 1)
	free := make(chan []txpipe.Transaction, 2)
	free <- make([]txpipe.Transaction, 0, size)
	free <- make([]txpipe.Transaction, 0, size)

	var rows int64
	decodeErr := make(chan error, 1)
	go func() {
		defer close(full)
		var format csvschema.Format
		if st.Format != nil {
			format = *st.Format
		}
		decodeErr <- decodeBatches(ctx, csvschema.NewDecoderFormat(f, format), st.FileID, size, free, full, &rows)
	}()

	var counts txpipe.Counts
	var writeErr error
	for batch := range full {
		if writeErr == nil {
			var c txpipe.Counts
			c, writeErr = s.Transactions.PutTransactions(ctx, batch)
			if writeErr != nil {
				writeErr = fmt.Errorf("write %d rows of file %s: %w", len(batch), st.FileID, writeErr)
				cancel()
			}
			counts = counts.Add(c)
			if writeErr == nil && progress != nil {
				progress(counts)
			}
		}
		select {
		case free <- batch[:0]:
		default:
		}
	}
	if err := <-decodeErr; err != nil && writeErr == nil {
		return counts, rows, err
	}
	return counts, rows, writeErr
}

func decodeBatches(ctx context.Context, dec *csvschema.Decoder, fileID string, size int, free <-chan []txpipe.Transaction, full chan<- []txpipe.Transaction, rows *int64) error {
	defer dec.Close()
	var batch []txpipe.Transaction
	for {
		if batch == nil {
			select {
			case batch = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var tx txpipe.Transaction
		err := dec.Decode(&tx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The file was validated before it was stored: a bad row now
			// means the stored file is not the one validated.
			return txpipe.Errorf(txpipe.EINVALID, "decode file %s: %w", fileID, err)
		}
		tx.FileID = fileID
		batch = append(batch, tx)
		*rows++
		if len(batch) == size {
			select {
			case full <- batch:
				batch = nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if len(batch) > 0 {
		select {
		case full <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Notify sets the final status and tells subscribers the run completed:
// in one transaction with a NotificationOutbox store (the notification is
// delivered later, durably, once); otherwise publishing first, so a crash
// between the two repeats the notification rather than losing it.
func (s *Tasks) Notify(ctx context.Context, st RunState) (RunState, error) {
	rec, err := s.Statuses.GetStatus(ctx, st.FileID)
	if err != nil {
		return st, fmt.Errorf("status of file %s: %w", st.FileID, err)
	}
	if st.Counts != nil {
		rec.SetCounts(*st.Counts)
	}
	now := s.now()
	rec.Status = txpipe.StatusCompleted
	rec.Failure = ""
	rec.UpdatedAt = now
	if len(rec.Events) == 0 || rec.Events[len(rec.Events)-1].Status != txpipe.StatusCompleted {
		rec.AddEvent(txpipe.StatusEvent{At: now, Status: txpipe.StatusCompleted, Step: StepNotify, Message: "subscribers notified"})
	}
	n := txpipe.NotificationFor(rec, now)
	if ob, ok := s.Statuses.(NotificationOutbox); ok {
		// The notification is written with the final status, once: a
		// repeated step finds the file COMPLETED and writes nothing.
		err := ob.UpdateStatusNotify(ctx, rec, n, txpipe.StatusProcessing)
		if txpipe.ErrorCode(err) == txpipe.ECONFLICT {
			if cur, gerr := s.Statuses.GetStatus(ctx, st.FileID); gerr == nil && cur.Status == txpipe.StatusCompleted {
				return st, nil
			}
		}
		if err != nil {
			return st, fmt.Errorf("mark file %s completed: %w", st.FileID, err)
		}
		if err := s.Notifier.Notify(ctx, n); err != nil {
			s.logger().ErrorContext(ctx, "notification not logged", "file_id", st.FileID, "err", err)
		}
		return st, nil
	}
	if err := s.Notifier.Notify(ctx, n); err != nil {
		return st, fmt.Errorf("notify completion of file %s: %w", st.FileID, err)
	}
	if err := s.Statuses.UpdateStatus(ctx, rec, txpipe.StatusProcessing, txpipe.StatusCompleted); err != nil {
		return st, fmt.Errorf("mark file %s completed: %w", st.FileID, err)
	}
	return st, nil
}

// MarkFailed marks the file FAILED with the reason of the failed step and
// notifies the failure. A notification that cannot be sent is logged, not
// returned, so the run still reaches the dead-letter queue.
func (s *Tasks) MarkFailed(ctx context.Context, st RunState) (RunState, error) {
	rec, err := s.ensureStatus(ctx, st)
	if err != nil {
		return st, err
	}
	now := s.now()
	rec.Failure = FailureReason(st.Error)
	if ob, ok := s.Statuses.(NotificationOutbox); ok {
		// The failure is notified with the FAILED status, once: a repeated
		// step (the file is FAILED already) or a finished file writes
		// nothing.
		failed := *rec
		failed.Status, failed.UpdatedAt = txpipe.StatusFailed, now
		failed.AddEvent(txpipe.StatusEvent{At: now, Status: txpipe.StatusFailed, Step: StepMarkFailed, Message: failed.Failure})
		n := txpipe.NotificationFor(&failed, now)
		n.Status, n.Failure = txpipe.StatusFailed, failed.Failure
		err := ob.UpdateStatusNotify(ctx, &failed, n, txpipe.StatusValidated, txpipe.StatusProcessing, txpipe.StatusAwaitingUpload, txpipe.StatusExpired)
		if err != nil && txpipe.ErrorCode(err) != txpipe.ECONFLICT {
			return st, fmt.Errorf("mark file %s failed: %w", st.FileID, err)
		}
		if err == nil {
			if err := s.Notifier.Notify(ctx, n); err != nil {
				s.logger().ErrorContext(ctx, "failure notification not logged", "file_id", st.FileID, "err", err)
			}
		}
		return st, nil
	}
	if rec.Status != txpipe.StatusCompleted {
		rec.Status = txpipe.StatusFailed
		rec.UpdatedAt = now
		rec.AddEvent(txpipe.StatusEvent{At: now, Status: txpipe.StatusFailed, Step: StepMarkFailed, Message: rec.Failure})
		err := s.Statuses.UpdateStatus(ctx, rec, runnable...)
		if err != nil && txpipe.ErrorCode(err) != txpipe.ECONFLICT {
			return st, fmt.Errorf("mark file %s failed: %w", st.FileID, err)
		}
	}
	n := txpipe.NotificationFor(rec, now)
	n.Status, n.Failure = txpipe.StatusFailed, FailureReason(st.Error)
	if err := s.Notifier.Notify(ctx, n); err != nil {
		s.logger().ErrorContext(ctx, "failure notification not sent", "file_id", st.FileID, "err", err)
	}
	return st, nil
}

// FailureReason is the text of a failed step's error for the status
// record. A Lambda error's Cause is a JSON document; its errorMessage is
// taken from it.
func FailureReason(e *StepError) string {
	if e == nil {
		return "failed"
	}
	cause := e.Cause
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		cause = lambdaErr.ErrorMessage
	}
	switch {
	case cause == "":
		return e.Error
	case e.Error == "":
		return cause
	}
	return e.Error + ": " + cause
}

// beginProcessing marks the run's file PROCESSING for step's new attempt and
// returns its record. A file already COMPLETED (a duplicate delivery of a
// finished run) is left as it is and its counts are returned as done.
func (s *Tasks) beginProcessing(ctx context.Context, st RunState, step string) (*txpipe.FileStatus, *txpipe.Counts, error) {
	rec, err := s.ensureStatus(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	if rec.Status == txpipe.StatusCompleted {
		c := rec.Counts()
		return rec, &c, nil
	}
	rec.Status = txpipe.StatusProcessing
	rec.Attempts++
	rec.Failure = ""
	rec.UpdatedAt = s.now()
	rec.AddEvent(txpipe.StatusEvent{At: rec.UpdatedAt, Status: txpipe.StatusProcessing, Step: step, Attempt: rec.Attempts, Message: "started"})
	// A run exists only for validated, stored bytes; a declared upload's
	// record may still say AWAITING_UPLOAD when the run starts before the
	// intake writes VALIDATED.
	if err := s.Statuses.UpdateStatus(ctx, rec, runnable...); err != nil {
		return nil, nil, fmt.Errorf("mark file %s processing: %w", st.FileID, err)
	}
	return rec, nil, nil
}
