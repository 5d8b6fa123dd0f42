//go:build integration

package dynamo

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/workflow"
)

// BenchmarkPutTransactions writes batches of workflow.MaxBatch new
// transactions into dynalite, as the transformer does, and reports items/s
// with the processor time each item cost this process (the SDK and the
// adapter) and the emulator, which tells which of them is the ceiling.
//
//	go test -tags integration ./dynamo -run '^$' -bench PutTransactions -benchtime 20x -cpuprofile cpu.out
func BenchmarkPutTransactions(b *testing.B) {
	c := client(b)
	s := NewTransactionStore(c, newTxTable(b, c))
	base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	emuStart, emuErr := emulator.Server(b).CPUTime()
	ownStart := ownCPU(b)
	items := 0
	for i := 0; b.Loop(); i++ {
		txs := makeTxs(fmt.Sprintf("b%d", i), "file-bench", base.Add(time.Duration(i)*time.Second), workflow.MaxBatch)
		cnt, err := s.PutTransactions(b.Context(), txs)
		if err != nil {
			b.Fatal(err)
		}
		if cnt.Inserted != workflow.MaxBatch {
			b.Fatalf("counts %+v, want %d inserted", cnt, workflow.MaxBatch)
		}
		items += len(txs)
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64((ownCPU(b)-ownStart).Microseconds())/float64(items), "go-cpu-µs/item")
	if emuEnd, err := emulator.Server(b).CPUTime(); err == nil && emuErr == nil {
		b.ReportMetric(float64((emuEnd-emuStart).Microseconds())/float64(items), "emulator-cpu-µs/item")
	}
}

// ownCPU is the processor time this process has used.
func ownCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPutTransactionsCodeOnly measures the ceiling of this process
// alone: the same calls over real HTTP to a loopback endpoint that answers
// every BatchGetItem with no items and every BatchWriteItem with nothing
// unprocessed, in no time. It is not a test of behaviour (the emulator
// tests are); it shows how fast the adapter and the SDK could go against a
// server faster than dynalite.
func BenchmarkPutTransactionsCodeOnly(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.BatchGetItem":
			_, _ = io.WriteString(w, `{"Responses":{},"UnprocessedKeys":{}}`)
		case "DynamoDB_20120810.BatchWriteItem":
			_, _ = io.WriteString(w, `{"UnprocessedItems":{}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"com.amazon.coral.validate#ValidationException","message":"unexpected"}`)
		}
	}))
	defer srv.Close()
	s := NewTransactionStore(dynamodb.NewFromConfig(awstest.Config(srv.URL)), "transactions-bench")
	base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	ownStart := ownCPU(b)
	items := 0
	for i := 0; b.Loop(); i++ {
		txs := makeTxs(fmt.Sprintf("b%d", i), "file-bench", base.Add(time.Duration(i)*time.Second), workflow.MaxBatch)
		if _, err := s.PutTransactions(b.Context(), txs); err != nil {
			b.Fatal(err)
		}
		items += len(txs)
	}
	b.ReportMetric(float64(items)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64((ownCPU(b)-ownStart).Microseconds())/float64(items), "cpu-µs/item")
}
