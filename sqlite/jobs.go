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

// EnqueueJob records j unless a job for j.FileID exists already.
func (db *DB) EnqueueJob(ctx context.Context, j workflow.Job) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := insertJob(ctx, tx, j)
		return err
	})
	if err != nil {
		return fmt.Errorf("enqueue job of file %s: %w", j.FileID, err)
	}
	return nil
}

// insertJob records j in tx unless a job for j.FileID exists, and reports
// whether it did.
func insertJob(ctx context.Context, tx *sql.Tx, j workflow.Job) (bool, error) {
	state, err := json.Marshal(j.State)
	if err != nil {
		return false, fmt.Errorf("encode job of file %s: %w", j.FileID, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (file_id, phase, step, attempt, state, due_at, leased_until)
		VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (file_id) DO NOTHING`,
		j.FileID, j.Phase, j.Step, j.Attempt, string(state), j.DueAt.UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ClaimJob returns the job due earliest at now that no worker holds, and
// holds it until now+lease; it returns nil, nil when there is none.
func (db *DB) ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (*workflow.Job, error) {
	var j *workflow.Job
	// Looking for a due job commits no shard: an idle worker looks every
	// second, and a commit of a shard in the middle of a large file's
	// ingest writes every index page it changed since its last commit.
	// Claiming one does, as every job write.
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		j = nil
		var state string
		var due int64
		var job workflow.Job
		err := tx.QueryRowContext(ctx, `SELECT file_id, phase, step, attempt, state, due_at FROM jobs
			WHERE due_at <= ?1 AND leased_until <= ?1 ORDER BY due_at, file_id LIMIT 1`, now.UnixNano()).
			Scan(&job.FileID, &job.Phase, &job.Step, &job.Attempt, &state, &due)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(state), &job.State); err != nil {
			return fmt.Errorf("decode job of file %s: %w", job.FileID, err)
		}
		job.DueAt = time.Unix(0, due).UTC()
		if err := db.syncShards(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET leased_until = ? WHERE file_id = ?`, now.Add(lease).UnixNano(), job.FileID); err != nil {
			return err
		}
		j = &job
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// SaveJob records j's progress and releases it: it is claimable again at
// j.DueAt. It fails with ENOTFOUND if the job was deleted.
func (db *DB) SaveJob(ctx context.Context, j workflow.Job) error {
	state, err := json.Marshal(j.State)
	if err != nil {
		return fmt.Errorf("encode job of file %s: %w", j.FileID, err)
	}
	err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "no job for file %s", j.FileID),
			`UPDATE jobs SET phase = ?, step = ?, attempt = ?, state = ?, due_at = ?, leased_until = 0
			WHERE file_id = ?`, j.Phase, j.Step, j.Attempt, string(state), j.DueAt.UnixNano(), j.FileID)
	})
	if err != nil {
		return fmt.Errorf("save job of file %s: %w", j.FileID, err)
	}
	return nil
}

// CheckpointJob replaces the state of the job j.FileID, leaving its lease,
// attempt and due time, if it is still at j's phase and step (see
// workflow.JobCheckpointer). It commits no shard: the chunks it records
// had their rows made durable by their own SyncRows before they finished
// (TransformChunk), so a checkpoint never records chunks whose rows are not
// durable; committing the shards here as well committed the rows other
// chunks were still writing, doubling the commits of a large file's ingest
// (each writes every index page changed since the last).
func (db *DB) CheckpointJob(ctx context.Context, j workflow.Job) error {
	state, err := json.Marshal(j.State)
	if err != nil {
		return fmt.Errorf("encode job of file %s: %w", j.FileID, err)
	}
	err = db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ? WHERE file_id = ? AND phase = ? AND step = ?`,
			string(state), j.FileID, j.Phase, j.Step)
		return err
	})
	if err != nil {
		return fmt.Errorf("checkpoint job of file %s: %w", j.FileID, err)
	}
	return nil
}

// DeleteJob removes a finished job; removing a missing job is no error.
func (db *DB) DeleteJob(ctx context.Context, fileID string) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE file_id = ?`, fileID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete job of file %s: %w", fileID, err)
	}
	return nil
}

// JobCount is the number of unfinished jobs.
func (db *DB) JobCount(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count jobs: %w", translate(err))
	}
	return n, nil
}

// ReleaseLeases makes every held job claimable at once (the local engine
// calls it on start: a lease left then is a crashed run's).
func (db *DB) ReleaseLeases(ctx context.Context) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET leased_until = 0 WHERE leased_until != 0`)
		return err
	})
	if err != nil {
		return fmt.Errorf("release job leases: %w", err)
	}
	return nil
}
