package txpipe

import (
	"fmt"
	"strings"
)

// Tenants. An API key belongs to a tenant, and what a tenant uploads (its
// files' status records, runs, transactions, dead letters and
// notifications) is visible only to that tenant's keys and to admin keys.
// Data written before tenants existed belongs to DefaultTenant.
const (
	// DefaultTenant is the tenant of keys and data that name none.
	DefaultTenant = "default"
	// AllTenants, in a query's Tenant, selects every tenant (admin keys).
	AllTenants = "*"
	// MaxTenantLen is the longest tenant name: a scoped file id (name, '#',
	// 32 hex digits) still fits the 80 characters of a Step Functions
	// execution name.
	MaxTenantLen = 32
)

// CheckTenant returns an EINVALID error unless name is a tenant name: 1 to
// MaxTenantLen characters of a-z, 0-9, '_' and '-', starting with a letter
// or a digit (so it can be part of file names, execution names and SNS
// attributes as it is).
func CheckTenant(name string) error {
	if name == "" || len(name) > MaxTenantLen {
		return Errorf(EINVALID, "tenant name must be 1 to %d characters, got %d", MaxTenantLen, len(name))
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '_' || r == '-') && i > 0:
		default:
			return Errorf(EINVALID, "tenant name %q: only a-z, 0-9, '_' and '-' (not first) are allowed", name)
		}
	}
	return nil
}

// TenantOrDefault returns tenant, or DefaultTenant when it is empty.
func TenantOrDefault(tenant string) string {
	if tenant == "" {
		return DefaultTenant
	}
	return tenant
}

// tenantSep separates the tenant from the file id in a scoped file id. A
// file id is hex, so it never holds one.
const tenantSep = "#"

// ScopedFileID returns the id under which the stores keep the file fileID
// of tenant: fileID itself for the default tenant (so data written before
// tenants is found as it is), "tenant#fileID" for the others. The same bytes
// uploaded by two tenants are two files: one record, one run, one set of
// rows each.
func ScopedFileID(tenant, fileID string) string {
	if tenant == "" || tenant == DefaultTenant {
		return fileID
	}
	return tenant + tenantSep + fileID
}

// SplitFileID is the inverse of ScopedFileID: the tenant and the file id as
// clients see it.
func SplitFileID(scoped string) (tenant, fileID string) {
	if t, id, ok := strings.Cut(scoped, tenantSep); ok {
		return t, id
	}
	return DefaultTenant, scoped
}

// TenantOfFileID returns the tenant of a scoped file id.
func TenantOfFileID(scoped string) string {
	t, _ := SplitFileID(scoped)
	return t
}

// Public returns a copy of st as clients see it: FileID without its tenant
// and Tenant set.
func (s *FileStatus) Public() *FileStatus {
	c := *s
	if c.Tenant == "" { // not made public yet
		c.Tenant, c.FileID = SplitFileID(s.FileID)
	}
	return &c
}

// Public returns t as clients see it: FileID without its tenant.
func (t Transaction) Public() Transaction {
	_, t.FileID = SplitFileID(t.FileID)
	return t
}

// TenantMatches reports whether the scoped file id belongs to tenant
// (AllTenants matches every one).
func TenantMatches(tenant, scoped string) bool {
	return tenant == AllTenants || TenantOrDefault(tenant) == TenantOfFileID(scoped)
}

// ParseTenantURL splits a "[TENANT=]URL" flag value (a webhook of a tenant)
// into the tenant (DefaultTenant if none) and the URL.
func ParseTenantURL(v string) (tenant, url string, err error) {
	t, u, ok := strings.Cut(v, "=")
	if !ok || strings.Contains(t, "/") || strings.Contains(t, ":") {
		return DefaultTenant, v, nil
	}
	if err := CheckTenant(t); err != nil {
		return "", "", fmt.Errorf("%q: %w", v, err)
	}
	return t, u, nil
}
