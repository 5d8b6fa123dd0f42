package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/webhook"
	"github.com/txpipe/txpipe/workflow"
)

var (
	_ webhook.Outbox              = (*DB)(nil)
	_ workflow.NotificationOutbox = (*DB)(nil)
)

// Webhook is a subscriber URL and the secret its deliveries are signed
// with.
type Webhook struct {
	URL       string    `json:"url"`
	Tenant    string    `json:"tenant"` // whose run results it receives
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

// EnsureWebhook registers url as a subscriber of the default tenant (see
// EnsureTenantWebhook).
func (db *DB) EnsureWebhook(ctx context.Context, url string) (Webhook, bool, error) {
	return db.EnsureTenantWebhook(ctx, txpipe.DefaultTenant, url)
}

// EnsureTenantWebhook registers url as a subscriber to the run results of
// tenant's files, with a new random secret, unless it is registered; it
// returns the webhook and whether it was new. A URL receives one tenant's
// results: registering it for another fails with ECONFLICT.
func (db *DB) EnsureTenantWebhook(ctx context.Context, tenant, url string) (Webhook, bool, error) {
	tenant = txpipe.TenantOrDefault(tenant)
	if err := txpipe.CheckTenant(tenant); err != nil {
		return Webhook{}, false, fmt.Errorf("register webhook %s: %w", url, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Webhook{}, false, fmt.Errorf("read random secret: %w", err)
	}
	w := Webhook{URL: url, Tenant: tenant, Secret: "whsec_" + hex.EncodeToString(b), CreatedAt: db.now().UTC()}
	created := false
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhooks (url, tenant, secret, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO NOTHING`,
			w.URL, w.Tenant, w.Secret, w.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if created = n == 1; created {
			return nil
		}
		var at int64
		var owner string
		if err := tx.QueryRowContext(ctx, `SELECT secret, tenant, created_at FROM webhooks WHERE url = ?`, url).Scan(&w.Secret, &owner, &at); err != nil {
			return err
		}
		if owner != tenant {
			return txpipe.Errorf(txpipe.ECONFLICT, "the URL receives the results of tenant %q already; a URL serves one tenant", owner)
		}
		w.CreatedAt = time.Unix(0, at).UTC()
		return nil
	})
	if err != nil {
		return Webhook{}, false, fmt.Errorf("register webhook %s: %w", url, err)
	}
	return w, created, nil
}

// Webhooks returns the registered webhooks, oldest first.
func (db *DB) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT url, tenant, secret, created_at FROM webhooks ORDER BY created_at, url`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", translate(err))
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		var at int64
		if err := rows.Scan(&w.URL, &w.Tenant, &w.Secret, &at); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", translate(err))
		}
		w.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, w)
	}
	return out, translate(rows.Err())
}

// UpdateStatusNotify replaces the record of st.FileID if its status is one
// of from (as UpdateStatus) and, in the same transaction, writes a delivery
// of n to every webhook of the file's tenant. It implements
// workflow.NotificationOutbox.
func (db *DB) UpdateStatusNotify(ctx context.Context, st *txpipe.FileStatus, n txpipe.Notification, from ...string) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode notification of file %s: %w", n.FileID, err)
	}
	err = db.updateStatus(ctx, st, from, func(ctx context.Context, tx *sql.Tx) error {
		now := db.now().UnixNano()
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (url, file_id, body, state, attempts, next_at, created_at, updated_at)
			SELECT url, ?, ?, 'pending', 0, ?, ?, ? FROM webhooks WHERE tenant = ?`, st.FileID, string(body), now, now, now,
			txpipe.TenantOfFileID(st.FileID))
		return err
	})
	if err != nil {
		return fmt.Errorf("update status of file %s to %s with its notification: %w", st.FileID, st.Status, err)
	}
	return nil
}

const deliveryColumns = `d.id, d.url, coalesce(w.secret, ''), d.file_id, d.body, d.state, d.attempts, d.next_at, d.last_error, d.created_at`

func scanDelivery(rows interface{ Scan(...any) error }) (webhook.Delivery, error) {
	var d webhook.Delivery
	var body string
	var next, created int64
	if err := rows.Scan(&d.ID, &d.URL, &d.Secret, &d.FileID, &body, &d.State, &d.Attempts, &next, &d.LastError, &created); err != nil {
		return d, err
	}
	d.Body = []byte(body)
	d.NextAt, d.CreatedAt = time.Unix(0, next).UTC(), time.Unix(0, created).UTC()
	return d, nil
}

// ClaimDeliveries returns up to limit pending deliveries due at now and
// holds them until now+lease (see webhook.Outbox).
func (db *DB) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]webhook.Delivery, error) {
	var out []webhook.Delivery
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d LEFT JOIN webhooks w ON w.url = d.url
			WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.id LIMIT ?`, now.UnixNano(), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET next_at = ? WHERE id = ?`, now.Add(lease).UnixNano(), d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	return out, nil
}

// DeliveryDone marks a delivery delivered.
func (db *DB) DeliveryDone(ctx context.Context, id int64, attempts int) error {
	return db.setDelivery(ctx, id, `UPDATE webhook_deliveries SET state = 'delivered', attempts = ?, last_error = '', updated_at = ? WHERE id = ?`,
		attempts, db.now().UnixNano(), id)
}

// DeliveryFailed records a failed attempt: pending again at next, or dead.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, attempts int, next time.Time, dead bool, reason string) error {
	state := webhook.StatePending
	if dead {
		state = webhook.StateDead
	}
	return db.setDelivery(ctx, id, `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_at = ?, last_error = ?, updated_at = ? WHERE id = ?`,
		state, attempts, next.UnixNano(), reason, db.now().UnixNano(), id)
}

// Redeliver makes a delivery pending again, due now, with its attempts
// reset; it fails with ENOTFOUND for an unknown id.
func (db *DB) Redeliver(ctx context.Context, id int64) error {
	now := db.now().UnixNano()
	return db.setDelivery(ctx, id, `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = ?, updated_at = ? WHERE id = ?`, now, now, id)
}

func (db *DB) setDelivery(ctx context.Context, id int64, query string, args ...any) error {
	err := db.inMainTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return execOne(ctx, tx, txpipe.Errorf(txpipe.ENOTFOUND, "no webhook delivery %d", id), query, args...)
	})
	if err != nil {
		return fmt.Errorf("webhook delivery %d: %w", id, err)
	}
	return nil
}

// Deliveries returns the deliveries in state (all if ""), newest first, at
// most limit.
func (db *DB) Deliveries(ctx context.Context, state string, limit int) ([]webhook.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d LEFT JOIN webhooks w ON w.url = d.url
		WHERE ? = '' OR d.state = ? ORDER BY d.id DESC LIMIT ?`, state, state, limit)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", translate(err))
	}
	defer rows.Close()
	var out []webhook.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhook deliveries: %w", translate(err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list webhook deliveries: %w", translate(err))
	}
	return out, nil
}
