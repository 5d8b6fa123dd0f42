package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/txpipe/txpipe"
)

// APIKeyPrefix starts every key NewAPIKey makes, so a leaked key is easy
// to recognise.
const APIKeyPrefix = "txp_"

// NewAPIKey returns a new random API key and its hash, the hex SHA-256 of
// the secret, which is all a KeyStore keeps.
func NewAPIKey() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random key: %w", err)
	}
	secret = APIKeyPrefix + hex.EncodeToString(b)
	return secret, HashKey(secret), nil
}

// KeyCreator stores API keys (implemented by *sqlite.DB).
type KeyCreator interface {
	CreateKey(ctx context.Context, k txpipe.APIKey) error
}

// CreateKey makes a new key called name with the given daily quota and
// rate (requests a second, with bursts of twice as many), stores its hash
// and returns its secret.
func CreateKey(ctx context.Context, keys KeyCreator, name string, quota int64, rate float64) (secret string, err error) {
	secret, _, err = CreateKeyWithRole(ctx, keys, name, quota, rate, txpipe.RoleUser)
	return secret, err
}

// CreateKeyWithRole is CreateKey for a key with a role (txpipe.RoleAdmin
// may also manage keys); it also returns the stored key.
func CreateKeyWithRole(ctx context.Context, keys KeyCreator, name string, quota int64, rate float64, role string) (secret string, key txpipe.APIKey, err error) {
	return CreateTenantKey(ctx, keys, name, quota, rate, role, txpipe.DefaultTenant)
}

// CreateTenantKey is CreateKeyWithRole for a key of tenant.
func CreateTenantKey(ctx context.Context, keys KeyCreator, name string, quota int64, rate float64, role, tenant string) (secret string, key txpipe.APIKey, err error) {
	tenant = txpipe.TenantOrDefault(tenant)
	if err := txpipe.CheckTenant(tenant); err != nil {
		return "", txpipe.APIKey{}, err
	}
	secret, hash, err := NewAPIKey()
	if err != nil {
		return "", txpipe.APIKey{}, err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", txpipe.APIKey{}, fmt.Errorf("make key id: %w", err)
	}
	k := txpipe.APIKey{
		ID: "key_" + hex.EncodeToString(id[:]), Name: name, Hash: hash,
		QuotaPerDay: quota, RatePerSecond: rate, Burst: max(1, int(math.Ceil(2*rate))),
		Role: role, Tenant: tenant, CreatedAt: time.Now().UTC(),
	}
	if err := keys.CreateKey(ctx, k); err != nil {
		return "", txpipe.APIKey{}, fmt.Errorf("store API key %q: %w", name, err)
	}
	return secret, k, nil
}

// HashKey returns the hex SHA-256 of an API key's secret.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// auth checks the API key of a request and applies the key's rate limit
// and daily quota before next runs. Without a KeyStore it is next.
func (s *Server) auth(next http.Handler) http.Handler { return s.authCounting(next, true) }

// authFree is auth for reads that do not count against the daily quota
// (status polls): they are rate-limited only.
func (s *Server) authFree(next http.Handler) http.Handler { return s.authCounting(next, false) }

// authCounting is auth; count says whether the request counts against the
// daily quota. A request refused for its rate or its quota spends neither:
// the quota is checked first and the rate token taken only when the request
// is admitted, both while the key's count is held.
func (s *Server) authCounting(next http.Handler, count bool) http.Handler {
	if s.cfg.Keys == nil {
		if s.cfg.Identify == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := s.cfg.Identify(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			ri := infoOf(r.Context())
			ri.key, ri.role, ri.tenant = id.Name, id.Role, txpipe.TenantOrDefault(id.Tenant)
			next.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		secret := r.Header.Get(APIKeyHeader)
		if secret == "" {
			s.writeError(w, r, txpipe.Errorf(txpipe.EUNAUTHORIZED, "missing API key: send it in the %s header", APIKeyHeader))
			return
		}
		key, err := s.cfg.Keys.LookupKey(ctx, HashKey(secret))
		switch {
		case txpipe.ErrorCode(err) == txpipe.ENOTFOUND:
			s.writeError(w, r, txpipe.Errorf(txpipe.EFORBIDDEN, "unknown API key"))
			return
		case err != nil:
			s.writeError(w, r, fmt.Errorf("look up API key: %w", err))
			return
		}
		infoOf(ctx).key = key.Name
		infoOf(ctx).role = key.Role
		infoOf(ctx).tenant = txpipe.TenantOrDefault(key.Tenant)

		now := s.cfg.Now()
		if !count {
			if wait := s.limiter.reserve(key, now); wait > 0 {
				s.refuseRate(w, r, key, wait)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		day := now.UTC()
		c, err := s.usage.entry(ctx, key.ID, day.Format(time.DateOnly))
		if err != nil {
			s.writeError(w, r, fmt.Errorf("count request of key %s: %w", key.ID, err))
			return
		}
		if quota := quotaPerDay(key); c.n >= quota {
			c.mu.Unlock()
			midnight := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)
			w.Header().Set("Retry-After", retryAfter(midnight.Sub(day)))
			s.writeError(w, r, txpipe.Errorf(txpipe.ERATELIMIT, "daily quota of %d requests exceeded", quota))
			return
		}
		if wait := s.limiter.reserve(key, now); wait > 0 {
			c.mu.Unlock()
			s.refuseRate(w, r, key, wait)
			return
		}
		c.n++
		c.mu.Unlock()
		s.usage.maybeFlush(now)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuseRate(w http.ResponseWriter, r *http.Request, key txpipe.APIKey, wait time.Duration) {
	w.Header().Set("Retry-After", retryAfter(wait))
	s.writeError(w, r, txpipe.Errorf(txpipe.ERATELIMIT, "rate limit of %g requests a second exceeded", ratePerSecond(key)))
}

// retryAfter formats a wait as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

func ratePerSecond(k txpipe.APIKey) float64 {
	if k.RatePerSecond > 0 {
		return k.RatePerSecond
	}
	return DefaultRatePerSecond
}

func burst(k txpipe.APIKey) int {
	if k.Burst > 0 {
		return k.Burst
	}
	return DefaultBurst
}

func quotaPerDay(k txpipe.APIKey) int64 {
	if k.QuotaPerDay > 0 {
		return k.QuotaPerDay
	}
	return DefaultQuotaPerDay
}

// keyLimiter is the token bucket of one key, with the settings it was made
// with so a changed key gets a new bucket.
type keyLimiter struct {
	lim   *rate.Limiter
	rate  float64
	burst int
}

// reserve takes a token of k's bucket at now, and returns 0 if there was
// one, or else how long until there is one (taking nothing).
func (l *limiters) reserve(k txpipe.APIKey, now time.Time) time.Duration {
	r, b := ratePerSecond(k), burst(k)
	l.mu.Lock()
	kl := l.m[k.ID]
	if kl == nil || kl.rate != r || kl.burst != b {
		kl = &keyLimiter{lim: rate.NewLimiter(rate.Limit(r), b), rate: r, burst: b}
		l.m[k.ID] = kl
	}
	l.mu.Unlock()
	res := kl.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second
	}
	wait := res.DelayFrom(now)
	if wait > 0 {
		res.CancelAt(now)
	}
	return wait
}
