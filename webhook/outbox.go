package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Delivery states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// Signature headers of a delivery. The signature is
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)); see
// docs/webhooks.md for the receiver's check.
const (
	HeaderTimestamp = "X-Txpipe-Timestamp"
	HeaderSignature = "X-Txpipe-Signature"
	HeaderDelivery  = "X-Txpipe-Delivery"
)

// Delivery is one run result to POST to one subscriber.
type Delivery struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"-"`
	FileID    string    `json:"file_id"`
	Body      []byte    `json:"-"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Outbox is the durable store of deliveries (*sqlite.DB is one).
type Outbox interface {
	// ClaimDeliveries returns up to limit pending deliveries due at now,
	// holding each until now+lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// DeliveryDone marks a delivery delivered.
	DeliveryDone(ctx context.Context, id int64, attempts int) error
	// DeliveryFailed records a failed attempt: pending again at next, or
	// dead.
	DeliveryFailed(ctx context.Context, id int64, attempts int, next time.Time, dead bool, reason string) error
}

// DelivererOptions tune a Deliverer.
type DelivererOptions struct {
	MaxAttempts int           // attempts before a delivery is dead; 10 if 0
	Interval    time.Duration // first retry delay, doubled each time (full jitter); 1 s if 0
	MaxDelay    time.Duration // cap of a retry delay; 1 h if 0
	Poll        time.Duration // how often the outbox is read; 1 s if 0
	Client      *http.Client  // a 10 s timeout if nil
	Now         func() time.Time
}

// Deliverer POSTs the outbox's deliveries, signed, retrying with back-off
// across restarts (the attempts and the next time are stored), until a
// delivery succeeds or is dead after MaxAttempts.
type Deliverer struct {
	outbox Outbox
	opts   DelivererOptions
	log    *slog.Logger
	wake   chan struct{}
}

// NewDeliverer returns a Deliverer of outbox; Run starts it.
func NewDeliverer(outbox Outbox, logger *slog.Logger, opts DelivererOptions) *Deliverer {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{outbox: outbox, opts: opts, log: logger, wake: make(chan struct{}, 1)}
}

// Poke makes Run look at the outbox now (a delivery was just written).
func (d *Deliverer) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done.
func (d *Deliverer) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		batch, err := d.outbox.ClaimDeliveries(ctx, d.opts.Now(), d.opts.Client.Timeout+30*time.Second, 16)
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhook outbox: claim deliveries", "err", err)
		}
		for _, del := range batch {
			d.attempt(ctx, del)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-t.C:
		}
	}
}

func (d *Deliverer) attempt(ctx context.Context, del Delivery) {
	attempts := del.Attempts + 1
	err := d.post(ctx, del)
	if err == nil {
		// Delivered: recorded even when shutting down, or it would be sent
		// again.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.outbox.DeliveryDone(bg, del.ID, attempts); err != nil {
			d.log.Error("webhook outbox: record delivery", "id", del.ID, "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt does not count and the delivery is
		// due at once on the next start (after a crash, when its lease
		// runs out).
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.outbox.DeliveryFailed(bg, del.ID, del.Attempts, d.opts.Now(), false, "interrupted by shutdown"); err != nil {
			d.log.Error("webhook outbox: release delivery", "id", del.ID, "err", err)
		}
		return
	}
	dead := attempts >= d.opts.MaxAttempts
	delay := d.opts.Interval << min(attempts-1, 30)
	if delay <= 0 || delay > d.opts.MaxDelay {
		delay = d.opts.MaxDelay
	}
	delay = time.Duration(rand.Int64N(int64(delay))) + time.Millisecond
	next := d.opts.Now().Add(delay)
	level := slog.LevelWarn
	if dead {
		level = slog.LevelError
	}
	d.log.Log(ctx, level, "webhook not delivered", "id", del.ID, "url", del.URL, "file_id", del.FileID,
		"attempts", attempts, "dead", dead, "retry_in", delay.String(), "err", err)
	if err := d.outbox.DeliveryFailed(ctx, del.ID, attempts, next, dead, err.Error()); err != nil {
		d.log.Error("webhook outbox: record failed delivery", "id", del.ID, "err", err)
	}
}

func (d *Deliverer) post(ctx context.Context, del Delivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.URL, bytes.NewReader(del.Body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(d.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(del.Secret, ts, del.Body))
	req.Header.Set(HeaderDelivery, strconv.FormatInt(del.ID, 10))
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", del.URL, resp.Status)
	}
	return nil
}

// Sign returns the signature header value of body sent at timestamp (Unix
// seconds, as in the timestamp header).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within
// tolerance of now, as a receiver does.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no valid %s header", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is %v away from now, more than %v", ts, d, tolerance)
	}
	if !hmac.Equal([]byte(header.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}
