package dynamo

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
)

// Tenants on AWS (docs/dynamodb-keys.md, Tenants). A file of a tenant other
// than the default is stored under its scoped id ("tenant#id"), so the
// default tenant's items keep their keys. API Gateway checks the keys; the
// tenant of a key is an item of the status table whose file_id is
// KeyTenantPrefix + the key's id (API Gateway's apiKeyId), with the
// attributes tenant and role. A key without one is the default tenant's,
// with no role, as every key was before tenants.

// KeyTenantPrefix starts the file_id of a key's tenant item. No file id
// starts with it ('_' starts no tenant name and no hex digit).
const KeyTenantPrefix = "_key#"

const (
	attrTenant = "tenant"
	attrRole   = "role"
)

// PutKeyTenant records that the API Gateway key keyID belongs to tenant,
// with role (txpipe.RoleUser or txpipe.RoleAdmin).
func (s *StatusStore) PutKeyTenant(ctx context.Context, keyID, tenant, role string) error {
	tenant = txpipe.TenantOrDefault(tenant)
	if err := txpipe.CheckTenant(tenant); err != nil {
		return err
	}
	if role != txpipe.RoleUser && role != txpipe.RoleAdmin {
		return txpipe.Errorf(txpipe.EINVALID, "role must be %q or empty, got %q", txpipe.RoleAdmin, role)
	}
	if keyID == "" {
		return txpipe.Errorf(txpipe.EINVALID, "no API key id")
	}
	_, err := s.put.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			StatusKey:  &types.AttributeValueMemberS{Value: KeyTenantPrefix + keyID},
			attrTenant: &types.AttributeValueMemberS{Value: tenant},
			attrRole:   &types.AttributeValueMemberS{Value: role},
		},
	})
	if err != nil {
		return translate(err, "record the tenant of API key %s in %s", keyID, s.table)
	}
	return nil
}

// KeyTenant returns the tenant and role of the API Gateway key keyID: the
// default tenant and no role when none is recorded.
func (s *StatusStore) KeyTenant(ctx context.Context, keyID string) (tenant, role string, err error) {
	if keyID == "" {
		return txpipe.DefaultTenant, txpipe.RoleUser, nil
	}
	res, err := s.get.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{StatusKey: &types.AttributeValueMemberS{Value: KeyTenantPrefix + keyID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", "", translate(err, "read the tenant of API key %s from %s", keyID, s.table)
	}
	if res.Item == nil {
		return txpipe.DefaultTenant, txpipe.RoleUser, nil
	}
	tenant, role = txpipe.TenantOrDefault(str(res.Item, attrTenant)), str(res.Item, attrRole)
	if txpipe.CheckTenant(tenant) != nil || (role != txpipe.RoleUser && role != txpipe.RoleAdmin) {
		return "", "", txpipe.Errorf(txpipe.EINTERNAL, "the tenant item of API key %s in %s holds tenant %q, role %q", keyID, s.table, tenant, role)
	}
	return tenant, role, nil
}

// tenantStores holds the tenants' views of a transactions table.
type tenantStores struct {
	mu    sync.Mutex
	views map[string]*TransactionStore
}

// tenantPrefix starts every key of tenant's items in the transactions
// table: transaction_id, time_bucket and its day markers. It starts with
// NUL, which no transaction id holds, so the default tenant's keys (bare
// ids, as before tenants) never meet another tenant's.
func tenantPrefix(tenant string) string { return "\x00t\x00" + tenant + "\x00" }

// forTenant returns the view of the table for tenant's transactions: s
// itself for the default tenant (and in a view, which is one tenant's).
func (s *TransactionStore) forTenant(tenant string) *TransactionStore {
	tenant = txpipe.TenantOrDefault(tenant)
	if tenant == txpipe.DefaultTenant || s.tenants == nil {
		return s
	}
	s.tenants.mu.Lock()
	defer s.tenants.mu.Unlock()
	v, ok := s.tenants.views[tenant]
	if !ok {
		v = &TransactionStore{get: s.get, write: s.write, query: s.query, scan: s.scan, tx: s.tx, table: s.table, o: s.o,
			marked: make(map[string]bool), prefix: tenantPrefix(tenant)}
		s.tenants.views[tenant] = v
	}
	return v
}

// TenantVolumes is Volumes for tenant's transactions (each tenant's
// aggregate items carry its prefix too).
func (s *TransactionStore) TenantVolumes(ctx context.Context, tenant string, from, to time.Time) ([]txpipe.Volume, error) {
	if err := txpipe.CheckTenant(txpipe.TenantOrDefault(tenant)); err != nil {
		return nil, err
	}
	return s.forTenant(tenant).Volumes(ctx, from, to)
}
