package sqlite

import (
	"context"
	"database/sql"
)

// execOne runs an UPDATE or DELETE that must change a row, and returns
// notFound when it matched none.
func execOne(ctx context.Context, tx *sql.Tx, notFound error, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
