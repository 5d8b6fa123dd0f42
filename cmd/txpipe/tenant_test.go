package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/dynamo"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/internal/awsenv"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/server"
	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
)

// receiver is a webhook receiver that keeps the notifications it got.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []txpipe.Notification
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n txpipe.Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, n)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) notifications() []txpipe.Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]txpipe.Notification(nil), rc.got...)
}

// runServer runs the local pipeline with cfg until the test ends or stop
// is called.
func runServer(t *testing.T, cfg serveConfig) (s *server.Server, stop func()) {
	t.Helper()
	s, err := openServer(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			s.Close()
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// apiCall makes a request with key and decodes a JSON answer into v (if
// not nil); it returns the status code and the body.
func apiCall(t *testing.T, base, key, method, path string, body any, v any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(httpapi.APIKeyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func tenantCSV(ids ...string) string {
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	for i, id := range ids {
		fmt.Fprintf(&b, "%s,%d.50,EUR,2026-03-0%dT10:00:00Z,Shop,completed\n", id, i+1, i+1)
	}
	return b.String()
}

// TestTenantIsolation runs the whole local pipeline with keys of three
// tenants and an admin key, and checks what each sees: the same bytes
// from two tenants are two files with two runs and two sets of rows; a
// tenant asking for another's file gets the 404 of an unknown id; lists,
// transactions, the CSV export, volumes, dead letters and webhooks are
// per tenant; the admin key sees every tenant; all of it after a restart.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	hookDefault, hookAcme := newReceiver(t), newReceiver(t)
	cfg := serveConfig{Config: server.Config{Addr: "127.0.0.1:0", Workers: 2}, DataDir: dataDir,
		Webhooks: []string{hookDefault.URL, "acme=" + hookAcme.URL}}
	s, stop := runServer(t, cfg)
	base, admin := s.URL(), s.FirstKey()
	ctx := t.Context()

	var who map[string]string
	if code, body := apiCall(t, base, admin, http.MethodGet, "/whoami", nil, &who); code != 200 || who["tenant"] != txpipe.DefaultTenant || who["role"] != txpipe.RoleAdmin {
		t.Fatalf("whoami of the first key = %d %s, want the default tenant's admin", code, body)
	}
	newKey := func(name, tenant string) string {
		var k httpapi.NewKeyAnswer
		code, body := apiCall(t, base, admin, http.MethodPost, "/keys", map[string]any{"name": name, "tenant": tenant, "rate_per_second": 1000}, &k)
		if code != http.StatusCreated || k.Tenant != txpipe.TenantOrDefault(tenant) {
			t.Fatalf("POST /keys tenant %q = %d %s", tenant, code, body)
		}
		return k.Secret
	}
	keys := map[string]string{"default": newKey("d", ""), "acme": newKey("a", "acme"), "beta": newKey("b", "beta")}
	if code, body := apiCall(t, base, admin, http.MethodPost, "/keys", map[string]any{"name": "bad", "tenant": "Not A Tenant"}, nil); code != http.StatusBadRequest {
		t.Fatalf("POST /keys with a bad tenant = %d %s, want 400", code, body)
	}
	if code, body := apiCall(t, base, keys["acme"], http.MethodGet, "/whoami", nil, &who); code != 200 || who["tenant"] != "acme" || who["role"] != "" {
		t.Fatalf("whoami of acme's key = %d %s", code, body)
	}
	client := func(tenant string) *httpapi.Client { return &httpapi.Client{Endpoint: base, APIKey: keys[tenant]} }

	// The same bytes from default and acme, uploaded concurrently ten
	// times each: one file and one run per tenant.
	shared := tenantCSV("t1", "t2", "t3")
	var mu sync.Mutex
	created := map[string]int{}
	ids := map[string]string{}
	var wg sync.WaitGroup
	for _, tenant := range []string{"default", "acme"} {
		for range 10 {
			wg.Go(func() {
				res, err := client(tenant).Upload(ctx, "shared.csv", strings.NewReader(shared))
				if err != nil {
					t.Errorf("upload of %s: %v", tenant, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if res.StatusCode == http.StatusAccepted {
					created[tenant]++
				}
				ids[tenant] = res.Record.FileID
			})
		}
	}
	wg.Wait()
	if created["default"] != 1 || created["acme"] != 1 {
		t.Fatalf("uploads that created the file: %v, want 1 per tenant", created)
	}
	if ids["default"] != ids["acme"] || strings.Contains(ids["acme"], "#") {
		t.Fatalf("file ids %v: want the same content hash for both tenants", ids)
	}
	id := ids["acme"]
	for _, tenant := range []string{"default", "acme"} {
		st, err := client(tenant).Wait(ctx, id, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != txpipe.StatusCompleted || st.Inserted != 3 || st.Attempts != 1 || st.Tenant != tenant || st.FileID != id {
			t.Fatalf("%s's record = %+v, want COMPLETED, 3 inserted in 1 attempt, tenant %s", tenant, st, tenant)
		}
	}

	// A two-step upload of beta (its signed URL names the tenant) is beta's
	// file: a record of its own for bytes default has too.
	two, err := client("beta").UploadTwoStep(ctx, "two.csv", strings.NewReader(shared), httpapi.UploadOptions{})
	if err != nil || two.Record.FileID != id {
		t.Fatalf("beta's two-step upload: %+v, %v; want file %s", two, err, id)
	}
	if st, err := client("beta").Wait(ctx, id, 20*time.Millisecond); err != nil || st.Tenant != "beta" || st.Inserted != 3 || st.Filename != "two.csv" {
		t.Fatalf("beta's two-step run: %+v, %v; want beta's COMPLETED file", st, err)
	}

	// A file only acme has is beta's and default's 404, the same answer as
	// for an id nobody has.
	acmeBytes := tenantCSV("a1", "t1")
	res, err := client("acme").Upload(ctx, "acme-only.csv", strings.NewReader(acmeBytes))
	if err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("acme upload: %v %+v", err, res)
	}
	acmeOnly := res.Record.FileID
	if _, err := client("acme").Wait(ctx, acmeOnly, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("0", 32)
	for _, tenant := range []string{"default", "beta"} {
		for _, path := range []string{"/status/%s", "/status/%s/errors.csv"} {
			code, body := apiCall(t, base, keys[tenant], http.MethodGet, fmt.Sprintf(path, acmeOnly), nil, nil)
			ucode, ubody := apiCall(t, base, keys[tenant], http.MethodGet, fmt.Sprintf(path, unknown), nil, nil)
			if code != http.StatusNotFound || strings.ReplaceAll(body, acmeOnly, unknown) != ubody || ucode != code {
				t.Errorf("%s GET %s of acme's file = %d %s; unknown id: %d %s; want the same 404", tenant, path, code, body, ucode, ubody)
			}
		}
	}
	// Naming the scoped id (as the stores keep it) reaches nothing either.
	for _, id := range []string{"acme%23" + acmeOnly, "_key%23x"} {
		if code, body := apiCall(t, base, keys["default"], http.MethodGet, "/status/"+id, nil, nil); code != http.StatusNotFound {
			t.Errorf("default GET /status/%s = %d %s, want 404", id, code, body)
		}
	}
	if code, body := apiCall(t, base, keys["acme"], http.MethodGet, "/status/"+unknown, nil, nil); code != http.StatusNotFound || strings.Contains(body, "#") {
		t.Errorf("acme GET of an unknown id = %d %s, want 404 naming the id as acme knows it", code, body)
	}
	if code, _ := apiCall(t, base, keys["beta"], http.MethodGet, "/status/"+acmeOnly+"?tenant=acme", nil, nil); code != http.StatusForbidden {
		t.Errorf("beta naming tenant acme = %d, want 403", code)
	}
	var st txpipe.FileStatus
	if code, body := apiCall(t, base, admin, http.MethodGet, "/status/"+acmeOnly+"?tenant=acme", nil, &st); code != 200 || st.Tenant != "acme" {
		t.Errorf("admin GET acme's file with ?tenant=acme = %d %s", code, body)
	}
	if code, _ := apiCall(t, base, admin, http.MethodGet, "/status/"+acmeOnly, nil, nil); code != http.StatusNotFound {
		t.Errorf("admin GET acme's file without ?tenant = %d, want 404 (its own tenant's)", code)
	}

	// Transactions: ids are per tenant (t1 is in both, unchanged by the
	// other's file); beta has none.
	checkTx := func(tenant string, want ...string) {
		t.Helper()
		page, err := client(tenant).Transactions(ctx, txpipe.TxQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tx := range page.Items {
			got = append(got, tx.ID)
			if strings.Contains(tx.FileID, "#") {
				t.Errorf("%s transaction %s shows file id %q", tenant, tx.ID, tx.FileID)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s's transactions = %v, want %v", tenant, got, want)
		}
	}
	checkTx("default", "t1", "t2", "t3")
	checkTx("acme", "a1", "t1", "t2", "t3") // acme-only.csv moved acme's t1 to day 2
	checkTx("beta", "t1", "t2", "t3")
	if st, _ := client("acme").Status(ctx, acmeOnly); st == nil || st.Inserted != 1 || st.Updated != 1 {
		t.Errorf("acme-only.csv = %+v, want a1 inserted and acme's t1 updated (default's t1 is not acme's)", st)
	}
	code, csvBody := apiCall(t, base, keys["beta"], http.MethodGet, "/transactions.csv?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", nil, nil)
	if code != 200 || strings.Count(csvBody, "\n") != 4 {
		t.Errorf("beta's CSV export = %d %q, want its 3 rows", code, csvBody)
	}
	code, csvBody = apiCall(t, base, keys["acme"], http.MethodGet, "/transactions.csv?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z", nil, nil)
	if code != 200 || strings.Count(csvBody, "\n") != 5 || strings.Contains(csvBody, "#") {
		t.Errorf("acme's CSV export = %d %q, want 4 rows", code, csvBody)
	}
	var vol httpapi.VolumesAnswer
	volRows := func(key, query string) int64 {
		t.Helper()
		if code, body := apiCall(t, base, key, http.MethodGet, "/volumes?from=2026-03-01&to=2026-04-01"+query, nil, &vol); code != 200 {
			t.Fatalf("volumes = %d %s", code, body)
		}
		var n int64
		for _, v := range vol.Items {
			n += v.Rows
		}
		return n
	}
	if d, a, b, adminAcme := volRows(keys["default"], ""), volRows(keys["acme"], ""), volRows(keys["beta"], ""), volRows(admin, "&tenant=acme"); d != 3 || a != 4 || b != 3 || adminAcme != 4 {
		t.Errorf("volume rows: default %d, acme %d, beta %d, admin ?tenant=acme %d; want 3, 4, 3, 4", d, a, b, adminAcme)
	}

	// File lists: a tenant's own; the admin's all, or one tenant's.
	listFiles := func(key, query string) []string {
		t.Helper()
		var page txpipe.FilePage
		if code, body := apiCall(t, base, key, http.MethodGet, "/files"+query, nil, &page); code != 200 {
			t.Fatalf("files%s = %d %s", query, code, body)
		}
		var out []string
		for _, f := range page.Items {
			out = append(out, f.Tenant+":"+f.Filename)
		}
		return out
	}
	if got := listFiles(keys["acme"], ""); strings.Join(got, ",") != "acme:acme-only.csv,acme:shared.csv" {
		t.Errorf("acme's files = %v", got)
	}
	if got := listFiles(keys["beta"], ""); strings.Join(got, ",") != "beta:two.csv" {
		t.Errorf("beta's files = %v, want its two-step file only", got)
	}
	if got := listFiles(admin, ""); len(got) != 4 {
		t.Errorf("admin's files = %v, want all 4", got)
	}
	if got := listFiles(admin, "?tenant=default"); strings.Join(got, ",") != "default:shared.csv" {
		t.Errorf("admin's files of default = %v", got)
	}

	// Webhooks: each receiver gets its tenant's results only.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && (len(hookDefault.notifications()) < 1 || len(hookAcme.notifications()) < 2) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a wrong extra delivery would show by now
	if got := hookDefault.notifications(); len(got) != 1 || got[0].Tenant != "default" || got[0].FileID != id {
		t.Errorf("default's receiver got %+v, want the default tenant's one run", got)
	}
	got := hookAcme.notifications()
	if len(got) != 2 {
		t.Errorf("acme's receiver got %+v, want acme's two runs", got)
	}
	for _, n := range got {
		if n.Tenant != "acme" || strings.Contains(n.FileID, "#") {
			t.Errorf("acme's receiver got %+v", n)
		}
	}
	stop()

	// Dead letters of two tenants, then a restart on the same data dir:
	// the tenants' shards are found again.
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "txpipe.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, fid := range []string{acmeOnly, txpipe.ScopedFileID("acme", acmeOnly)} {
		if err := db.SendDeadLetter(ctx, workflow.RunState{FileID: fid, FileKey: fmt.Sprintf("%x", sha256.Sum256([]byte(acmeBytes))), Filename: "failed.csv",
			Error: &workflow.StepError{Error: "TransientError", Cause: "boom"}}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, _ = runServer(t, cfg)
	base = s.URL()
	checkTx("acme", "a1", "t1", "t2", "t3")
	checkTx("default", "t1", "t2", "t3")
	dlq := func(key, query string) []txpipe.FailedRun {
		t.Helper()
		var ans struct{ Items []txpipe.FailedRun }
		if code, body := apiCall(t, base, key, http.MethodGet, "/dlq"+query, nil, &ans); code != 200 {
			t.Fatalf("dlq = %d %s", code, body)
		}
		return ans.Items
	}
	if d := dlq(keys["acme"], ""); len(d) != 1 || d[0].Tenant != "acme" || d[0].FileID != acmeOnly {
		t.Errorf("acme's dead letters = %+v", d)
	}
	if d := dlq(keys["beta"], ""); len(d) != 0 {
		t.Errorf("beta's dead letters = %+v, want none", d)
	}
	if d := dlq(admin, ""); len(d) != 2 {
		t.Errorf("admin's dead letters = %+v, want both", d)
	}
	if code, _ := apiCall(t, base, keys["beta"], http.MethodPost, "/dlq/"+acmeOnly+"/redrive", nil, nil); code != http.StatusNotFound {
		t.Errorf("beta redriving acme's file = %d, want 404", code)
	}
	if code, body := apiCall(t, base, keys["acme"], http.MethodPost, "/dlq/"+acmeOnly+"/redrive", nil, nil); code != http.StatusAccepted {
		t.Errorf("acme redriving its file = %d %s, want 202", code, body)
	}
	if d := dlq(admin, ""); len(d) != 1 || d[0].Tenant != "default" {
		t.Errorf("dead letters after acme's redrive = %+v, want default's only", d)
	}
}

// TestAPIKeyCreateTenant: `txpipe apikey create --tenant` makes a key of
// that tenant; a bad name is a usage error.
func TestAPIKeyCreateTenant(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	db := openDB(t, dataDir)
	code, out, errOut := clientCLI(t, "apikey", "create", "--name", "p", "--tenant", "partner-1", "--data-dir", dataDir, "--json")
	var created struct {
		APIKey string `json:"api_key"`
		Tenant string `json:"tenant"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &created) != nil || created.Tenant != "partner-1" {
		t.Fatalf("apikey create --tenant --json = %d %q %q", code, out, errOut)
	}
	k, err := db.LookupKey(t.Context(), httpapi.HashKey(created.APIKey))
	if err != nil || k.Tenant != "partner-1" {
		t.Errorf("stored key = %+v, %v; want tenant partner-1", k, err)
	}
	if code, _, errOut := clientCLI(t, "apikey", "create", "--name", "q", "--tenant", "Partner 1", "--data-dir", dataDir); code != exitUsage || !strings.Contains(errOut, "tenant") {
		t.Errorf("apikey create with a bad tenant = %d %q, want exit 2 naming the tenant", code, errOut)
	}
}

// TestServeOnAWSStoresTenants runs serve --aws (DynamoDB on the emulator)
// with keys of two tenants: the same bytes are two files, two records (the
// default's under its bare id) and two sets of rows with the same ids; a
// third tenant sees none of it. `txpipe apikey tenant --aws` records an API
// Gateway key's tenant in the status table.
func TestServeOnAWSStoresTenants(t *testing.T) {
	awsTestEnvWithVolumes(t)
	s, _ := runServer(t, serveConfig{Config: server.Config{Addr: "127.0.0.1:0", Workers: 2}, DataDir: t.TempDir(), AWS: true})
	base, admin := s.URL(), s.FirstKey()
	ctx := t.Context()
	keys := map[string]string{"default": admin}
	for _, tenant := range []string{"acme", "beta"} {
		var k httpapi.NewKeyAnswer
		if code, body := apiCall(t, base, admin, http.MethodPost, "/keys", map[string]any{"name": tenant, "tenant": tenant}, &k); code != http.StatusCreated {
			t.Fatalf("POST /keys: %d %s", code, body)
		}
		keys[tenant] = k.Secret
	}
	csv := tenantCSV("aws1", "aws2")
	var id string
	for _, tenant := range []string{"default", "acme"} {
		c := &httpapi.Client{Endpoint: base, APIKey: keys[tenant]}
		res, err := c.Upload(ctx, "same.csv", strings.NewReader(csv))
		if err != nil || res.StatusCode != http.StatusAccepted {
			t.Fatalf("%s upload: %v %+v", tenant, err, res)
		}
		id = res.Record.FileID
		st, err := c.Wait(ctx, id, 50*time.Millisecond)
		if err != nil || st.Status != txpipe.StatusCompleted || st.Inserted != 2 || st.Tenant != tenant {
			t.Fatalf("%s's run: %+v, %v; want COMPLETED with 2 inserted", tenant, st, err)
		}
		page, err := c.Transactions(ctx, txpipe.TxQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil || len(page.Items) != 2 || page.Items[0].FileID != id {
			t.Fatalf("%s's transactions: %+v, %v; want its 2 rows of file %s", tenant, page, err, id)
		}
		var vol httpapi.VolumesAnswer
		if code, body := apiCall(t, base, keys[tenant], http.MethodGet, "/volumes?from=2026-03-01&to=2026-04-01", nil, &vol); code != 200 || len(vol.Items) != 2 {
			t.Errorf("%s's volumes: %d %s; want 2 days", tenant, code, body)
		}
	}
	beta := &httpapi.Client{Endpoint: base, APIKey: keys["beta"]}
	if _, err := beta.Status(ctx, id); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("beta's status of the file: %v, want not found", err)
	}
	if page, err := beta.Transactions(ctx, txpipe.TxQuery{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil || len(page.Items) != 0 {
		t.Errorf("beta's transactions: %+v, %v; want none", page, err)
	}
	db := dynamodb.NewFromConfig(awstest.Config(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")))
	statuses := dynamo.NewStatusStore(db, os.Getenv(awsenv.StatusTable))
	for _, key := range []string{id, "acme#" + id} {
		if st, err := statuses.GetStatus(ctx, key); err != nil || st.Status != txpipe.StatusCompleted {
			t.Errorf("DynamoDB record %s: %+v, %v", key, st, err)
		}
	}

	code, out, errOut := cli(t, nil, "apikey", "tenant", "--aws", "k0a1b2c3d4", "--tenant", "acme", "--admin", "--json")
	if code != exitOK || !strings.Contains(out, `"tenant": "acme"`) {
		t.Fatalf("apikey tenant --aws = %d %q %q", code, out, errOut)
	}
	if tenant, role, err := statuses.KeyTenant(ctx, "k0a1b2c3d4"); err != nil || tenant != "acme" || role != txpipe.RoleAdmin {
		t.Errorf("KeyTenant = %q, %q, %v; want acme admin", tenant, role, err)
	}
	if tenant, role, err := statuses.KeyTenant(ctx, "unmapped"); err != nil || tenant != txpipe.DefaultTenant || role != "" {
		t.Errorf("KeyTenant of an unmapped key = %q, %q, %v; want the default tenant", tenant, role, err)
	}
	if code, _, _ := cli(t, nil, "apikey", "tenant", "k0a1b2c3d4", "--tenant", "acme"); code != exitUsage {
		t.Errorf("apikey tenant without --aws = %d, want 2", code)
	}
}
