package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/txpipe/txpipe"
)

// Defaults of a key's usage plan, as the contract states them.
const (
	DefaultQuotaPerDay   = 1000
	DefaultRatePerSecond = 10
	DefaultBurst         = 20
)

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// CreateKey stores an API key. k.Hash is the hex SHA-256 of its secret; an
// empty k.ID is made up, a zero CreatedAt is now, and a zero quota, rate or
// burst takes the default (1000 a day, 10 a second, bursts of 20). A key
// whose ID, hash or name exists already fails with ECONFLICT.
func (db *DB) CreateKey(ctx context.Context, k txpipe.APIKey) error {
	if !isHexSHA256(k.Hash) {
		return txpipe.Errorf(txpipe.EINVALID, "key hash is not a hex SHA-256")
	}
	if k.ID == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("make key id: %w", err)
		}
		k.ID = "key_" + hex.EncodeToString(b)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	if k.QuotaPerDay == 0 {
		k.QuotaPerDay = DefaultQuotaPerDay
	}
	if k.RatePerSecond == 0 {
		k.RatePerSecond = DefaultRatePerSecond
	}
	if k.Burst == 0 {
		k.Burst = DefaultBurst
	}
	if k.Role != txpipe.RoleUser && k.Role != txpipe.RoleAdmin {
		return txpipe.Errorf(txpipe.EINVALID, "role must be %q or empty, got %q", txpipe.RoleAdmin, k.Role)
	}
	k.Tenant = txpipe.TenantOrDefault(k.Tenant)
	if err := txpipe.CheckTenant(k.Tenant); err != nil {
		return err
	}
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE name = ? AND revoked_at = 0`, k.Name).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return txpipe.Errorf(txpipe.ECONFLICT, "a key named %q exists already; choose another --name", k.Name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, quota_per_day, rate_per_second, burst, role, tenant, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, k.Hash, k.QuotaPerDay, k.RatePerSecond, k.Burst, k.Role, k.Tenant, k.CreatedAt.UnixNano())
		if isConstraint(err) {
			return txpipe.Errorf(txpipe.ECONFLICT, "key %s exists already", k.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create key %q: %w", k.Name, err)
	}
	return nil
}

// LookupKey returns the key whose secret has the hex SHA-256 hash, or an
// ENOTFOUND error (also for a revoked key).
func (db *DB) LookupKey(ctx context.Context, hash string) (txpipe.APIKey, error) {
	var k txpipe.APIKey
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT id, name, hash, quota_per_day, rate_per_second, burst, role, tenant, created_at
		FROM api_keys WHERE hash = ? AND revoked_at = 0`, hash).Scan(&k.ID, &k.Name, &k.Hash, &k.QuotaPerDay, &k.RatePerSecond, &k.Burst, &k.Role, &k.Tenant, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return txpipe.APIKey{}, txpipe.Errorf(txpipe.ENOTFOUND, "unknown API key")
	}
	if err != nil {
		return txpipe.APIKey{}, fmt.Errorf("look up key: %w", translate(err))
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	return k, nil
}

// RequestCount returns the key's count of requests on day (UTC,
// "2006-01-02") as last saved, 0 if none was.
func (db *DB) RequestCount(ctx context.Context, keyID, day string) (int64, error) {
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return 0, txpipe.Errorf(txpipe.EINVALID, "day %q is not YYYY-MM-DD", day)
	}
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT requests FROM api_key_usage WHERE key_id = ? AND day = ?`, keyID, day).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read request count of key %s on %s: %w", keyID, day, translate(err))
	}
	return n, nil
}

// SaveRequestCounts records the counts in one transaction. A stored count
// is never lowered (a late checkpoint cannot undo a newer one), and counts
// of keys that no longer exist are dropped.
func (db *DB) SaveRequestCounts(ctx context.Context, counts []txpipe.KeyUsage) error {
	if len(counts) == 0 {
		return nil
	}
	for _, c := range counts {
		if _, err := time.Parse(time.DateOnly, c.Day); err != nil {
			return txpipe.Errorf(txpipe.EINVALID, "day %q is not YYYY-MM-DD", c.Day)
		}
	}
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, c := range counts {
			_, err := tx.ExecContext(ctx, `INSERT INTO api_key_usage (key_id, day, requests)
				SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)
				ON CONFLICT (key_id, day) DO UPDATE SET requests = max(requests, excluded.requests)`, c.KeyID, c.Day, c.Requests)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save request counts of %d keys: %w", len(counts), err)
	}
	return nil
}

// KeyCount is the number of API keys.
func (db *DB) KeyCount(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count keys: %w", translate(err))
	}
	return n, nil
}

// ListKeys returns the keys that are not revoked, oldest first, each with
// its requests on day (UTC, "2006-01-02").
func (db *DB) ListKeys(ctx context.Context, day string) ([]txpipe.KeyListing, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT k.id, k.name, k.quota_per_day, k.rate_per_second, k.burst, k.role, k.tenant, k.created_at,
		coalesce(u.requests, 0) FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id AND u.day = ?
		WHERE k.revoked_at = 0 ORDER BY k.created_at, k.id`, day)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", translate(err))
	}
	defer rows.Close()
	out := []txpipe.KeyListing{}
	for rows.Next() {
		var k txpipe.KeyListing
		var created int64
		if err := rows.Scan(&k.ID, &k.Name, &k.QuotaPerDay, &k.RatePerSecond, &k.Burst, &k.Role, &k.Tenant, &created, &k.RequestsToday); err != nil {
			return nil, fmt.Errorf("list keys: %w", translate(err))
		}
		k.CreatedAt = time.Unix(0, created).UTC()
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", translate(err))
	}
	return out, nil
}

// SetKeyLimits changes a key's daily quota and rate (a zero leaves that
// one as it is), or fails with ENOTFOUND.
func (db *DB) SetKeyLimits(ctx context.Context, id string, quotaPerDay int64, ratePerSecond float64) error {
	if quotaPerDay < 0 || ratePerSecond < 0 {
		return txpipe.Errorf(txpipe.EINVALID, "quota and rate must not be negative")
	}
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "no key %s", id), `UPDATE api_keys SET
			quota_per_day = CASE WHEN ? > 0 THEN ? ELSE quota_per_day END,
			rate_per_second = CASE WHEN ? > 0 THEN ? ELSE rate_per_second END
			WHERE id = ? AND revoked_at = 0`, quotaPerDay, quotaPerDay, ratePerSecond, ratePerSecond, id)
	})
	if err != nil {
		return fmt.Errorf("set limits of key %s: %w", id, err)
	}
	return nil
}

// RevokeKey makes a key unusable from now on, or fails with ENOTFOUND. Its
// row and usage stay for the record.
func (db *DB) RevokeKey(ctx context.Context, id string) error {
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "no key %s", id),
			`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, db.now().UnixNano(), id)
	})
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return nil
}
