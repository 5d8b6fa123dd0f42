package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// DeadLetter is a run that failed for good, kept so it can be redriven.
type DeadLetter struct {
	FileID  string            `json:"file_id"`
	State   workflow.RunState `json:"state"`
	Failure string            `json:"failure"`
	SentAt  time.Time         `json:"sent_at"`
}

// SendDeadLetter keeps the state of a failed run. Sending a file's run
// again replaces its letter.
func (db *DB) SendDeadLetter(ctx context.Context, st workflow.RunState) error {
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode dead letter of file %s: %w", st.FileID, err)
	}
	failure := ""
	if st.Error != nil {
		failure = st.Error.Cause
		if failure == "" {
			failure = st.Error.Error
		}
	}
	err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (file_id, state, failure, sent_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (file_id) DO UPDATE SET state = excluded.state, failure = excluded.failure, sent_at = excluded.sent_at`,
			st.FileID, string(state), failure, db.now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("send dead letter of file %s: %w", st.FileID, err)
	}
	return nil
}

func scanDeadLetter(fileID, state, failure string, sentAt int64) (DeadLetter, error) {
	d := DeadLetter{FileID: fileID, Failure: failure, SentAt: time.Unix(0, sentAt).UTC()}
	if err := json.Unmarshal([]byte(state), &d.State); err != nil {
		return DeadLetter{}, fmt.Errorf("decode dead letter of file %s: %w", fileID, err)
	}
	return d, nil
}

// ListDeadLetters returns the dead letters, oldest first.
func (db *DB) ListDeadLetters(ctx context.Context) ([]DeadLetter, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT file_id, state, failure, sent_at FROM dead_letters ORDER BY sent_at, file_id`)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", translate(err))
	}
	defer rows.Close()
	letters := []DeadLetter{}
	for rows.Next() {
		var fileID, state, failure string
		var sentAt int64
		if err := rows.Scan(&fileID, &state, &failure, &sentAt); err != nil {
			return nil, fmt.Errorf("list dead letters: %w", translate(err))
		}
		d, err := scanDeadLetter(fileID, state, failure, sentAt)
		if err != nil {
			return nil, err
		}
		letters = append(letters, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", translate(err))
	}
	return letters, nil
}

// GetDeadLetter returns the dead letter of a file, or an ENOTFOUND error.
func (db *DB) GetDeadLetter(ctx context.Context, fileID string) (DeadLetter, error) {
	var state, failure string
	var sentAt int64
	err := db.read.QueryRowContext(ctx, `SELECT state, failure, sent_at FROM dead_letters WHERE file_id = ?`, fileID).
		Scan(&state, &failure, &sentAt)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetter{}, txpipe.Errorf(txpipe.ENOTFOUND, "no dead letter for file %s", fileID)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("get dead letter of file %s: %w", fileID, translate(err))
	}
	return scanDeadLetter(fileID, state, failure, sentAt)
}

// RemoveDeadLetter deletes the dead letter of a file (after a redrive), or
// fails with ENOTFOUND.
func (db *DB) RemoveDeadLetter(ctx context.Context, fileID string) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return deleteDeadLetter(ctx, tx, fileID) })
	if err != nil {
		return fmt.Errorf("remove dead letter of file %s: %w", fileID, err)
	}
	return nil
}

// deleteDeadLetter deletes the dead letter of a file in tx, or fails with
// ENOTFOUND.
func deleteDeadLetter(ctx context.Context, tx *sql.Tx, fileID string) error {
	return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "file %s is not in the dead-letter queue", fileID),
		`DELETE FROM dead_letters WHERE file_id = ?`, fileID)
}

// DeadLetterCount is the depth of the dead-letter queue.
func (db *DB) DeadLetterCount(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM dead_letters`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", translate(err))
	}
	return n, nil
}

// RedriveDeadLetter starts a failed run again: in one transaction it
// records job (a fresh run of the dead letter's file) and removes the dead
// letter. While a job for the file still exists (its failure path has not
// finished) it changes nothing and returns ECONFLICT, so a redrive never
// takes a run off the queue without starting it.
func (db *DB) RedriveDeadLetter(ctx context.Context, job workflow.Job) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		inserted, err := insertJob(ctx, tx, job)
		if err != nil {
			return err
		}
		if !inserted {
			return txpipe.Errorf(txpipe.ECONFLICT, "file %s is still running; try again in a moment", job.FileID)
		}
		return deleteDeadLetter(ctx, tx, job.FileID) // ENOTFOUND rolls the job back
	})
	if err != nil {
		return fmt.Errorf("redrive file %s: %w", job.FileID, err)
	}
	return nil
}

// DeadLetters returns the dead letters, oldest first, as workflow.DeadLetter.
func (db *DB) DeadLetters(ctx context.Context) ([]workflow.DeadLetter, error) {
	list, err := db.ListDeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]workflow.DeadLetter, 0, len(list))
	for _, d := range list {
		out = append(out, workflow.DeadLetter{FileID: d.FileID, State: d.State, SentAt: d.SentAt})
	}
	return out, nil
}

// Redrive starts the failed run of fileID again from its first step, as a
// job that the server (running now or started later) picks up; see
// RedriveDeadLetter. A file without a dead letter is an ENOTFOUND error.
func (db *DB) Redrive(ctx context.Context, fileID string) error {
	d, err := db.GetDeadLetter(ctx, fileID)
	if err != nil {
		return err
	}
	st := d.State
	st.Error, st.Counts = nil, nil
	return db.RedriveDeadLetter(ctx, workflow.Job{FileID: fileID, Phase: workflow.PhaseRun, State: st, DueAt: db.now().UTC()})
}
