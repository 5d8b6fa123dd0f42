package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
)

// AsTenant returns s as tenant's keys use it: the rows it writes are of
// tenant's files (scoped file ids), its queries read tenant's
// transactions, and file ids come back as clients see them. Running
// TestTransactionStore over it checks a tenant's view of a store.
func AsTenant(s TransactionStore, tenant string) TransactionStore { return tenantStore{s, tenant} }

type tenantStore struct {
	TransactionStore
	tenant string
}

func (ts tenantStore) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	c := slices.Clone(txs)
	for i := range c {
		c[i].FileID = txpipe.ScopedFileID(ts.tenant, c[i].FileID)
	}
	return ts.TransactionStore.PutTransactions(ctx, c)
}

func (ts tenantStore) ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	q.Tenant = ts.tenant
	p, err := ts.TransactionStore.ListTransactions(ctx, q)
	for i := range p.Items {
		p.Items[i] = p.Items[i].Public()
	}
	return p, err
}

// TestTenantsApart checks that tenants' transactions never meet in a
// store: the same ids written by the default tenant and two others are
// inserted once each, an update by one changes nothing of the others', and
// each lists exactly its own rows.
func TestTenantsApart(t *testing.T, s TransactionStore) {
	ctx := t.Context()
	base := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC).Add(time.Duration(randomInt(t)%1000) * time.Hour)
	ids := []string{"tx-" + randomHex(t, 4), "tx-" + randomHex(t, 4) + "#x", "tx-" + randomHex(t, 4)}
	tenants := []string{txpipe.DefaultTenant, "acme", "beta-" + randomHex(t, 3)}
	for i, tenant := range tenants {
		fileID := txpipe.ScopedFileID(tenant, randomHex(t, 16))
		var txs []txpipe.Transaction
		for k, id := range ids {
			txs = append(txs, txpipe.Transaction{ID: id, Amount: "1.00", AmountMinor: 100 * int64(i+1), Currency: "EUR",
				Timestamp: base.Add(time.Duration(k) * time.Minute), Merchant: tenant, Status: txpipe.TxCompleted, FileID: fileID})
		}
		c, err := s.PutTransactions(ctx, txs)
		if err != nil {
			t.Fatalf("PutTransactions of %s: %v", tenant, err)
		}
		if c.Inserted != int64(len(ids)) {
			t.Errorf("%s's rows: %+v, want %d inserted (ids are per tenant)", tenant, c, len(ids))
		}
	}
	for i, tenant := range tenants {
		page, err := s.ListTransactions(ctx, txpipe.TxQuery{Tenant: tenant, From: base, To: base.Add(time.Hour), Limit: 100})
		if err != nil {
			t.Fatalf("ListTransactions of %s: %v", tenant, err)
		}
		var got []string
		for _, tx := range page.Items {
			if tx.Merchant != tenant || tx.AmountMinor != 100*int64(i+1) || txpipe.TenantOfFileID(tx.FileID) != tenant {
				t.Errorf("%s lists %+v: another tenant's row", tenant, tx)
			}
			if strings.HasPrefix(tx.ID, "tx-") {
				got = append(got, tx.ID)
			}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%s lists %v, want %v", tenant, got, ids)
		}
	}
}

func randomInt(t testing.TB) int {
	b := randomHex(t, 2)
	n := 0
	for _, c := range b {
		n = n*16 + strings.IndexRune("0123456789abcdef", c)
	}
	return n
}
