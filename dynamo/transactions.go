// Package dynamo implements txpipe's tables on Amazon DynamoDB with
// aws-sdk-go-v2: the transactions table (workflow.TransactionWriter plus
// the time-range query of the HTTP API) and the file status table
// (workflow.StatusStore). docs/dynamodb-keys.md explains the key design.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.TransactionWriter = (*TransactionStore)(nil)

// The DynamoDB calls the adapter makes, one interface each, so tests can put
// faults in front of the real client.
type (
	batchGetter interface {
		BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	}
	batchWriter interface {
		BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	}
	querier interface {
		Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	}
	scanner interface {
		Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	}
)

// DynamoDB request limits.
const (
	maxBatchWrite = 25  // items per BatchWriteItem
	maxBatchGet   = 100 // keys per BatchGetItem
)

// Item attributes besides the keys.
const (
	attrAmount      = "amount"
	attrAmountMinor = "amount_minor"
	attrCurrency    = "currency"
	attrTimestamp   = "timestamp"
	attrMerchant    = "merchant"
	attrStatus      = "status"
	attrFileID      = "file_id"
	attrIngestedAt  = "ingested_at"
	attrOutcome     = "outcome" // "inserted" or "updated": what the write of file_id did

	outcomeInserted = "inserted"
	outcomeUpdated  = "updated"
)

// Day markers: one item per UTC day that holds (or once held)
// transactions, so a time-range query visits only those days. A marker's
// transaction_id starts with NUL, which no valid transaction id holds (the
// contract rejects control characters, PutTransactions rejects NUL); all
// markers share the by-time partition dayBucket, sorted by day, which no
// transaction's bucket ("YYYY-MM-DD#<shard>") can equal.
const (
	markerPrefix = "\x00day\x00" // transaction_id of a marker: markerPrefix + "YYYY-MM-DD"
	dayBucket    = "#days"       // time_bucket of every marker; time_key is "YYYY-MM-DD"

	// maxMarkedDays bounds the days a store remembers having marked; when
	// it is full the store forgets them all and marks again (markers are
	// idempotent puts).
	maxMarkedDays = 4096

	// First and largest number of markers read by one Query of dayBucket.
	firstDayPage, maxDayPage = 16, 1024
)

// timeLayout is a fixed-width UTC timestamp: as text it sorts as the time.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Option configures a TransactionStore or a StatusStore.
type Option func(*options)

type options struct {
	shards      int
	concurrency int
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
	now         workflow.Clock
	volumes     bool
}

func newOptions(opts []Option) options {
	o := options{
		shards: DefaultTimeShards, concurrency: 8,
		maxAttempts: 10, baseDelay: 20 * time.Millisecond, maxDelay: 2 * time.Second,
		now: time.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithTimeShards sets how many shards a day bucket of the by-time index is
// split into (TXPIPE_TIME_SHARDS; default 8). Writers and readers of one
// table must agree on it.
func WithTimeShards(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.shards = n
		}
	}
}

// WithConcurrency sets how many batch requests one call keeps in flight
// (default 8).
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	}
}

// WithRetry sets how often a batch with unprocessed items or a transient
// error is tried (default 10) and the bounds of the exponential back-off
// between tries (default 20ms to 2s, with jitter).
func WithRetry(maxAttempts int, base, max time.Duration) Option {
	return func(o *options) {
		if maxAttempts > 0 {
			o.maxAttempts = maxAttempts
		}
		if base > 0 {
			o.baseDelay = base
		}
		if max >= base {
			o.maxDelay = max
		}
	}
}

// WithClock sets the clock that stamps IngestedAt and lists recent files.
func WithClock(now workflow.Clock) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// backoff sleeps before try attempt+1 (attempt counts from 1): exponential
// with "equal jitter", so tries spread out but never fire at once.
func (o *options) backoff(ctx context.Context, attempt int) error {
	d := o.baseDelay << min(attempt-1, 20)
	if d > o.maxDelay || d <= 0 {
		d = o.maxDelay
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// TransactionStore is the transactions table.
type TransactionStore struct {
	get   batchGetter
	write batchWriter
	query querier
	scan  scanner
	tx    transactWriter
	table string
	o     options

	mu     sync.Mutex
	marked map[string]bool // days whose marker this store has written

	// prefix starts every key of a tenant's view (tenantPrefix); "" for
	// the default tenant. tenants holds the views (nil in a view).
	prefix  string
	tenants *tenantStores
}

// NewTransactionStore returns the transactions table named table.
func NewTransactionStore(client *dynamodb.Client, table string, opts ...Option) *TransactionStore {
	return &TransactionStore{get: client, write: client, query: client, scan: client, tx: client, table: table, o: newOptions(opts),
		marked: make(map[string]bool), tenants: &tenantStores{views: map[string]*TransactionStore{}}}
}

// timeBucket returns the by-time partition of a transaction.
func (s *TransactionStore) timeBucket(ts time.Time, id string) string {
	return s.prefix + dayOf(ts) + "#" + strconv.Itoa(shardOf(id, s.o.shards))
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func shardOf(id string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(shards))
}

func (s *TransactionStore) item(t *txpipe.Transaction, outcome string) map[string]types.AttributeValue {
	ts := fmtTime(t.Timestamp)
	return map[string]types.AttributeValue{
		TxKey:           &types.AttributeValueMemberS{Value: s.prefix + t.ID},
		attrAmount:      &types.AttributeValueMemberS{Value: t.Amount},
		attrAmountMinor: &types.AttributeValueMemberN{Value: strconv.FormatInt(t.AmountMinor, 10)},
		attrCurrency:    &types.AttributeValueMemberS{Value: t.Currency},
		attrTimestamp:   &types.AttributeValueMemberS{Value: ts},
		attrMerchant:    &types.AttributeValueMemberS{Value: t.Merchant},
		attrStatus:      &types.AttributeValueMemberS{Value: t.Status},
		attrFileID:      &types.AttributeValueMemberS{Value: t.FileID},
		attrIngestedAt:  &types.AttributeValueMemberS{Value: fmtTime(t.IngestedAt)},
		attrOutcome:     &types.AttributeValueMemberS{Value: outcome},
		TimeBucketKey:   &types.AttributeValueMemberS{Value: s.timeBucket(t.Timestamp, t.ID)},
		TimeSortKey:     &types.AttributeValueMemberS{Value: ts + "#" + t.ID},
	}
}

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// decodeTx turns a stored item back into a transaction.
func decodeTx(item map[string]types.AttributeValue) (txpipe.Transaction, error) {
	t := txpipe.Transaction{
		ID: str(item, TxKey), Amount: str(item, attrAmount), Currency: str(item, attrCurrency),
		Merchant: str(item, attrMerchant), Status: str(item, attrStatus), FileID: str(item, attrFileID),
	}
	var err error
	if n, ok := item[attrAmountMinor].(*types.AttributeValueMemberN); ok {
		if t.AmountMinor, err = strconv.ParseInt(n.Value, 10, 64); err != nil {
			return t, fmt.Errorf("transaction %s: amount_minor: %w", t.ID, err)
		}
	}
	if t.Timestamp, err = time.Parse(timeLayout, str(item, attrTimestamp)); err != nil {
		return t, fmt.Errorf("transaction %s: timestamp: %w", t.ID, err)
	}
	if t.IngestedAt, err = time.Parse(timeLayout, str(item, attrIngestedAt)); err != nil {
		return t, fmt.Errorf("transaction %s: ingested_at: %w", t.ID, err)
	}
	return t, nil
}

// sameValues reports whether the stored item holds t's values (the ones a
// file sets; not FileID nor IngestedAt).
func sameValues(item map[string]types.AttributeValue, t *txpipe.Transaction) bool {
	n, _ := item[attrAmountMinor].(*types.AttributeValueMemberN)
	return n != nil && n.Value == strconv.FormatInt(t.AmountMinor, 10) &&
		str(item, attrAmount) == t.Amount && str(item, attrCurrency) == t.Currency &&
		str(item, attrTimestamp) == fmtTime(t.Timestamp) && str(item, attrMerchant) == t.Merchant &&
		str(item, attrStatus) == t.Status
}

// PutTransactions implements workflow.TransactionWriter: it reads the
// stored items of txs, classifies each row (inserted, the outcome of its
// file's first write, unchanged, updated), marks the rows' days, then writes
// only the inserted and updated items; items left unwritten after the
// retries fail the call with ETRANSIENT. docs/dynamodb-keys.md ("Writing a
// batch", "Limits") has the requests, retries and the concurrent-writer case.
func (s *TransactionStore) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	var c txpipe.Counts
	if len(txs) == 0 {
		return c, nil
	}
	// A tenant's rows are keyed apart (tenants.go).
	if v := s.forTenant(txpipe.TenantOfFileID(txs[0].FileID)); v != s {
		return v.PutTransactions(ctx, txs)
	}
	now := s.o.now().UTC()
	keys := make([]map[string]types.AttributeValue, 0, len(txs))
	seen := make(map[string]bool, len(txs))
	for i := range txs {
		if seen[txs[i].ID] {
			return c, txpipe.Errorf(txpipe.EINVALID, "transaction %q appears twice in one batch", txs[i].ID)
		}
		if strings.IndexByte(txs[i].ID, 0) >= 0 {
			// Valid ids hold no control character; NUL is the markers' own.
			return c, txpipe.Errorf(txpipe.EINVALID, "transaction id %q holds a NUL character", txs[i].ID)
		}
		seen[txs[i].ID] = true
		keys = append(keys, map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: s.prefix + txs[i].ID}})
	}
	if s.o.volumes {
		return s.putCounted(ctx, txs, now)
	}
	stored, err := s.getItems(ctx, keys)
	if err != nil {
		return c, err
	}
	var writes []types.WriteRequest
	days := make(map[string]bool)
	for i := range txs {
		t := txs[i] // a copy: the caller's slice is not changed
		t.Timestamp = t.Timestamp.UTC()
		// Every day of the batch, written or not: a day stored before
		// markers existed gets its marker when its rows come again.
		days[dayOf(t.Timestamp)] = true
		if t.IngestedAt.IsZero() {
			t.IngestedAt = now
		}
		old, ok := stored[s.prefix+t.ID]
		outcome := outcomeInserted
		switch {
		case !ok:
		case str(old, attrFileID) == t.FileID:
			// Written by this file before: a retried or resumed run.
			if str(old, attrOutcome) == outcomeUpdated {
				c.Updated++
			} else {
				c.Inserted++
			}
			continue
		case sameValues(old, &t):
			c.Unchanged++
			continue
		default:
			outcome = outcomeUpdated
		}
		if outcome == outcomeInserted {
			c.Inserted++
		} else {
			c.Updated++
		}
		writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: s.item(&t, outcome)}})
	}
	if err := s.markDays(ctx, days); err != nil {
		return txpipe.Counts{}, err
	}
	if err := s.writeItems(ctx, writes); err != nil {
		return txpipe.Counts{}, err
	}
	return c, nil
}

// markDays writes the markers of the days this store has not marked yet,
// and returns when they are all written.
func (s *TransactionStore) markDays(ctx context.Context, days map[string]bool) error {
	s.mu.Lock()
	var writes []types.WriteRequest
	for day := range days {
		if !s.marked[day] {
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: markerItem(s.prefix, day)}})
		}
	}
	s.mu.Unlock()
	if len(writes) == 0 {
		return nil
	}
	if err := s.writeItems(ctx, writes); err != nil {
		return fmt.Errorf("mark %d days with transactions: %w", len(writes), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marked)+len(writes) > maxMarkedDays {
		clear(s.marked)
	}
	for day := range days {
		s.marked[day] = true
	}
	return nil
}

// markerItem is the marker of day ("YYYY-MM-DD") of the tenant whose
// keys start with prefix.
func markerItem(prefix, day string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		TxKey:         &types.AttributeValueMemberS{Value: prefix + markerPrefix + day},
		TimeBucketKey: &types.AttributeValueMemberS{Value: prefix + dayBucket},
		TimeSortKey:   &types.AttributeValueMemberS{Value: day},
	}
}

func isMarker(item map[string]types.AttributeValue) bool {
	return strings.Contains(str(item, TxKey), markerPrefix)
}

// MarkStoredDays writes the marker of every UTC day that holds a
// transaction in the table, and returns how many days it found. It is the
// one-time backfill of a table with rows written before day markers
// existed (ListTransactions does not see them until their day is marked).
// It scans the whole table, reading only the timestamps (one read unit per
// 4 KB of items, eventually consistent), and keeps the set of days in
// memory; running it again, or while files are written, is harmless.
func (s *TransactionStore) MarkStoredDays(ctx context.Context) (int, error) {
	done := make(map[string]bool)
	in := &dynamodb.ScanInput{
		TableName:                aws.String(s.table),
		ProjectionExpression:     aws.String("#ts"),
		ExpressionAttributeNames: map[string]string{"#ts": attrTimestamp},
	}
	for {
		res, err := s.scan.Scan(ctx, in)
		if err != nil {
			return len(done), translate(err, "scan %s for the days with transactions", s.table)
		}
		var writes []types.WriteRequest
		for _, item := range res.Items {
			ts, err := time.Parse(timeLayout, str(item, attrTimestamp))
			if err != nil {
				continue // a marker: it has no timestamp
			}
			if day := dayOf(ts); !done[day] {
				done[day] = true
				writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: markerItem("", day)}})
			}
		}
		if err := s.writeItems(ctx, writes); err != nil {
			return len(done), fmt.Errorf("mark %d days with transactions: %w", len(writes), err)
		}
		if res.LastEvaluatedKey == nil {
			return len(done), nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// getItems reads the items of keys, consistently, and returns them by
// transaction id.
func (s *TransactionStore) getItems(ctx context.Context, keys []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	out := make(map[string]map[string]types.AttributeValue, len(keys))
	var mu sync.Mutex
	n := (len(keys) + maxBatchGet - 1) / maxBatchGet
	err := parallel(ctx, n, s.o.concurrency, func(ctx context.Context, i int) error {
		pending := keys[i*maxBatchGet : min(len(keys), (i+1)*maxBatchGet)]
		for attempt := 1; ; attempt++ {
			res, err := s.get.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: pending, ConsistentRead: aws.Bool(true)}},
			}, ownRetries)
			if err != nil {
				if kindOf(err) == txpipe.ETRANSIENT && attempt < s.o.maxAttempts {
					if err := s.o.backoff(ctx, attempt); err != nil {
						return fmt.Errorf("read %d transactions: %w", len(pending), err)
					}
					continue
				}
				return translate(err, "read %d transactions from %s", len(pending), s.table)
			}
			mu.Lock()
			for _, item := range res.Responses[s.table] {
				out[str(item, TxKey)] = item
			}
			mu.Unlock()
			pending = res.UnprocessedKeys[s.table].Keys
			if len(pending) == 0 {
				return nil
			}
			if attempt >= s.o.maxAttempts {
				return txpipe.Errorf(txpipe.ETRANSIENT, "read transactions from %s: %d keys unprocessed after %d attempts", s.table, len(pending), attempt)
			}
			if err := s.o.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("read %d transactions: %w", len(pending), err)
			}
		}
	})
	return out, err
}

// writeItems writes the requests in batches of 25, several in flight,
// retrying unprocessed items and transient errors with back-off.
func (s *TransactionStore) writeItems(ctx context.Context, writes []types.WriteRequest) error {
	n := (len(writes) + maxBatchWrite - 1) / maxBatchWrite
	return parallel(ctx, n, s.o.concurrency, func(ctx context.Context, i int) error {
		pending := writes[i*maxBatchWrite : min(len(writes), (i+1)*maxBatchWrite)]
		size := len(pending)
		for attempt := 1; ; attempt++ {
			res, err := s.write.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{s.table: pending},
			}, ownRetries)
			switch {
			case err != nil && (kindOf(err) != txpipe.ETRANSIENT || attempt >= s.o.maxAttempts):
				return translate(err, "write batch of %d to %s", size, s.table)
			case err == nil:
				pending = res.UnprocessedItems[s.table]
				if len(pending) == 0 {
					return nil
				}
				if attempt >= s.o.maxAttempts {
					return txpipe.Errorf(txpipe.ETRANSIENT, "write batch of %d to %s: %d items unprocessed after %d attempts",
						size, s.table, len(pending), attempt)
				}
			}
			if err := s.o.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("write batch of %d to %s: %w", size, s.table, err)
			}
		}
	})
}

// ownRetries turns the SDK's retries off for the batch calls: the adapter
// retries them itself (transient errors and unprocessed items alike) with
// its own bounded back-off, so a throttled batch is not retried by two
// layers with two back-off schedules.
func ownRetries(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// parallel runs fn(ctx, 0..n-1) with at most limit calls at once and
// returns the first error, cancelling the calls still running.
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 1 {
		return fn(ctx, 0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(limit, 1))
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// cursor is the position of a page: the time_key of its last item.
type cursor struct {
	Key string `json:"k"`
}

func encodeCursor(key string) string {
	b, _ := json.Marshal(cursor{Key: key})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the time_key in c and its time, checking that the
// cursor belongs to a query of [from, to).
func decodeCursor(c string, from, to time.Time) (string, time.Time, error) {
	bad := func(why string) error {
		return txpipe.Errorf(txpipe.EINVALID, "invalid cursor: %s", why)
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > 2048 {
		return "", time.Time{}, bad("not a cursor of this API")
	}
	var cur cursor
	if err := json.Unmarshal(b, &cur); err != nil {
		return "", time.Time{}, bad("not a cursor of this API")
	}
	if len(cur.Key) < len(timeLayout)+2 || cur.Key[len(timeLayout)] != '#' {
		return "", time.Time{}, bad("not a cursor of this API")
	}
	ts, err := time.Parse(timeLayout, cur.Key[:len(timeLayout)])
	if err != nil {
		return "", time.Time{}, bad("not a cursor of this API")
	}
	if ts.Before(from) || !ts.Before(to) {
		return "", time.Time{}, bad("it belongs to another time range")
	}
	return cur.Key, ts, nil
}

// ListTransactions returns the transactions with q.From <= timestamp <
// q.To, oldest first (ties by id), q.Limit at a time.
//
// It walks the UTC days of the range that have a marker (read from the
// marker partition of the by-time index as it goes); for each it queries
// the day's shards of the index in parallel and merges them in time_key
// order, fetching more of a shard only when the merge needs it. The cursor is the
// time_key of the page's last item. A full page has a cursor (the next page
// may then be empty); a short page is the last.
func (s *TransactionStore) ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	if err := txpipe.CheckTenant(txpipe.TenantOrDefault(q.Tenant)); err != nil {
		return txpipe.TxPage{}, err
	}
	if v := s.forTenant(q.Tenant); v != s {
		return v.ListTransactions(ctx, q)
	}
	if q.Merchant == "" && q.Currency == "" {
		return s.listTransactions(ctx, q)
	}
	return s.listFiltered(ctx, q)
}

// listFiltered serves a query with merchant or currency filters: the index
// has no key for them, so it reads the range's pages in order and keeps the
// matching rows, until a page is full or the range ends. The cursor is the
// time_key of the last row kept.
func (s *TransactionStore) listFiltered(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	limit := q.PageSize()
	inner := q
	inner.Merchant, inner.Currency, inner.Limit = "", "", txpipe.MaxTxLimit
	page := txpipe.TxPage{Items: []txpipe.Transaction{}}
	for {
		p, err := s.listTransactions(ctx, inner)
		if err != nil {
			return txpipe.TxPage{}, err
		}
		for i := range p.Items {
			t := &p.Items[i]
			if !q.Matches(t) {
				continue
			}
			if len(page.Items) == limit {
				last := &page.Items[limit-1]
				page.NextCursor = encodeCursor(fmtTime(last.Timestamp) + "#" + last.ID)
				return page, nil
			}
			page.Items = append(page.Items, *t)
		}
		if p.NextCursor == "" {
			return page, nil
		}
		inner.Cursor = p.NextCursor
	}
}

func (s *TransactionStore) listTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	limit := q.PageSize()
	from, to := q.From.UTC(), q.To.UTC()
	page := txpipe.TxPage{Items: []txpipe.Transaction{}}
	if !from.Before(to) {
		if q.Cursor != "" {
			return page, txpipe.Errorf(txpipe.EINVALID, "invalid cursor: it belongs to another time range")
		}
		return page, nil
	}
	lo, start := fmtTime(from), from
	if q.Cursor != "" {
		key, ts, err := decodeCursor(q.Cursor, from, to)
		if err != nil {
			return page, err
		}
		lo, start = key+"\x00", ts // the smallest string after key
	}
	hi := fmtTime(to) // no time_key equals it: each has "#id" after the time
	lastKey := ""
	walk := dayWalk{first: dayOf(start), last: dayOf(to.Add(-time.Nanosecond)), pageSize: firstDayPage}
	for {
		day, ok, err := walk.next(ctx, s)
		if err != nil {
			return txpipe.TxPage{}, err
		}
		if !ok {
			break
		}
		items, err := s.queryDay(ctx, day, lo, hi, limit-len(page.Items))
		if err != nil {
			return txpipe.TxPage{}, err
		}
		for _, item := range items {
			if isMarker(item) {
				continue // never in a day's bucket; kept out whatever happens
			}
			t, err := decodeTx(item)
			if err != nil {
				return txpipe.TxPage{}, txpipe.Errorf(txpipe.EINTERNAL, "list transactions from %s: %w", s.table, err)
			}
			t.ID = strings.TrimPrefix(t.ID, s.prefix)
			page.Items = append(page.Items, t)
			lastKey = str(item, TimeSortKey)
		}
		if len(page.Items) == limit {
			page.NextCursor = encodeCursor(lastKey)
			break
		}
	}
	return page, nil
}

// dayWalk lists the marked days from first to last ("YYYY-MM-DD", both
// included), in order, reading the marker partition a page at a time with
// pages growing from firstDayPage to maxDayPage: a page of transactions
// that fills in a day or two reads few markers.
type dayWalk struct {
	first, last string
	pageSize    int32
	days        []string
	start       map[string]types.AttributeValue
	started     bool
}

// next returns the next marked day; ok is false after the last.
func (w *dayWalk) next(ctx context.Context, s *TransactionStore) (day string, ok bool, err error) {
	for len(w.days) == 0 {
		if w.started && w.start == nil {
			return "", false, nil
		}
		res, err := s.query.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(TimeIndex),
			KeyConditionExpression:   aws.String("#b = :b AND #k BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#b": TimeBucketKey, "#k": TimeSortKey},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":b":  &types.AttributeValueMemberS{Value: s.prefix + dayBucket},
				":lo": &types.AttributeValueMemberS{Value: w.first},
				":hi": &types.AttributeValueMemberS{Value: w.last},
			},
			ProjectionExpression: aws.String("#k"),
			ExclusiveStartKey:    w.start,
			Limit:                aws.Int32(w.pageSize),
		})
		if err != nil {
			return "", false, translate(err, "query %s index %s for the days from %s to %s", s.table, TimeIndex, w.first, w.last)
		}
		w.started, w.start = true, res.LastEvaluatedKey
		w.pageSize = min(4*w.pageSize, maxDayPage)
		for _, item := range res.Items {
			w.days = append(w.days, str(item, TimeSortKey))
		}
	}
	day, w.days = w.days[0], w.days[1:]
	return day, true, nil
}

// shard is one shard's part of a day: the items fetched and not merged yet,
// and where its next page starts.
type shard struct {
	bucket  string
	items   []map[string]types.AttributeValue
	next    map[string]types.AttributeValue
	started bool
}

func (sh *shard) more() bool { return !sh.started || sh.next != nil }

// queryDay returns the first n items of the day with lo <= time_key <= hi,
// in time_key order, merged from the day's shards.
func (s *TransactionStore) queryDay(ctx context.Context, day, lo, hi string, n int) ([]map[string]types.AttributeValue, error) {
	shards := make([]*shard, s.o.shards)
	for i := range shards {
		shards[i] = &shard{bucket: s.prefix + day + "#" + strconv.Itoa(i)}
	}
	// A shard holds about n/shards of the day's next n items; ask for twice
	// that so most merges need one request a shard.
	pageSize := int32(min(n, 2*n/len(shards)+2))
	fill := func(need []*shard) error {
		return parallel(ctx, len(need), s.o.concurrency, func(ctx context.Context, i int) error {
			sh := need[i]
			for len(sh.items) == 0 && sh.more() {
				if err := s.fetch(ctx, sh, lo, hi, pageSize); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := fill(shards); err != nil {
		return nil, err
	}
	var out []map[string]types.AttributeValue
	for len(out) < n {
		var empty []*shard
		for _, sh := range shards {
			if len(sh.items) == 0 && sh.more() {
				empty = append(empty, sh)
			}
		}
		if len(empty) > 0 {
			if err := fill(empty); err != nil {
				return nil, err
			}
		}
		var best *shard
		for _, sh := range shards {
			if len(sh.items) > 0 && (best == nil || str(sh.items[0], TimeSortKey) < str(best.items[0], TimeSortKey)) {
				best = sh
			}
		}
		if best == nil {
			break
		}
		out = append(out, best.items[0])
		best.items = best.items[1:]
	}
	return out, nil
}

// fetch reads the next page of a shard.
func (s *TransactionStore) fetch(ctx context.Context, sh *shard, lo, hi string, limit int32) error {
	res, err := s.query.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(TimeIndex),
		KeyConditionExpression: aws.String("#b = :b AND #k BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{
			"#b": TimeBucketKey, "#k": TimeSortKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":b":  &types.AttributeValueMemberS{Value: sh.bucket},
			":lo": &types.AttributeValueMemberS{Value: lo},
			":hi": &types.AttributeValueMemberS{Value: hi},
		},
		ExclusiveStartKey: sh.next,
		Limit:             aws.Int32(limit),
	})
	if err != nil {
		return translate(err, "query %s index %s bucket %s", s.table, TimeIndex, sh.bucket)
	}
	sh.started = true
	sh.items = append(sh.items, res.Items...)
	sh.next = res.LastEvaluatedKey
	return nil
}
