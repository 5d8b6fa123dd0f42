package lambda_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// killOnce fails one PutTransactions call, after a number of them, once:
// a chunk killed mid-write (its earlier batches are stored).
type killOnce struct {
	workflow.TransactionWriter
	calls, at atomic.Int64
}

func (k *killOnce) PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error) {
	n := k.calls.Add(1)
	if k.at.CompareAndSwap(n, 0) {
		// Half the batch is written, then the writer dies.
		if _, err := k.TransactionWriter.PutTransactions(ctx, txs[:len(txs)/2]); err != nil {
			return txpipe.Counts{}, err
		}
		return txpipe.Counts{}, txpipe.Errorf(txpipe.ETRANSIENT, "killed mid-write")
	}
	return k.TransactionWriter.PutTransactions(ctx, txs)
}

// machine runs the generated States Language of def the way Step Functions
// would for the states txpipe uses (Task on lambda:invoke, Choice, Map with
// ItemSelector, Succeed), sending each payload as JSON to invoke.
type machine struct {
	states map[string]map[string]any
	start  string
	invoke func(fn string, payload []byte) ([]byte, error)
}

func newMachine(t *testing.T, def workflow.Definition, invoke func(string, []byte) ([]byte, error)) *machine {
	b, err := workflow.ASL(def)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		StartAt string
		States  map[string]map[string]any
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &machine{states: m.States, start: m.StartAt, invoke: invoke}
}

// path reads a "$.a" or "$$.Map.Item.Value" path.
func path(p string, doc map[string]any, item any) any {
	switch {
	case p == "$":
		return doc
	case p == "$$.Map.Item.Value":
		return item
	case strings.HasPrefix(p, "$."):
		return doc[strings.TrimPrefix(p, "$.")]
	}
	return nil
}

// fill evaluates a Parameters/ItemSelector template.
func fill(tmpl map[string]any, doc map[string]any, item any) map[string]any {
	out := map[string]any{}
	for k, v := range tmpl {
		switch {
		case strings.HasSuffix(k, ".$"):
			out[strings.TrimSuffix(k, ".$")] = path(v.(string), doc, item)
		default:
			if sub, ok := v.(map[string]any); ok {
				out[k] = fill(sub, doc, item)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

func (m *machine) task(st map[string]any, doc map[string]any, item any) (map[string]any, error) {
	params := fill(st["Parameters"].(map[string]any), doc, item)
	payload, _ := json.Marshal(params["Payload"])
	fn := params["FunctionName"].(string)
	retries := 0
	if r, ok := st["Retry"].([]any); ok && len(r) > 0 {
		retries = int(r[0].(map[string]any)["MaxAttempts"].(float64))
	}
	for attempt := 0; ; attempt++ {
		out, err := m.invoke(fn, payload)
		if err == nil {
			var res map[string]any
			if err := json.Unmarshal(out, &res); err != nil {
				return nil, err
			}
			return res, nil // OutputPath $.Payload
		}
		// The Lambda runtime names a returned error by its type: a
		// *workflow.TransientError is "TransientError", which Retry lists.
		var te *workflow.TransientError
		if attempt >= retries || !errors.As(err, &te) {
			return nil, err
		}
	}
}

func (m *machine) run(input map[string]any) (string, map[string]any, error) {
	doc, name := input, m.start
	for {
		st := m.states[name]
		switch st["Type"] {
		case "Task":
			out, err := m.task(st, doc, nil)
			if err != nil {
				return name, doc, err
			}
			doc = out
		case "Choice":
			next := st["Default"].(string)
			if r, _ := doc["rejected"].(bool); r {
				next = st["Choices"].([]any)[0].(map[string]any)["Next"].(string)
			}
			name = next
			continue
		case "Map":
			proc := st["ItemProcessor"].(map[string]any)
			child := proc["States"].(map[string]any)[proc["StartAt"].(string)].(map[string]any)
			var results []any
			items, _ := doc[strings.TrimPrefix(st["ItemsPath"].(string), "$.")].([]any)
			for _, item := range items {
				in := fill(st["ItemSelector"].(map[string]any), doc, item)
				out, err := m.task(child, in, nil)
				if err != nil {
					return name, doc, err
				}
				results = append(results, out)
			}
			doc["chunk_results"] = results
		case "Succeed":
			return name, doc, nil
		default:
			return name, doc, fmt.Errorf("state %s of type %v", name, st["Type"])
		}
		if end, _ := st["End"].(bool); end {
			return name, doc, nil
		}
		name = st["Next"].(string)
	}
}

// TestStateMachineOnS3: a two-step upload's bytes land in S3 (gofakes3);
// the real EventBridge event starts the run; the generated state machine
// drives the validator and transformer handlers (JSON in, JSON out, as
// Lambda): Validate streams the object from S3 and claims it, Split cuts
// chunks, each chunk reads its byte range from S3, one chunk is killed
// mid-write and retried, and the counts are exact.
func TestStateMachineOnS3(t *testing.T) {
	ctx := context.Background()
	client := newBucket(t, awstest.Config(awstest.StartS3(t)))
	store := s3store.New(client, uploadBucket)
	db := sqlitetest.Open(t)

	// 5 chunks of 2 batches each; under -short of 400 rows (1,000 in the
	// full run, where the default is 20,000).
	rows, chunkRows := 5000, 1000
	if testing.Short() {
		rows, chunkRows = 2000, 400
	}
	var csv bytes.Buffer
	if err := txgen.Write(&csv, txgen.Options{Rows: rows, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(csv.Bytes())
	hexSum := hex.EncodeToString(sum[:])
	// Declared, then the client's PUT lands under incoming/.
	decl := &workflow.Uploads{Statuses: db}
	if _, _, err := decl.Declare(ctx, workflow.Declaration{Filename: "month.csv", SizeBytes: int64(csv.Len()), SHA256: hexSum}); err != nil {
		t.Fatal(err)
	}
	putIncoming(t, client, csv.Bytes())

	kill := &killOnce{TransactionWriter: db}
	kill.at.Store(7) // the 7th batch: inside the 2nd chunk
	invoke := stepInvoker(ctx, &workflow.Tasks{Files: store, Uploads: store, Statuses: db, ChunkRows: int64(chunkRows)},
		&workflow.Tasks{Files: store, Transactions: kill, Statuses: db, BatchSize: chunkRows / 2}, &workflow.Tasks{Statuses: db, Notifier: &notes{}})
	def := workflow.Pipeline()

	// The bytes arrived: the EventBridge event starts the run.
	end, out, err := newMachine(t, def, invoke).run(startFromEvent(t, hexSum, csv.Len()))
	if err != nil {
		t.Fatalf("execution failed at %s: %v", end, err)
	}
	if end != workflow.StepNotify {
		t.Errorf("execution ended at %s, want %s", end, workflow.StepNotify)
	}
	st, err := db.GetStatus(ctx, txpipe.FileIDFromSHA256(hexSum))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusCompleted || st.Rows != int64(rows) || st.Counts() != (txpipe.Counts{Inserted: int64(rows)}) || st.Filename != "month.csv" {
		t.Errorf("status %s rows %d counts %+v filename %q, want COMPLETED, %d inserted, month.csv", st.Status, st.Rows, st.Counts(), st.Filename, rows)
	}
	if kill.at.Load() != 0 {
		t.Error("no chunk was killed mid-write")
	}
	if out["chunks"] != nil {
		t.Errorf("the final state still carries the chunk list")
	}
	// Claimed: no object left under incoming/.
	if _, err := store.OpenUpload(ctx, s3store.IncomingKey(hexSum)); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("incoming object after Validate: %v, want it claimed", err)
	}
	page, err := db.ListTransactions(ctx, txpipe.TxQuery{From: time.Unix(0, 0), To: time.Now().AddDate(10, 0, 0), Limit: 1000})
	if err != nil || len(page.Items) != 1000 {
		t.Errorf("transactions readable: %d, %v", len(page.Items), err)
	}
}
