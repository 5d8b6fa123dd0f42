package workflow

import (
	"context"
	"fmt"
	"time"

	"github.com/txpipe/txpipe"
)

// Do runs fn until it succeeds, fails with an error that is not transient,
// or has run p.MaxAttempts times, sleeping p.Delay between attempts. It
// returns fn's last error. onRetry, if not nil, is called before each retry.
func (p RetryPolicy) Do(ctx context.Context, fn func(context.Context) error, onRetry func(attempt int, err error)) error {
	attempts := max(p.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !txpipe.IsTransient(err) || attempt >= attempts {
			return err
		}
		if onRetry != nil {
			onRetry(attempt+1, err)
		}
		t := time.NewTimer(p.Delay(attempt + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retry abandoned: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}
