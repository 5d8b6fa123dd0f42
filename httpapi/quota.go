package httpapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/txpipe/txpipe"
)

// UsageCheckpoint is how often the daily request counts are saved to the
// KeyStore (see usage).
const UsageCheckpoint = time.Second

// usage counts each key's requests of the UTC day in memory, exactly under
// any concurrency: a key's count for a day is loaded from the KeyStore on
// first use and saved in one write for all keys at most every
// UsageCheckpoint (and by Server.FlushUsage on shutdown). Counting costs no
// write per request, and a restart keeps the count (a crash may forget the
// requests of the last checkpoint interval).
type usage struct {
	store KeyStore
	log   *slog.Logger

	mu     sync.Mutex
	counts map[usageKey]*usageCount

	flushing  atomic.Bool
	lastFlush atomic.Int64 // unix nanoseconds
}

type usageKey struct{ keyID, day string }

type usageCount struct {
	mu     sync.Mutex // held while a request is admitted
	loaded bool
	n      int64 // requests admitted
	saved  int64 // the count last saved
}

// entry returns the count of the key on day, locked and loaded.
func (u *usage) entry(ctx context.Context, keyID, day string) (*usageCount, error) {
	u.mu.Lock()
	k := usageKey{keyID, day}
	c := u.counts[k]
	if c == nil {
		c = &usageCount{}
		u.counts[k] = c
	}
	u.mu.Unlock()
	c.mu.Lock()
	if !c.loaded {
		n, err := u.store.RequestCount(ctx, keyID, day)
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.n, c.saved, c.loaded = max(c.n, n), n, true
	}
	return c, nil
}

// maybeFlush saves the counts in the background if the last save is older
// than UsageCheckpoint.
func (u *usage) maybeFlush(now time.Time) {
	if now.UnixNano()-u.lastFlush.Load() < int64(UsageCheckpoint) || !u.flushing.CompareAndSwap(false, true) {
		return
	}
	u.lastFlush.Store(now.UnixNano())
	go func() {
		defer u.flushing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := u.flush(ctx, now); err != nil {
			u.log.Error("save request counts", "err", err)
		}
	}()
}

// flush saves the counts changed since their last save, and forgets the
// counts of days before now's.
func (u *usage) flush(ctx context.Context, now time.Time) error {
	today := now.UTC().Format(time.DateOnly)
	type pending struct {
		c *usageCount
		n int64
	}
	var batch []txpipe.KeyUsage
	var ps []pending
	u.mu.Lock()
	for k, c := range u.counts {
		c.mu.Lock()
		if c.loaded && c.n != c.saved {
			batch = append(batch, txpipe.KeyUsage{KeyID: k.keyID, Day: k.day, Requests: c.n})
			ps = append(ps, pending{c, c.n})
		} else if k.day < today {
			delete(u.counts, k)
		}
		c.mu.Unlock()
	}
	u.mu.Unlock()
	if err := u.store.SaveRequestCounts(ctx, batch); err != nil {
		return err
	}
	for _, p := range ps {
		p.c.mu.Lock()
		p.c.saved = max(p.c.saved, p.n)
		p.c.mu.Unlock()
	}
	return nil
}

// FlushUsage saves the daily request counts now; call it when the server
// shuts down.
func (s *Server) FlushUsage(ctx context.Context) error {
	if s.cfg.Keys == nil {
		return nil
	}
	return s.usage.flush(ctx, s.cfg.Now())
}
