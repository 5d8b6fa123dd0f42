//go:build integration

package dynamo

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/storetest"
)

// The volumes need TransactWriteItems, which dynalite does not have
// (architect/dynalite#151): these tests run the store on moto_server's
// DynamoDB, with the real SDK client.
var motoEmulator = awstest.NewEmulator("moto_server", awstest.StartMoto)

// serialProxy sits between the SDK and moto. It passes one request at a
// time: moto runs a transaction on a copy of the table and puts the copy
// back when the transaction fails, which would undo the writes of requests
// running beside it; DynamoDB isolates a transaction from every other
// write, which one request at a time models. The clients still run their
// requests concurrently, interleaved request by request.
//
// It can also answer like DynamoDB under faults: a share of the
// TransactWriteItems requests is cancelled with TransactionConflict without
// being forwarded, and a share is forwarded and then answered 500, so the
// client does not know its transaction was written.
type serialProxy struct {
	target   string
	client   *http.Client
	mu       sync.Mutex
	conflict float64
	lost     float64
	rng      *rand.Rand

	conflicts, lostAnswers atomic.Int64
}

func (p *serialProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lose := false
	if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.TransactWriteItems" {
		switch x := p.rng.Float64(); {
		case x < p.conflict:
			p.conflicts.Add(1)
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
				"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
				"CancellationReasons": []map[string]string{{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}},
			})
			return
		case x < p.conflict+p.lost:
			lose = true
		}
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.ContentLength = int64(len(body))
	res, err := p.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if lose && res.StatusCode == http.StatusOK {
		p.lostAnswers.Add(1)
		writeJSON(w, http.StatusInternalServerError, map[string]string{
			"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "Internal server error",
		})
		return
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(b)
}

// volumeStore returns a store that keeps volumes, on a fresh moto table
// behind a serialProxy with the given fault shares.
func volumeStore(t *testing.T, conflict, lost float64, opts ...Option) (*TransactionStore, *serialProxy) {
	t.Helper()
	p := &serialProxy{target: motoEmulator.URL(t), client: &http.Client{}, conflict: conflict, lost: lost, rng: rand.New(rand.NewPCG(3, 4))}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	c := dynamodb.NewFromConfig(awstest.Config(srv.URL))
	opts = append([]Option{WithVolumes(), WithTimeShards(2), WithRetry(20, time.Millisecond, 20*time.Millisecond)}, opts...)
	return NewTransactionStore(c, newTxTable(t, c), opts...), p
}

func TestVolumesContract(t *testing.T) {
	storetest.TestVolumes(t, func(t *testing.T) storetest.VolumeStore {
		s, _ := volumeStore(t, 0, 0)
		return s
	})
}

// Under cancelled transactions and answers lost after the write, the
// counts and the volumes stay exact: a retry reads the rows again and
// writes only what is not written.
func TestVolumesUnderFaults(t *testing.T) {
	var proxies []*serialProxy
	storetest.TestVolumes(t, func(t *testing.T) storetest.VolumeStore {
		s, p := volumeStore(t, 0.3, 0.3)
		proxies = append(proxies, p)
		return s
	})
	if len(proxies) == 0 {
		return // skipped (-short, or no moto outside CI)
	}
	var conflicts, lost int64
	for _, p := range proxies {
		conflicts += p.conflicts.Load()
		lost += p.lostAnswers.Load()
	}
	if conflicts == 0 || lost == 0 {
		t.Errorf("faults injected: %d conflicts, %d lost answers; want some of each", conflicts, lost)
	}
	t.Logf("faults injected: %d cancelled transactions, %d answers lost after the write", conflicts, lost)
}

// A legacy row (written without volumes) is not counted; rewriting it with
// other values counts the new values and subtracts nothing.
func TestVolumesLegacyRows(t *testing.T) {
	s, _ := volumeStore(t, 0, 0)
	plain := NewTransactionStore(motoClientOf(t, s), s.table)
	day := time.Date(2022, 2, 2, 10, 0, 0, 0, time.UTC)
	old := []txpipe.Transaction{{ID: "legacy", Amount: "1.00", AmountMinor: 100, Currency: "USD", Timestamp: day, Merchant: "m", Status: txpipe.TxCompleted, FileID: "f0"}}
	if _, err := plain.PutTransactions(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	upd := old[0]
	upd.FileID, upd.Amount, upd.AmountMinor = "f1", "2.00", 200
	if c, err := s.PutTransactions(t.Context(), []txpipe.Transaction{upd}); err != nil || c.Updated != 1 {
		t.Fatalf("update of a legacy row: %+v, %v", c, err)
	}
	got, err := s.Volumes(t.Context(), day.Truncate(24*time.Hour), day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rows != 1 || got[0].AmountMinor != 200 {
		t.Errorf("Volumes = %+v, want one USD row of 200", got)
	}
}

func motoClientOf(t *testing.T, s *TransactionStore) *dynamodb.Client {
	t.Helper()
	c, ok := s.get.(*dynamodb.Client)
	if !ok {
		t.Fatal("store without a DynamoDB client")
	}
	return c
}

// TestTenantVolumes: with volumes kept, tenants' rows still never meet, and
// each tenant's volumes count its own rows only.
func TestTenantVolumes(t *testing.T) {
	s, _ := volumeStore(t, 0, 0)
	storetest.TestTenantsApart(t, s)
	ctx := t.Context()
	day := time.Date(2032, 2, 3, 10, 0, 0, 0, time.UTC)
	for i, tenant := range []string{txpipe.DefaultTenant, "acme"} {
		var txs []txpipe.Transaction
		for k := range i + 1 {
			txs = append(txs, txpipe.Transaction{ID: "v" + strconv.Itoa(k), Amount: "2.00", AmountMinor: 200, Currency: "EUR",
				Timestamp: day, Merchant: "m", Status: txpipe.TxCompleted, FileID: txpipe.ScopedFileID(tenant, "vf")})
		}
		if _, err := s.PutTransactions(ctx, txs); err != nil {
			t.Fatal(err)
		}
	}
	for tenant, want := range map[string]int64{txpipe.DefaultTenant: 1, "acme": 2, "beta": 0} {
		v, err := s.TenantVolumes(ctx, tenant, day.Truncate(24*time.Hour), day.Truncate(24*time.Hour).Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var rows int64
		for _, x := range v {
			rows += x.Rows
		}
		if rows != want {
			t.Errorf("%s's volume rows on %s = %d (%+v), want %d", tenant, day.Format(time.DateOnly), rows, v, want)
		}
	}
}

// BenchmarkVolumesYear reads the volumes of a year with rows on every day
// (366 marked days: 2,928 aggregate keys, 30 BatchGetItem requests) from
// moto. The figure is moto's, not DynamoDB's: it counts the requests a
// chart costs, which the store makes 8 at a time.
// Run it with: go test -tags integration ./dynamo -run '^$' -bench VolumesYear -benchtime 5x
func BenchmarkVolumesYear(b *testing.B) {
	c := dynamodb.NewFromConfig(awstest.Config(awstest.Serialize(b, motoEmulator.URL(b))))
	s := NewTransactionStore(c, newTxTable(b, c), WithVolumes())
	start := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	var rows []txpipe.Transaction
	for d := range 366 {
		rows = append(rows, txpipe.Transaction{ID: "y-" + start.AddDate(0, 0, d).Format(time.DateOnly), Amount: "1.00", AmountMinor: 100,
			Currency: []string{"USD", "EUR", "JPY"}[d%3], Timestamp: start.AddDate(0, 0, d), Merchant: "m", Status: txpipe.TxCompleted, FileID: "f"})
	}
	if _, err := s.PutTransactions(b.Context(), rows); err != nil {
		b.Fatal(err)
	}
	from, to := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		v, err := s.Volumes(b.Context(), from, to)
		if err != nil {
			b.Fatal(err)
		}
		if len(v) != 366 {
			b.Fatalf("%d volumes, want 366", len(v))
		}
	}
}
