package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/txpipe/txpipe"
)

// PutProfile stores a profile's YAML under its name, replacing any, and
// reports whether it was new.
func (db *DB) PutProfile(ctx context.Context, p txpipe.StoredProfile) (created bool, err error) {
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = db.now()
	}
	err = db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM profiles WHERE name = ?`, p.Name).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		_, err := tx.ExecContext(ctx, `INSERT INTO profiles (name, yaml, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET yaml = excluded.yaml, updated_at = excluded.updated_at`,
			p.Name, p.YAML, p.UpdatedAt.UTC().UnixNano())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put profile %q: %w", p.Name, translate(err))
	}
	return created, nil
}

// GetProfile returns the profile named name, or an ENOTFOUND error.
func (db *DB) GetProfile(ctx context.Context, name string) (txpipe.StoredProfile, error) {
	p := txpipe.StoredProfile{Name: name}
	var ns int64
	err := db.read.QueryRowContext(ctx, `SELECT yaml, updated_at FROM profiles WHERE name = ?`, name).Scan(&p.YAML, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return p, txpipe.Errorf(txpipe.ENOTFOUND, "no profile named %q", name)
	}
	if err != nil {
		return p, fmt.Errorf("get profile %q: %w", name, translate(err))
	}
	p.UpdatedAt = time.Unix(0, ns).UTC()
	return p, nil
}

// DeleteProfile removes the profile named name, or fails with ENOTFOUND.
func (db *DB) DeleteProfile(ctx context.Context, name string) error {
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "no profile named %q", name), `DELETE FROM profiles WHERE name = ?`, name)
	})
	if err != nil {
		if txpipe.ErrorCode(err) == txpipe.ENOTFOUND {
			return err
		}
		return fmt.Errorf("delete profile %q: %w", name, translate(err))
	}
	return nil
}

// ListProfiles returns the stored profiles by name, without their YAML.
func (db *DB) ListProfiles(ctx context.Context) ([]txpipe.StoredProfile, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name, updated_at FROM profiles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", translate(err))
	}
	defer rows.Close()
	out := []txpipe.StoredProfile{}
	for rows.Next() {
		var p txpipe.StoredProfile
		var ns int64
		if err := rows.Scan(&p.Name, &ns); err != nil {
			return nil, fmt.Errorf("list profiles: %w", translate(err))
		}
		p.UpdatedAt = time.Unix(0, ns).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list profiles: %w", translate(err))
	}
	return out, nil
}
