package lambda

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

type apiKeyIDKey struct{}

// APIKeyID returns the id of the API Gateway key that made the request
// (requestContext.identity.apiKeyId of its event), "" if none.
func APIKeyID(ctx context.Context) string {
	id, _ := ctx.Value(apiKeyIDKey{}).(string)
	return id
}

// KeyTenants tells who a request comes from when API Gateway checked its
// key: the tenant and role recorded for the key's id (dynamo's KeyTenant),
// remembered for TTL so a request costs no read.
type KeyTenants struct {
	// Lookup returns the tenant and role of a key id.
	Lookup func(ctx context.Context, keyID string) (tenant, role string, err error)
	// TTL is how long an answer is used; a minute if zero. A key moved to
	// another tenant reads the new one after at most TTL.
	TTL time.Duration
	Now func() time.Time // time.Now if nil

	mu    sync.Mutex
	cache map[string]keyTenant
}

type keyTenant struct {
	tenant, role string
	at           time.Time
}

// Identify implements httpapi.Config.Identify.
func (k *KeyTenants) Identify(r *http.Request) (httpapi.Identity, error) {
	keyID := APIKeyID(r.Context())
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	ttl := k.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	k.mu.Lock()
	e, ok := k.cache[keyID]
	k.mu.Unlock()
	if !ok || now().Sub(e.at) >= ttl {
		tenant, role, err := k.Lookup(r.Context(), keyID)
		if err != nil {
			return httpapi.Identity{}, fmt.Errorf("tenant of API key %s: %w", keyID, err)
		}
		e = keyTenant{tenant: txpipe.TenantOrDefault(tenant), role: role, at: now()}
		k.mu.Lock()
		if k.cache == nil {
			k.cache = map[string]keyTenant{}
		}
		k.cache[keyID] = e
		k.mu.Unlock()
	}
	return httpapi.Identity{Name: keyID, Role: e.role, Tenant: e.tenant}, nil
}
