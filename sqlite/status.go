package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// utcStatus returns a copy of st with its times in UTC and a non-nil
// errors list.
func utcStatus(st *txpipe.FileStatus) *txpipe.FileStatus {
	c := *st
	c.CreatedAt, c.UpdatedAt, c.ExpiresAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC(), st.ExpiresAt.UTC()
	c.Errors = append([]txpipe.ErrorItem{}, st.Errors...)
	c.Events = append([]txpipe.StatusEvent{}, st.Events...)
	return &c
}

func scanStatus(record string) (*txpipe.FileStatus, error) {
	var st txpipe.FileStatus
	if err := json.Unmarshal([]byte(record), &st); err != nil {
		return nil, fmt.Errorf("decode status record: %w", err)
	}
	st.CreatedAt, st.UpdatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC(), st.ExpiresAt.UTC()
	if st.Errors == nil {
		st.Errors = []txpipe.ErrorItem{}
	}
	if st.Events == nil {
		st.Events = []txpipe.StatusEvent{}
	}
	return &st, nil
}

// CreateStatus stores st unless a record of its file exists; it returns the
// stored record and whether it was created (see workflow.StatusStore).
func (db *DB) CreateStatus(ctx context.Context, st *txpipe.FileStatus) (*txpipe.FileStatus, bool, error) {
	if st.FileID == "" {
		return nil, false, txpipe.Errorf(txpipe.EINVALID, "status record without a file id")
	}
	c := utcStatus(st)
	record, err := json.Marshal(c)
	if err != nil {
		return nil, false, fmt.Errorf("encode status of file %s: %w", st.FileID, err)
	}
	var existing string
	created := false
	err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO file_status (file_id, status, record, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (file_id) DO NOTHING`,
			c.FileID, c.Status, string(record), c.CreatedAt.UnixNano(), c.UpdatedAt.UnixNano())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			created = true
			return nil
		}
		return tx.QueryRowContext(ctx, `SELECT record FROM file_status WHERE file_id = ?`, c.FileID).Scan(&existing)
	})
	if err != nil {
		return nil, false, fmt.Errorf("create status of file %s: %w", st.FileID, err)
	}
	if created {
		return c, true, nil
	}
	stored, err := scanStatus(existing)
	if err != nil {
		return nil, false, fmt.Errorf("create status of file %s: %w", st.FileID, err)
	}
	return stored, false, nil
}

// GetStatus returns the status record of a file, or an ENOTFOUND error.
func (db *DB) GetStatus(ctx context.Context, fileID string) (*txpipe.FileStatus, error) {
	var record string
	err := db.read.QueryRowContext(ctx, `SELECT record FROM file_status WHERE file_id = ?`, fileID).Scan(&record)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", fileID)
	}
	if err != nil {
		return nil, fmt.Errorf("get status of file %s: %w", fileID, translate(err))
	}
	st, err := scanStatus(record)
	if err != nil {
		return nil, fmt.Errorf("get status of file %s: %w", fileID, err)
	}
	return st, nil
}

// UpdateStatus replaces the record of st.FileID if its stored status is one
// of from; otherwise it fails with ECONFLICT, or ENOTFOUND when there is no
// record (see workflow.StatusStore). With no from statuses it replaces the
// record whatever its status.
func (db *DB) UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error {
	return db.updateStatus(ctx, st, from, nil)
}

// UpdateProgress replaces the record of st.FileID while it is PROCESSING,
// without committing the transaction shards first (see
// workflow.ProgressWriter): a progress record every few seconds would
// otherwise commit every shard's open transaction, and a commit in the
// middle of a large file's ingest writes every index page it changed (9.5%
// of serve's CPU for a 1M-row file). Every other status write commits them
// first, so a final status is never on disk without its rows.
func (db *DB) UpdateProgress(ctx context.Context, st *txpipe.FileStatus) error {
	return db.updateStatusIn(ctx, db.inMainTx, st, []string{txpipe.StatusProcessing}, nil)
}

// updateStatus is UpdateStatus; also, if set, runs in the same transaction
// after the record is replaced.
func (db *DB) updateStatus(ctx context.Context, st *txpipe.FileStatus, from []string, also func(ctx context.Context, tx *sql.Tx) error) error {
	return db.updateStatusIn(ctx, db.inTx, st, from, also)
}

// updateStatusIn is updateStatus in the transaction inTx runs.
func (db *DB) updateStatusIn(ctx context.Context, inTx func(context.Context, func(context.Context, *sql.Tx) error) error,
	st *txpipe.FileStatus, from []string, also func(ctx context.Context, tx *sql.Tx) error) error {
	c := utcStatus(st)
	record, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode status of file %s: %w", st.FileID, err)
	}
	fromJSON, err := json.Marshal(from)
	if err != nil {
		return fmt.Errorf("encode statuses: %w", err)
	}
	err = inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE file_status SET status = ?, record = ?, updated_at = ?
			WHERE file_id = ? AND (? = 0 OR status IN (SELECT value FROM json_each(?)))`,
			c.Status, string(record), c.UpdatedAt.UnixNano(), c.FileID, len(from), string(fromJSON))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			if also != nil {
				return also(ctx, tx)
			}
			return nil
		}
		var current string
		err = tx.QueryRowContext(ctx, `SELECT status FROM file_status WHERE file_id = ?`, c.FileID).Scan(&current)
		if errors.Is(err, sql.ErrNoRows) {
			return txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", c.FileID)
		}
		if err != nil {
			return err
		}
		return txpipe.Errorf(txpipe.ECONFLICT, "file %s is %s, not %s", c.FileID, current, strings.Join(from, " or "))
	})
	if err != nil {
		return fmt.Errorf("update status of file %s to %s: %w", st.FileID, st.Status, err)
	}
	return nil
}

// CreateStatusWithJob creates st, or replaces a record whose status is one
// of from (keeping its created_at), and enqueues j, in one transaction; a
// record in any other status is returned with created=false and nothing
// changes. It implements workflow.StatusJobWriter: of concurrent uploads of
// the same bytes exactly one creates the record and starts the run.
func (db *DB) CreateStatusWithJob(ctx context.Context, st *txpipe.FileStatus, j workflow.Job, from ...string) (*txpipe.FileStatus, bool, error) {
	if st.FileID == "" || st.FileID != j.FileID {
		return nil, false, txpipe.Errorf(txpipe.EINVALID, "status record of file %q with the job of file %q", st.FileID, j.FileID)
	}
	c := utcStatus(st)
	var stored *txpipe.FileStatus
	created := false
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stored, created = nil, false
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT record FROM file_status WHERE file_id = ?`, c.FileID).Scan(&existing)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			rec, err := scanStatus(existing)
			if err != nil {
				return err
			}
			if !slices.Contains(from, rec.Status) {
				stored = rec
				return nil
			}
			c.CreatedAt = rec.CreatedAt
		}
		record, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode status: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO file_status (file_id, status, record, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (file_id) DO UPDATE SET status = excluded.status, record = excluded.record,
			updated_at = excluded.updated_at`,
			c.FileID, c.Status, string(record), c.CreatedAt.UnixNano(), c.UpdatedAt.UnixNano()); err != nil {
			return err
		}
		// A job of the file may exist without its record (a crash of a
		// version that started the run first): it is the file's one run.
		if _, err := insertJob(ctx, tx, j); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("record file %s and enqueue its run: %w", st.FileID, err)
	}
	if created {
		return c, true, nil
	}
	return stored, false, nil
}
