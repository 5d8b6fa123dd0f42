package httpapi

import (
	"net/http"
	"strings"

	"github.com/txpipe/txpipe"
)

// Tenants (docs/architecture.md, Tenants): a key's requests read and write
// its tenant's files, transactions, dead letters and notifications only. An
// admin key reads every tenant's: the lists (files, dead letters) show all
// of them unless ?tenant= names one, and the reads of one file, the
// transactions and the volumes read ?tenant= (the key's own by default).
// A file of another tenant is not found, exactly as an unknown one.

// TenantParam is the query parameter with which an admin key names the
// tenant it reads.
const TenantParam = "tenant"

// Identity is who a request comes from when the server does not check keys
// itself (on AWS, API Gateway checks them and the Lambda maps the key's id
// to a tenant).
type Identity struct {
	Name   string
	Role   string
	Tenant string
}

// requestTenant returns the tenant a request reads or writes. all lets an
// admin key's request without ?tenant= read every tenant (AllTenants).
func (s *Server) requestTenant(r *http.Request, all bool) (string, error) {
	ri := infoOf(r.Context())
	own := txpipe.TenantOrDefault(ri.tenant)
	asked := r.URL.Query().Get(TenantParam)
	if ri.role != txpipe.RoleAdmin {
		if asked != "" && asked != own {
			return "", txpipe.Errorf(txpipe.EFORBIDDEN, "this key reads the data of tenant %q only", own)
		}
		return own, nil
	}
	switch {
	case asked == "" && all:
		return txpipe.AllTenants, nil
	case asked == "":
		return own, nil
	case asked == txpipe.AllTenants && all:
		return asked, nil
	}
	if err := txpipe.CheckTenant(asked); err != nil {
		return "", err
	}
	return asked, nil
}

// scopedFileID is the path's file id scoped by the request's tenant. An id
// that is scoped already (it holds the separator: another tenant's, or an
// item that is no file) is not found, as an unknown id is.
func (s *Server) scopedFileID(r *http.Request) (string, error) {
	tenant, err := s.requestTenant(r, false)
	if err != nil {
		return "", err
	}
	id := r.PathValue("file_id")
	if t, _ := txpipe.SplitFileID(id); t != txpipe.DefaultTenant || strings.HasPrefix(id, "_") {
		return "", txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", id)
	}
	return txpipe.ScopedFileID(tenant, id), nil
}

// requestedStatus reads the status record of the file the path names,
// within the request's tenant; errors name the id as the client sent it.
func (s *Server) requestedStatus(r *http.Request) (*txpipe.FileStatus, error) {
	id, err := s.scopedFileID(r)
	if err != nil {
		return nil, err
	}
	st, err := s.cfg.Statuses.GetStatus(r.Context(), id)
	return st, unscoped(err, id)
}

// unscoped rewrites a client error about the scoped file id to name the id
// as the client knows it.
func unscoped(err error, scoped string) error {
	code := txpipe.ErrorCode(err)
	if err == nil || statusOf(code) >= 500 {
		return err
	}
	_, id := txpipe.SplitFileID(scoped)
	if id == scoped {
		return err
	}
	return txpipe.Errorf(code, "%s", strings.ReplaceAll(txpipe.ErrorMessage(err), scoped, id))
}
