package lambda_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe/lambda"
)

// TestKeyTenants: a request's tenant comes from its event's apiKeyId, read
// once per key and TTL.
func TestKeyTenants(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "events", "apigw-get-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	r, err := lambda.NewRequest(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := lambda.APIKeyID(r.Context()); got != "9r2kq1xv0b" {
		t.Fatalf("APIKeyID = %q, want the event's 9r2kq1xv0b", got)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lookups := 0
	k := &lambda.KeyTenants{TTL: time.Minute, Now: func() time.Time { return now },
		Lookup: func(ctx context.Context, keyID string) (string, string, error) {
			lookups++
			return map[string]string{"9r2kq1xv0b": "acme"}[keyID], "", nil
		}}
	for range 3 {
		id, err := k.Identify(r)
		if err != nil || id.Tenant != "acme" || id.Name != "9r2kq1xv0b" {
			t.Fatalf("Identify = %+v, %v; want acme", id, err)
		}
	}
	if lookups != 1 {
		t.Errorf("%d lookups for 3 requests within the TTL, want 1", lookups)
	}
	now = now.Add(time.Minute)
	k.Identify(r)
	if lookups != 2 {
		t.Errorf("%d lookups after the TTL, want 2", lookups)
	}
	other, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "/status/x", nil)
	if id, err := k.Identify(other); err != nil || id.Tenant != "default" {
		t.Errorf("a request without a key id = %+v, %v; want the default tenant", id, err)
	}
}
