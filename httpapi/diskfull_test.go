package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/disktest"
)

// TestDiskFull fills the real disk of the data dir: an upload answers 507
// with a message that says so (not 500 "internal error"), /readyz fails and
// /healthz reports the store degraded; once space is freed both recover and
// uploads are taken again, without a restart.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := disktest.Small(t, 16<<20)
	e := newEnv(t, envOptions{dir: dir})

	if a := do(t, request(t, "GET", e.url+"/readyz", "", "", nil)); a.code != http.StatusOK {
		t.Fatalf("/readyz before the disk is full = %d %s", a.code, a.raw)
	}
	free := disktest.Fill(t, dir)

	a := do(t, request(t, "POST", e.url+"/upload", e.key, "text/csv", strings.NewReader(validCSV("full", 2000))))
	if a.code != http.StatusInsufficientStorage || a.errorCode() != txpipe.ENOSPACE {
		t.Errorf("upload on a full disk = %d %s, want 507 %s", a.code, a.raw, txpipe.ENOSPACE)
	}
	if !strings.Contains(a.raw, "disk is full") {
		t.Errorf("upload on a full disk answers %s, want a message saying the disk is full", a.raw)
	}
	if a := do(t, request(t, "GET", e.url+"/readyz", "", "", nil)); a.code != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a full disk = %d %s, want 503", a.code, a.raw)
	}
	if a := do(t, request(t, "GET", e.url+"/healthz", "", "", nil)); a.code != http.StatusOK || a.body["status"] != "degraded" {
		t.Errorf("/healthz on a full disk = %d %s, want 200 degraded", a.code, a.raw)
	}

	free()
	if a := do(t, request(t, "GET", e.url+"/readyz", "", "", nil)); a.code != http.StatusOK {
		t.Errorf("/readyz after space was freed = %d %s, want 200", a.code, a.raw)
	}
	if a := do(t, request(t, "GET", e.url+"/healthz", "", "", nil)); a.code != http.StatusOK || a.body["status"] != "ok" {
		t.Errorf("/healthz after space was freed = %d %s, want 200 ok", a.code, a.raw)
	}
	a = do(t, request(t, "POST", e.url+"/upload", e.key, "text/csv", strings.NewReader(validCSV("full", 2000))))
	if a.code != http.StatusAccepted {
		t.Errorf("upload after space was freed = %d %s, want 202", a.code, a.raw)
	}
}
