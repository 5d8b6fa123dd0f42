// Package webhook is the local notifier: it logs every run result and POSTs
// it as JSON to the subscribers' URLs, retrying with back-off in the
// background so a slow or failing subscriber never holds up the pipeline.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.Notifier = (*Notifier)(nil)

// Options tune a Notifier.
type Options struct {
	Attempts  int           // per subscriber and message; 5 if 0
	Interval  time.Duration // first retry delay, doubled each time; 1 s if 0
	QueueSize int           // messages waiting for delivery; 1000 if 0
	Client    *http.Client  // http.Client with a 10 s timeout if nil
	// Notified, if set, is called after each message is logged: the local
	// server pokes the outbox's Deliverer, as the run wrote its deliveries
	// with its final status.
	Notified func()
}

// Notifier logs results and delivers them to webhook subscribers.
type Notifier struct {
	urls   []string
	opts   Options
	logger *slog.Logger
	queue  chan txpipe.Notification
	wg     sync.WaitGroup
	stop   context.CancelFunc // ends deliveries in flight (Close after its deadline)
}

// New starts a notifier posting to urls (none: it only logs). Close stops it.
func New(urls []string, logger *slog.Logger, opts Options) *Notifier {
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{urls: urls, opts: opts, logger: logger, queue: make(chan txpipe.Notification, opts.QueueSize), stop: cancel}
	if len(urls) > 0 {
		n.wg.Go(func() { n.deliver(ctx) })
	}
	return n
}

// Notify logs n and queues it for the subscribers. It does not wait for
// delivery; when the queue is full the message is logged as dropped.
func (n *Notifier) Notify(ctx context.Context, msg txpipe.Notification) error {
	n.logger.InfoContext(ctx, "run result", "file_id", msg.FileID, "status", msg.Status, "rows", msg.Rows,
		"inserted", msg.Inserted, "updated", msg.Updated, "unchanged", msg.Unchanged, "failure", msg.Failure)
	if n.opts.Notified != nil {
		n.opts.Notified()
	}
	if len(n.urls) == 0 {
		return nil
	}
	select {
	case n.queue <- msg:
	default:
		n.logger.ErrorContext(ctx, "webhook queue full, notification dropped", "file_id", msg.FileID)
	}
	return nil
}

// Close stops delivery after the messages in flight, waiting at most until
// ctx is done.
func (n *Notifier) Close(ctx context.Context) {
	close(n.queue)
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.stop()
		<-done
	}
	n.stop()
}

func (n *Notifier) deliver(ctx context.Context) {
	for msg := range n.queue {
		body, err := json.Marshal(msg)
		if err != nil {
			n.logger.Error("encode notification", "file_id", msg.FileID, "err", err)
			continue
		}
		for _, u := range n.urls {
			if err := n.post(ctx, u, body); err != nil {
				n.logger.Error("webhook not delivered", "url", u, "file_id", msg.FileID, "err", err)
			}
		}
	}
}

func (n *Notifier) post(ctx context.Context, url string, body []byte) error {
	delay := n.opts.Interval
	var err error
	for attempt := 1; attempt <= n.opts.Attempts; attempt++ {
		if err = n.postOnce(ctx, url, body); err == nil {
			return nil
		}
		if attempt == n.opts.Attempts {
			break
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(delay)) + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped)", err)
		case <-t.C:
		}
		delay *= 2
	}
	return fmt.Errorf("after %d attempts: %w", n.opts.Attempts, err)
}

func (n *Notifier) postOnce(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
