package txpipe_test

import (
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
)

func TestScopedFileID(t *testing.T) {
	for _, c := range []struct{ tenant, id, scoped, back string }{
		{"", "abc", "abc", txpipe.DefaultTenant},
		{txpipe.DefaultTenant, "abc", "abc", txpipe.DefaultTenant},
		{"acme", "abc", "acme#abc", "acme"},
	} {
		got := txpipe.ScopedFileID(c.tenant, c.id)
		if got != c.scoped {
			t.Errorf("ScopedFileID(%q, %q) = %q, want %q", c.tenant, c.id, got, c.scoped)
		}
		if tenant, id := txpipe.SplitFileID(got); tenant != c.back || id != c.id {
			t.Errorf("SplitFileID(%q) = %q, %q; want %q, %q", got, tenant, id, c.back, c.id)
		}
	}
	st := (&txpipe.FileStatus{FileID: "acme#abc"}).Public()
	if st.FileID != "abc" || st.Tenant != "acme" {
		t.Errorf("Public = %q of %q, want abc of acme", st.FileID, st.Tenant)
	}
	if again := st.Public(); again.FileID != "abc" || again.Tenant != "acme" {
		t.Errorf("Public twice = %q of %q, want abc of acme", again.FileID, again.Tenant)
	}
	if !txpipe.TenantMatches(txpipe.AllTenants, "acme#abc") || !txpipe.TenantMatches("", "abc") ||
		txpipe.TenantMatches("", "acme#abc") || txpipe.TenantMatches("acme", "abc") {
		t.Error("TenantMatches is wrong")
	}
}

func TestCheckTenant(t *testing.T) {
	for _, ok := range []string{"default", "acme", "a", "team-2_b", strings.Repeat("x", txpipe.MaxTenantLen)} {
		if err := txpipe.CheckTenant(ok); err != nil {
			t.Errorf("CheckTenant(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Acme", "-a", "_a", "a#b", "a b", "a/b", "*", "é", strings.Repeat("x", txpipe.MaxTenantLen+1)} {
		if err := txpipe.CheckTenant(bad); txpipe.ErrorCode(err) != txpipe.EINVALID {
			t.Errorf("CheckTenant(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestParseTenantURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"http://h/x?a=b":      {"default", "http://h/x?a=b"},
		"acme=http://h/x?a=b": {"acme", "http://h/x?a=b"},
	} {
		tenant, u, err := txpipe.ParseTenantURL(in)
		if err != nil || tenant != want[0] || u != want[1] {
			t.Errorf("ParseTenantURL(%q) = %q, %q, %v; want %q", in, tenant, u, err, want)
		}
	}
	if _, _, err := txpipe.ParseTenantURL("Bad Tenant=http://h/"); err == nil {
		t.Error("ParseTenantURL of a bad tenant: no error")
	}
}
