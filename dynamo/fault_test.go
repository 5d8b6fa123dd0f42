//go:build integration

package dynamo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
)

// faultProxy sits between the SDK and dynalite. For a share of the
// BatchWriteItem requests it answers ProvisionedThroughputExceededException
// without forwarding, or forwards only part of the items and returns the
// rest as UnprocessedItems, as DynamoDB does under load.
type faultProxy struct {
	target    *url.URL
	client    *http.Client
	mu        sync.Mutex
	rng       *rand.Rand
	throttle  float64 // share of BatchWriteItem requests throttled
	partial   float64 // share of BatchWriteItem requests partly written
	throttled atomic.Int64
	held      atomic.Int64 // items returned unprocessed
	requests  atomic.Int64
}

func (p *faultProxy) roll() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var held map[string][]json.RawMessage
	if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.BatchWriteItem" {
		p.requests.Add(1)
		p.mu.Lock()
		throttle, partial := p.throttle, p.partial
		p.mu.Unlock()
		switch x := p.roll(); {
		case x < throttle:
			p.throttled.Add(1)
			writeJSON(w, http.StatusBadRequest, map[string]string{
				"__type":  "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
				"message": "The level of configured provisioned throughput for the table was exceeded.",
			})
			return
		case x < throttle+partial:
			var req struct {
				RequestItems map[string][]json.RawMessage
			}
			if err := json.Unmarshal(body, &req); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			held = map[string][]json.RawMessage{}
			for table, items := range req.RequestItems {
				keep := len(items) / 3 // may be 0: then nothing is written
				held[table] = items[keep:]
				req.RequestItems[table] = items[:keep]
				p.held.Add(int64(len(items) - keep))
			}
			if body, err = json.Marshal(req); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
	}
	status, respBody, header, err := p.forward(r, body, held)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

// forward sends the request to dynalite. With held items and a request
// that wrote nothing at all, it answers for dynalite; otherwise it adds the
// held items to the response's UnprocessedItems and fixes its CRC32.
func (p *faultProxy) forward(r *http.Request, body []byte, held map[string][]json.RawMessage) (int, []byte, http.Header, error) {
	empty := true
	for table := range held {
		var req struct{ RequestItems map[string][]json.RawMessage }
		_ = json.Unmarshal(body, &req)
		if len(req.RequestItems[table]) > 0 {
			empty = false
		}
	}
	if held != nil && empty {
		b, _ := json.Marshal(map[string]any{"UnprocessedItems": held})
		h := http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amz-Crc32": {strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10)}}
		return http.StatusOK, b, h, nil
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	out.Header = r.Header.Clone()
	out.ContentLength = int64(len(body))
	res, err := p.client.Do(out)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	if held == nil || res.StatusCode != http.StatusOK {
		return res.StatusCode, b, res.Header, nil
	}
	var resp map[string]any
	if err := json.Unmarshal(b, &resp); err != nil {
		return 0, nil, nil, err
	}
	un, _ := resp["UnprocessedItems"].(map[string]any)
	if un == nil {
		un = map[string]any{}
	}
	for table, items := range held {
		un[table] = items
	}
	resp["UnprocessedItems"] = un
	b, _ = json.Marshal(resp)
	h := res.Header.Clone()
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	h.Del("Content-Length")
	return res.StatusCode, b, h, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (p *faultProxy) set(throttle, partial float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttle, p.partial = throttle, partial
}

// startFaultProxy returns a client whose requests go through a fault proxy
// in front of the test dynalite.
func startFaultProxy(t *testing.T, throttle, partial float64) (*faultProxy, *dynamodb.Client) {
	t.Helper()
	target, err := url.Parse(emulator.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{target: target, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}, rng: rand.New(rand.NewPCG(1, 2)), throttle: throttle, partial: partial}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, dynamodb.NewFromConfig(awstest.Config(srv.URL))
}

func makeTxs(prefix, fileID string, base time.Time, n int) []txpipe.Transaction {
	txs := make([]txpipe.Transaction, n)
	for i := range txs {
		txs[i] = txpipe.Transaction{
			ID: fmt.Sprintf("%s-%06d", prefix, i), Amount: fmt.Sprintf("%d.%02d", i/100, i%100), AmountMinor: int64(i),
			Currency: "USD", Timestamp: base.Add(time.Duration(i) * time.Millisecond), Merchant: "Acme",
			Status: txpipe.TxCompleted, FileID: fileID,
		}
	}
	return txs
}

func putAll(t *testing.T, s *TransactionStore, txs []txpipe.Transaction) txpipe.Counts {
	t.Helper()
	var total txpipe.Counts
	for b := range slices.Chunk(txs, 1000) {
		c, err := s.PutTransactions(t.Context(), b)
		if err != nil {
			t.Fatalf("PutTransactions: %v", err)
		}
		total = total.Add(c)
	}
	return total
}

func countItems(t *testing.T, c *dynamodb.Client, table string) int {
	t.Helper()
	n := 0
	// Transactions only, not the day markers (docs/dynamodb-keys.md).
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{
		TableName: aws.String(table), Select: "COUNT",
		FilterExpression:          aws.String("NOT begins_with(#id, :marker)"),
		ExpressionAttributeNames:  map[string]string{"#id": TxKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":marker": &types.AttributeValueMemberS{Value: markerPrefix}},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n += int(out.Count)
	}
	return n
}

// listIDs lists every transaction in [from, to) and fails on a duplicate.
func listIDs(t *testing.T, s *TransactionStore, from, to time.Time) map[string]txpipe.Transaction {
	t.Helper()
	seen := map[string]txpipe.Transaction{}
	q := txpipe.TxQuery{From: from, To: to, Limit: 1000}
	for {
		page, err := s.ListTransactions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			if _, dup := seen[x.ID]; dup {
				t.Fatalf("transaction %s listed twice", x.ID)
			}
			seen[x.ID] = x
		}
		if page.NextCursor == "" {
			return seen
		}
		q.Cursor = page.NextCursor
	}
}

func TestFaultsEveryRowLandsOnce(t *testing.T) {
	proxy, faulty := startFaultProxy(t, 0.25, 0.25)
	direct := client(t)
	table := newTxTable(t, direct)
	s := NewTransactionStore(faulty, table, WithRetry(30, time.Millisecond, 50*time.Millisecond))
	base := time.Date(2026, 4, 30, 23, 59, 58, 0, time.UTC) // the rows span two days
	const n = 3000

	a := makeTxs("tx", "file-a", base, n)
	if got, want := putAll(t, s, a), (txpipe.Counts{Inserted: n}); got != want {
		t.Fatalf("file a: counts %+v, want %+v", got, want)
	}
	if got := countItems(t, direct, table); got != n {
		t.Fatalf("after file a: %d items in the table, want %d", got, n)
	}
	// File b changes every third row and adds 500 rows.
	b := makeTxs("tx", "file-b", base, n+500)
	for i := range b {
		if i%3 == 0 && i < n {
			b[i].Merchant = "Other"
		}
	}
	want := txpipe.Counts{Inserted: 500, Updated: n / 3, Unchanged: n - n/3}
	if got := putAll(t, s, b); got != want {
		t.Fatalf("file b: counts %+v, want %+v", got, want)
	}
	// The Express workflow may run file b again: the counts stay.
	if got := putAll(t, s, b); got != want {
		t.Fatalf("file b again: counts %+v, want %+v", got, want)
	}
	if got := countItems(t, direct, table); got != n+500 {
		t.Fatalf("after file b: %d items in the table, want %d", got, n+500)
	}
	listed := listIDs(t, NewTransactionStore(direct, table), base, base.Add(time.Hour))
	if got := len(listed); got != n+500 {
		t.Fatalf("listed %d transactions, want %d", got, n+500)
	}
	for i, x := range b {
		got := listed[x.ID]
		wantFile := "file-b"
		if i%3 != 0 && i < n {
			wantFile = "file-a" // unchanged rows keep their first file
		}
		if got.Merchant != x.Merchant || got.FileID != wantFile {
			t.Fatalf("%s: merchant %q file %q, want %q %q", x.ID, got.Merchant, got.FileID, x.Merchant, wantFile)
		}
	}
	if proxy.throttled.Load() == 0 || proxy.held.Load() == 0 {
		t.Fatalf("the proxy injected no faults: %d throttled, %d items held", proxy.throttled.Load(), proxy.held.Load())
	}
	t.Logf("%d BatchWriteItem requests, %d throttled, %d items returned unprocessed",
		proxy.requests.Load(), proxy.throttled.Load(), proxy.held.Load())
}

func TestFaultsGiveUpTransientThenResume(t *testing.T) {
	proxy, faulty := startFaultProxy(t, 0.7, 0.3)
	table := newTxTable(t, client(t))
	s := NewTransactionStore(faulty, table, WithRetry(2, time.Millisecond, 2*time.Millisecond))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	txs := makeTxs("tx", "file-a", base, 1000)

	_, err := s.PutTransactions(t.Context(), txs)
	if got, want := txpipe.ErrorCode(err), txpipe.ETRANSIENT; got != want {
		t.Fatalf("PutTransactions through a mostly failing proxy: %v (code %q), want code %q", err, got, want)
	}
	// The step is retried once the table recovers: every row is counted
	// once, whatever the failed try had written.
	proxy.set(0, 0)
	c, err := s.PutTransactions(t.Context(), txs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c, (txpipe.Counts{Inserted: 1000}); got != want {
		t.Fatalf("resumed: counts %+v, want %+v", got, want)
	}
	if got := countItems(t, client(t), table); got != 1000 {
		t.Fatalf("%d items in the table, want 1000", got)
	}
}
