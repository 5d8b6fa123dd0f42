package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/iso4217"
)

// Volumes: rows and amount per UTC day and currency, kept exact as rows are
// written (see WithVolumes and docs/dynamodb-keys.md).
//
// The aggregate lives in the transactions table, in items no transaction
// can have: transaction_id is volPrefix + "YYYY-MM-DD" + NUL + shard, with
// two number attributes per currency, "r_<CUR>" (rows) and "m_<CUR>"
// (amount in minor units). They have no by-time keys, so the index never
// holds them. A day's aggregate is split over volShards items so that
// writers of one busy day spread their updates (an item takes about 1,000
// writes a second, and two transactions on one item at once conflict).
const (
	volPrefix = "\x00vol\x00"
	volShards = 8

	// attrCounted marks a row whose values are counted in the volumes. A
	// row written before the store kept volumes lacks it: updating it adds
	// the new values and subtracts nothing.
	attrCounted = "counted"

	// maxTransactItems is DynamoDB's limit of actions in one
	// TransactWriteItems request.
	maxTransactItems = 100
)

type transactWriter interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// WithVolumes makes PutTransactions keep the per-day, per-currency volumes
// that Volumes reads. Each row is then written in a TransactWriteItems
// request together with the ADD updates of the aggregate, on the condition
// that the stored row is still the one the write was computed from: the
// aggregate changes exactly when the rows do, whatever is retried,
// repeated or run twice at once. It costs twice the write units of a plain
// write (DynamoDB charges transactions double) and needs a DynamoDB that
// has transactions (dynalite does not; moto and AWS do).
func WithVolumes() Option {
	return func(o *options) { o.volumes = true }
}

func volKey(day string, shard int) string { return volPrefix + day + "\x00" + strconv.Itoa(shard) }

// volWrite is a row to write and the stored item it replaces (nil for an
// insert).
type volWrite struct {
	t       *txpipe.Transaction
	outcome string
	old     map[string]types.AttributeValue
}

// volDelta is rows and minor units by day, then currency.
type volDelta map[string]map[string]*[2]int64

func (d volDelta) add(day, currency string, rows, minor int64) {
	m := d[day]
	if m == nil {
		m = map[string]*[2]int64{}
		d[day] = m
	}
	v := m[currency]
	if v == nil {
		v = new([2]int64)
		m[currency] = v
	}
	v[0] += rows
	v[1] += minor
}

// days returns the days of d a write adds to it (one or two).
func (w *volWrite) days() []string {
	out := []string{dayOf(w.t.Timestamp)}
	if w.old != nil && w.old[attrCounted] != nil {
		if ts, err := time.Parse(timeLayout, str(w.old, attrTimestamp)); err == nil && dayOf(ts) != out[0] {
			out = append(out, dayOf(ts))
		}
	}
	return out
}

// apply adds what the write changes to d: the new values in, the old ones
// (if they were counted) out.
func (w *volWrite) apply(d volDelta) {
	d.add(dayOf(w.t.Timestamp), w.t.Currency, 1, w.t.AmountMinor)
	if w.old == nil || w.old[attrCounted] == nil {
		return
	}
	ts, err := time.Parse(timeLayout, str(w.old, attrTimestamp))
	if err != nil {
		return
	}
	var minor int64
	if n, ok := w.old[attrAmountMinor].(*types.AttributeValueMemberN); ok {
		minor, _ = strconv.ParseInt(n.Value, 10, 64)
	}
	d.add(dayOf(ts), str(w.old, attrCurrency), -1, -minor)
}

// volTxn is one TransactWriteItems request: rows and the aggregate updates
// of their days.
type volTxn struct {
	writes []volWrite
	delta  volDelta
}

// packVolWrites groups writes into requests of at most maxTransactItems
// actions (one per row, one per day's aggregate item), rows of a day
// together.
func packVolWrites(writes []volWrite) []*volTxn {
	slices.SortFunc(writes, func(a, b volWrite) int { return a.t.Timestamp.Compare(b.t.Timestamp) })
	var out []*volTxn
	cur := &volTxn{delta: volDelta{}}
	for i := range writes {
		w := &writes[i]
		added := 0
		for _, d := range w.days() {
			if cur.delta[d] == nil {
				added++
			}
		}
		if len(cur.writes) > 0 && len(cur.writes)+len(cur.delta)+1+added > maxTransactItems {
			out = append(out, cur)
			cur = &volTxn{delta: volDelta{}}
		}
		cur.writes = append(cur.writes, *w)
		w.apply(cur.delta)
	}
	if len(cur.writes) > 0 {
		out = append(out, cur)
	}
	return out
}

// condition is the condition of a row's put: the stored item is still the
// one the write was computed from, in every value the aggregate and the
// counts depend on (nil old: no item).
func condition(old map[string]types.AttributeValue) (string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#id": TxKey}
	if old == nil {
		return "attribute_not_exists(#id)", names, nil
	}
	vals := map[string]types.AttributeValue{}
	var parts []string
	for i, a := range []string{attrFileID, attrTimestamp, attrCurrency, attrAmountMinor, attrCounted, attrOutcome} {
		n := "#a" + strconv.Itoa(i)
		names[n] = a
		if v, ok := old[a]; ok {
			vals[":a"+strconv.Itoa(i)] = v
			parts = append(parts, n+" = :a"+strconv.Itoa(i))
		} else {
			parts = append(parts, "attribute_not_exists("+n+")")
		}
	}
	parts = append(parts, "attribute_exists(#id)")
	return strings.Join(parts, " AND "), names, vals
}

// transact writes one request's rows and aggregate updates, or nothing.
func (s *TransactionStore) transact(ctx context.Context, txn *volTxn) error {
	items := make([]types.TransactWriteItem, 0, len(txn.writes)+len(txn.delta))
	for _, w := range txn.writes {
		item := s.item(w.t, w.outcome)
		item[attrCounted] = &types.AttributeValueMemberBOOL{Value: true}
		cond, names, vals := condition(w.old)
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table), Item: item,
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		}})
	}
	shard := rand.N(volShards)
	days := make([]string, 0, len(txn.delta))
	for d := range txn.delta {
		days = append(days, d)
	}
	slices.Sort(days)
	for _, day := range days {
		curs := txn.delta[day]
		codes := make([]string, 0, len(curs))
		for c, v := range curs {
			if *v != [2]int64{} {
				codes = append(codes, c)
			}
		}
		if len(codes) == 0 {
			continue // a row moved within its day and currency, same amount
		}
		slices.Sort(codes)
		names := map[string]string{}
		vals := map[string]types.AttributeValue{}
		adds := make([]string, 0, len(codes))
		for i, c := range codes {
			v := curs[c]
			k := strconv.Itoa(i)
			names["#r"+k], names["#m"+k] = "r_"+c, "m_"+c
			vals[":r"+k] = &types.AttributeValueMemberN{Value: strconv.FormatInt(v[0], 10)}
			vals[":m"+k] = &types.AttributeValueMemberN{Value: strconv.FormatInt(v[1], 10)}
			adds = append(adds, "#r"+k+" :r"+k+", #m"+k+" :m"+k)
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: s.prefix + volKey(day, shard)}},
			UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}})
	}
	_, err := s.tx.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}, ownRetries)
	return err
}

// retryable reports whether a failed transaction may be computed again and
// retried: cancelled (a row changed since it was read, or another
// transaction held an item) or transient (throttled, timed out: it may
// have been written, which the next read shows).
func retryable(err error) bool {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if c := aws.ToString(r.Code); c == "ValidationError" || c == "ItemCollectionSizeLimitExceeded" {
				return false
			}
		}
		return true
	}
	k := kindOf(err)
	return k == txpipe.ETRANSIENT || k == txpipe.ECONFLICT
}

// putCounted is PutTransactions of a store that keeps volumes: groups of
// up to 100 rows, several at once, each read, classified and written in
// transactions with their aggregate updates; rows of a cancelled
// transaction are read and classified again.
func (s *TransactionStore) putCounted(ctx context.Context, txs []txpipe.Transaction, now time.Time) (txpipe.Counts, error) {
	rows := make([]txpipe.Transaction, len(txs))
	days := make(map[string]bool)
	for i := range txs {
		t := txs[i] // a copy: the caller's slice is not changed
		t.Timestamp = t.Timestamp.UTC()
		if t.IngestedAt.IsZero() {
			t.IngestedAt = now
		}
		rows[i] = t
		days[dayOf(t.Timestamp)] = true
	}
	if err := s.markDays(ctx, days); err != nil {
		return txpipe.Counts{}, err
	}
	var mu sync.Mutex
	var total txpipe.Counts
	n := (len(rows) + maxBatchGet - 1) / maxBatchGet
	err := parallel(ctx, n, s.o.concurrency, func(ctx context.Context, i int) error {
		c, err := s.putCountedGroup(ctx, rows[i*maxBatchGet:min(len(rows), (i+1)*maxBatchGet)])
		if err != nil {
			return err
		}
		mu.Lock()
		total.Inserted += c.Inserted
		total.Updated += c.Updated
		total.Unchanged += c.Unchanged
		mu.Unlock()
		return nil
	})
	if err != nil {
		return txpipe.Counts{}, err
	}
	return total, nil
}

func (s *TransactionStore) putCountedGroup(ctx context.Context, rows []txpipe.Transaction) (txpipe.Counts, error) {
	var c txpipe.Counts
	pending := rows
	for attempt := 1; ; attempt++ {
		keys := make([]map[string]types.AttributeValue, len(pending))
		for i := range pending {
			keys[i] = map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: s.prefix + pending[i].ID}}
		}
		stored, err := s.getItems(ctx, keys)
		if err != nil {
			return c, err
		}
		var writes []volWrite
		for i := range pending {
			t := &pending[i]
			old, ok := stored[s.prefix+t.ID]
			switch {
			case !ok:
				writes = append(writes, volWrite{t: t, outcome: outcomeInserted})
			case str(old, attrFileID) == t.FileID:
				// Written by this file before: a retried, resumed or
				// repeated write.
				if str(old, attrOutcome) == outcomeUpdated {
					c.Updated++
				} else {
					c.Inserted++
				}
			case sameValues(old, t):
				c.Unchanged++
			default:
				writes = append(writes, volWrite{t: t, outcome: outcomeUpdated, old: old})
			}
		}
		var again []txpipe.Transaction
		var lastErr error
		for _, txn := range packVolWrites(writes) {
			err := s.transact(ctx, txn)
			if err != nil {
				if !retryable(err) {
					return c, translate(err, "write %d transactions and their volumes to %s", len(txn.writes), s.table)
				}
				lastErr = err
				for _, w := range txn.writes {
					again = append(again, *w.t)
				}
				continue
			}
			for _, w := range txn.writes {
				if w.outcome == outcomeUpdated {
					c.Updated++
				} else {
					c.Inserted++
				}
			}
		}
		if len(again) == 0 {
			return c, nil
		}
		if attempt >= s.o.maxAttempts {
			return c, txpipe.Errorf(txpipe.ETRANSIENT, "write %d transactions to %s: not written after %d attempts: %w", len(again), s.table, attempt, lastErr)
		}
		if err := s.o.backoff(ctx, attempt); err != nil {
			return c, fmt.Errorf("write %d transactions: %w", len(again), err)
		}
		pending = again
	}
}

// Volumes returns the rows and amount per UTC day and currency of the
// transactions with from <= day < to (UTC midnights), by day then
// currency. It reads the aggregate items of the days that have a marker
// (consistent reads, 100 a request, several in flight), never the rows:
// its cost follows the days asked, not the rows stored. A store made
// without WithVolumes answers EUNSUPPORTED: it does not keep them.
func (s *TransactionStore) Volumes(ctx context.Context, from, to time.Time) ([]txpipe.Volume, error) {
	if !s.o.volumes {
		return nil, txpipe.Errorf(txpipe.EUNSUPPORTED, "volumes: the transactions table %s is written without them (TXPIPE_VOLUMES=off)", s.table)
	}
	out := []txpipe.Volume{}
	if !from.Before(to) {
		return out, nil
	}
	walk := dayWalk{first: dayOf(from), last: dayOf(to.Add(-time.Nanosecond)), pageSize: maxDayPage}
	var keys []map[string]types.AttributeValue
	for {
		day, ok, err := walk.next(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("volumes: %w", err)
		}
		if !ok {
			break
		}
		for sh := range volShards {
			keys = append(keys, map[string]types.AttributeValue{TxKey: &types.AttributeValueMemberS{Value: s.prefix + volKey(day, sh)}})
		}
	}
	items, err := s.getItems(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	type key struct{ day, currency string }
	sums := map[key]*[2]int64{}
	for id, item := range items {
		rest := strings.TrimPrefix(id, s.prefix+volPrefix)
		day, _, _ := strings.Cut(rest, "\x00")
		for name, v := range item {
			n, ok := v.(*types.AttributeValueMemberN)
			if !ok || len(name) < 3 || name[1] != '_' || (name[0] != 'r' && name[0] != 'm') {
				continue
			}
			x, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				return nil, txpipe.Errorf(txpipe.EINTERNAL, "volumes: item %q attribute %s: %w", rest, name, err)
			}
			k := key{day, name[2:]}
			sum := sums[k]
			if sum == nil {
				sum = new([2]int64)
				sums[k] = sum
			}
			if name[0] == 'r' {
				sum[0] += x
			} else {
				sum[1] += x
			}
		}
	}
	for k, v := range sums {
		if v[0] == 0 {
			continue // every row moved away
		}
		out = append(out, txpipe.Volume{Day: k.day, Currency: k.currency, Rows: v[0], AmountMinor: v[1], Amount: iso4217.FormatMinor(v[1], k.currency)})
	}
	slices.SortFunc(out, func(a, b txpipe.Volume) int {
		if c := strings.Compare(a.Day, b.Day); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return out, nil
}
