package workflow_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// A file cut into chunks (300 rows each here) in another dialect than the
// default is read by every chunk as the intake read it, and a chunk written
// twice (a duplicated or retried child) changes no count.
func TestChunksKeepFormatAndCountsExact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(t)
	ctx := context.Background()
	data := generate(t, 1000, 9)
	semi := []byte(strings.ReplaceAll(string(data), ",", ";"))
	st, _, err := e.intake.Submit(ctx, upload(t, "semi.csv", semi))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != txpipe.StatusValidated {
		t.Fatalf("semicolon file: %s %+v, want VALIDATED", st.Status, st.Errors)
	}
	done := waitStatus(t, e, st.FileID, txpipe.StatusCompleted)
	if got, want := done.Counts(), (txpipe.Counts{Inserted: 1000}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}

	// Split and write one chunk again, as a duplicated child would.
	steps := &workflow.Tasks{Files: e.files, Transactions: e.db, Statuses: e.db, ChunkRows: 300}
	split, err := steps.Split(ctx, workflow.RunState{FileID: st.FileID, FileKey: st.SHA256, Rows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(split.Chunks) != 0 || split.Counts == nil || *split.Counts != done.Counts() {
		t.Fatalf("Split of a completed file: %d chunks, counts %v; want none and the recorded counts", len(split.Chunks), split.Counts)
	}
}

// Split cuts at row boundaries, whatever the row lengths and quoting: the
// chunks cover every byte after the header once, and each decodes alone.
func TestSplitCutsWholeRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var b bytes.Buffer
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\r\n")
	for i := range 1000 {
		merchant := "Shop"
		if i%7 == 0 {
			merchant = `"Quoted, with ""quotes"""`
		}
		b.WriteString("t" + strings.Repeat("x", i%13) + itoa(i) + ",1.00,USD,2026-01-01T00:00:00Z," + merchant + ",completed\r\n")
		if i%50 == 0 {
			b.WriteString("\r\n")
		}
	}
	up := upload(t, "q.csv", b.Bytes())
	if err := e.files.PutFile(ctx, up.SHA256, bytes.NewReader(b.Bytes())); err != nil {
		t.Fatal(err)
	}
	fileID := txpipe.FileIDFromSHA256(up.SHA256)
	steps := &workflow.Tasks{Files: e.files, Transactions: e.db, Statuses: e.db, ChunkRows: 300}
	st, err := steps.Split(ctx, workflow.RunState{FileID: fileID, FileKey: up.SHA256, Rows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.Chunks); got != 4 {
		t.Fatalf("%d chunks, want 4", got)
	}
	pos := st.HeaderEnd
	var total txpipe.Counts
	for _, c := range st.Chunks {
		if c.Start != pos {
			t.Errorf("chunk %d starts at %d, want %d", c.Index, c.Start, pos)
		}
		pos = c.End
		out, err := steps.TransformChunk(ctx, st, c)
		if err != nil {
			t.Fatalf("chunk %d: %v", c.Index, err)
		}
		again, err := steps.TransformChunk(ctx, st, c)
		if err != nil || *again.Counts != *out.Counts {
			t.Errorf("chunk %d written again: %+v, %v; want the first write's %+v", c.Index, again.Counts, err, out.Counts)
		}
		total = total.Add(*out.Counts)
	}
	if pos != int64(b.Len()) {
		t.Errorf("chunks end at %d, the file at %d", pos, b.Len())
	}
	if got, want := total, (txpipe.Counts{Inserted: 1000}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if got := countStored(t, e); got != 1000 {
		t.Errorf("stored %d transactions, want 1000", got)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
