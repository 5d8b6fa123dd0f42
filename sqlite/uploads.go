package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.UploadExpirer = (*DB)(nil)

// ExpireUploads marks the AWAITING_UPLOAD records whose upload URL expired
// before now EXPIRED, and returns how many it marked.
func (db *DB) ExpireUploads(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT record FROM file_status WHERE status = ?`, txpipe.StatusAwaitingUpload)
		if err != nil {
			return err
		}
		var expired []*txpipe.FileStatus
		for rows.Next() {
			var record string
			if err := rows.Scan(&record); err != nil {
				rows.Close()
				return err
			}
			st, err := scanStatus(record)
			if err != nil {
				rows.Close()
				return err
			}
			if !st.ExpiresAt.IsZero() && !now.Before(st.ExpiresAt) {
				expired = append(expired, st)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, st := range expired {
			st.Status, st.UpdatedAt = txpipe.StatusExpired, now.UTC()
			record, err := json.Marshal(utcStatus(st))
			if err != nil {
				return fmt.Errorf("encode status of file %s: %w", st.FileID, err)
			}
			res, err := tx.ExecContext(ctx, `UPDATE file_status SET status = ?, record = ?, updated_at = ? WHERE file_id = ? AND status = ?`,
				st.Status, string(record), st.UpdatedAt.UnixNano(), st.FileID, txpipe.StatusAwaitingUpload)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err == nil {
				n += int(k)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire uploads: %w", translate(err))
	}
	return n, nil
}

// Secret returns the store's secret called name, 32 random bytes made on
// first use and kept in the settings table (the key that signs local upload
// URLs, so they survive a restart).
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	var fresh [32]byte
	if _, err := rand.Read(fresh[:]); err != nil {
		return nil, fmt.Errorf("make secret %s: %w", name, err)
	}
	var value string
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			"secret:"+name, hex.EncodeToString(fresh[:])); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, "secret:"+name).Scan(&value)
	})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, translate(err))
	}
	b, err := hex.DecodeString(value)
	if err != nil || len(b) < 16 {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "secret %s in %s is not hex of 16 bytes or more", name, db.path)
	}
	return b, nil
}
