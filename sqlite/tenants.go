package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
)

// Tenants' transactions. The default tenant's transactions are in the
// shards DB opened with (txpipe-transactions-N.db, as before tenants); each
// other tenant has its own set of as many shards, opened on first use
// (txpipe-tenant-NAME-transactions-N.db). Transaction ids are unique per
// tenant, rows never mix, and the write path of a shard is the same for
// every tenant. A tenant's view of the database is a DB whose shards are
// the tenant's (forTenant): PutTransactions, ListTransactions and Volumes
// run on it unchanged.

// tenantSets holds the shard sets of the tenants other than the default.
type tenantSets struct {
	mu   sync.Mutex
	sets map[string][]*file
}

// all returns every tenant's shards.
func (t *tenantSets) all() []*file {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*file
	for _, s := range t.sets {
		out = append(out, s...)
	}
	return out
}

// tenantShardPath is the path of shard i of tenant's set.
func tenantShardPath(path, tenant string, i int) string {
	return shardPath(strings.TrimSuffix(path, ".db")+"-tenant-"+tenant+".db", i)
}

// allShards returns the shards whose open writes a write to the main file
// commits first: every tenant's for the database itself, a view's own.
func (db *DB) allShards() []*file {
	return append(slices.Clip(db.shards), db.tenants.all()...)
}

// openTenants opens the shard sets of the tenants found next to the main
// file, so that backups, health checks and group commits cover them.
func (db *DB) openTenants(ctx context.Context) error {
	db.tenants = &tenantSets{sets: map[string][]*file{}}
	matches, err := filepath.Glob(strings.TrimSuffix(db.path, ".db") + "-tenant-*-transactions-0.db")
	if err != nil {
		return fmt.Errorf("list tenant shards: %w", err)
	}
	prefix := filepath.Base(strings.TrimSuffix(db.path, ".db")) + "-tenant-"
	for _, m := range matches {
		tenant := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), prefix), "-transactions-0.db")
		if txpipe.CheckTenant(tenant) != nil {
			continue
		}
		if _, err := db.forTenant(ctx, tenant, true); err != nil {
			return err
		}
	}
	return nil
}

// forTenant returns the view of the database for tenant's transactions:
// db itself for the default tenant (or when db is that tenant's view). A
// tenant without shards gets them made when create is set, and nil
// otherwise (it has no transactions).
func (db *DB) forTenant(ctx context.Context, tenant string, create bool) (*DB, error) {
	tenant = txpipe.TenantOrDefault(tenant)
	if tenant == txpipe.DefaultTenant || tenant == db.tenant {
		return db, nil
	}
	if err := txpipe.CheckTenant(tenant); err != nil {
		return nil, err
	}
	if db.tenants == nil {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "the view of tenant %s has no access to tenant %s", db.tenant, tenant)
	}
	db.tenants.mu.Lock()
	defer db.tenants.mu.Unlock()
	set, ok := db.tenants.sets[tenant]
	if !ok {
		first := tenantShardPath(db.path, tenant, 0)
		if _, err := os.Stat(first); err != nil && !create {
			return nil, nil
		}
		for i := range len(db.shards) {
			p := tenantShardPath(db.path, tenant, i)
			f, err := openShard(ctx, p, db.logger, db.lost)
			if err != nil {
				for _, f := range set {
					f.close()
				}
				return nil, openError(p, err)
			}
			set = append(set, f)
		}
		db.tenants.sets[tenant] = set
	}
	return &DB{
		path: db.path, logger: db.logger, main: db.main, shards: set, read: db.read,
		now: db.now, idHash: db.idHash, lost: db.lost, tenant: tenant,
	}, nil
}

// TenantVolumes is Volumes for tenant's transactions.
func (db *DB) TenantVolumes(ctx context.Context, tenant string, from, to time.Time) ([]txpipe.Volume, error) {
	v, err := db.forTenant(ctx, tenant, false)
	if err != nil || v == nil {
		return nil, err
	}
	return v.Volumes(ctx, from, to)
}
