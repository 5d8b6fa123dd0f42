package workflow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/workflow"
)

// memUploads is an upload store in memory (S3's incoming/ prefix) that can
// read from an offset, counting the reads that start over.
type memUploads struct {
	files   workflow.FileStore
	objects map[string][]byte
	opens   atomic.Int32
}

func (m *memUploads) OpenUpload(ctx context.Context, key string) (io.ReadCloser, error) {
	return m.OpenUploadAt(ctx, key, 0)
}

func (m *memUploads) OpenUploadAt(_ context.Context, key string, off int64) (io.ReadCloser, error) {
	b, ok := m.objects[key]
	if !ok {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "no upload %s", key)
	}
	m.opens.Add(1)
	return io.NopCloser(bytes.NewReader(b[off:])), nil
}

func (m *memUploads) ClaimUpload(ctx context.Context, key, fileKey string) error {
	if err := m.files.PutFile(ctx, fileKey, bytes.NewReader(m.objects[key])); err != nil {
		return err
	}
	delete(m.objects, key)
	return nil
}

// countingFiles counts the whole-file reads of a file store.
type countingFiles struct {
	workflow.FileStore
	opens atomic.Int32
}

func (c *countingFiles) OpenFile(ctx context.Context, key string) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.FileStore.OpenFile(ctx, key)
}

// twoStep runs a two-step upload of data through the steps as the state
// machine does: Validate, Split, each chunk, Finish. It returns the state
// after Split and the status record at the end.
func twoStep(t *testing.T, e *env, data []byte, chunkRows int64, format *csvschema.Format) (workflow.RunState, *txpipe.FileStatus, *memUploads, *countingFiles) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	decl := &workflow.Uploads{Statuses: e.db}
	if _, _, err := decl.Declare(ctx, workflow.Declaration{Filename: "big.csv", SizeBytes: int64(len(data)), SHA256: hexSum}); err != nil {
		t.Fatal(err)
	}
	up := &memUploads{files: e.files, objects: map[string][]byte{"incoming/" + hexSum: data}}
	files := &countingFiles{FileStore: e.files}
	steps := &workflow.Tasks{Files: files, Uploads: up, Transactions: e.db, Statuses: e.db, BatchSize: 100, ChunkRows: chunkRows}
	st := workflow.RunState{FileID: txpipe.FileIDFromSHA256(hexSum), FileKey: hexSum, UploadKey: "incoming/" + hexSum, Format: format}
	st, err := steps.Validate(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected {
		rec, _ := e.db.GetStatus(ctx, st.FileID)
		return st, rec, up, files
	}
	st, err = steps.Split(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	split := st
	splitOpens := files.opens.Load()
	for _, c := range st.Chunks {
		out, err := steps.TransformChunk(ctx, st, c)
		if err != nil {
			t.Fatalf("chunk %d: %v", c.Index, err)
		}
		st.ChunkResults = append(st.ChunkResults, workflow.ChunkResult{Rows: out.Rows, Counts: out.Counts})
	}
	if _, err := steps.Finish(ctx, st); err != nil {
		t.Fatal(err)
	}
	rec, err := e.db.GetStatus(ctx, st.FileID)
	if err != nil {
		t.Fatal(err)
	}
	files.opens.Store(splitOpens)
	return split, rec, up, files
}

// A two-step upload is read once before its chunks: Validate records the
// row boundaries while it validates, and Split keeps them without opening
// the file. The chunks are the ones Split finds by decoding the file.
func TestValidateCutsChunksInOnePass(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := generate(t, 2500, 21)
	split, rec, up, files := twoStep(t, e, data, 300, nil)
	if got := files.opens.Load(); got != 0 {
		t.Errorf("Validate and Split opened the stored file %d times, want 0 (Validate found the chunks)", got)
	}
	if got := up.opens.Load(); got != 1 {
		t.Errorf("the upload was read %d times, want once", got)
	}
	if len(split.Chunks) != 9 || split.Chunks[8].Rows != 100 || split.Chunks[8].End != int64(len(data)) {
		t.Fatalf("chunks %+v, want 8 of 300 rows and one of 100 ending at %d", split.Chunks, len(data))
	}
	if rec.Status != txpipe.StatusProcessing || rec.Counts() != (txpipe.Counts{Inserted: 2500}) {
		t.Errorf("status %s counts %+v, want 2500 inserted", rec.Status, rec.Counts())
	}
	// The same chunks as decoding the stored file (the path of a file the
	// intake validated).
	steps := &workflow.Tasks{Files: e.files, Transactions: e.db, Statuses: e.db, ChunkRows: 300}
	again, err := steps.Split(context.Background(), workflow.RunState{FileID: split.FileID, FileKey: split.FileKey, Rows: split.Rows})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Chunks) != fmt.Sprint(split.Chunks) || again.HeaderEnd != split.HeaderEnd {
		t.Errorf("decoded chunks %+v (header %d), Validate's %+v (header %d)", again.Chunks, again.HeaderEnd, split.Chunks, split.HeaderEnd)
	}
}

// Duplicate ids are found by hash and resolved on a second read of the
// upload from S3 (not by keeping every id in memory); the second read does
// not disturb the SHA-256 check, and the lines are exact.
func TestValidateRereadsUploadForDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := generate(t, 2000, 22)
	lines := strings.SplitAfter(string(data), "\n")
	id := strings.SplitN(lines[10], ",", 2)[0] // row 10 is on line 11
	lines[1500] = id + "," + strings.SplitN(lines[1500], ",", 2)[1]
	dup := []byte(strings.Join(lines, ""))
	_, rec, up, _ := twoStep(t, e, dup, 300, nil)
	if rec.Status != txpipe.StatusRejected || rec.ErrorCount != 1 {
		t.Fatalf("status %s, %d errors %+v; want REJECTED with 1", rec.Status, rec.ErrorCount, rec.Errors)
	}
	if e0 := rec.Errors[0]; e0.Line != 1501 || !strings.Contains(e0.Message, "first on line 11") {
		t.Errorf("error %+v, want line 1501, first on line 11", e0)
	}
	if got := up.opens.Load(); got != 2 {
		t.Errorf("the upload was read %d times, want 2 (the second for the candidates)", got)
	}
}

// A file in a single-byte encoding or in UTF-16 is cut into chunks like
// UTF-8 (at its own line-end bytes or code units), and its chunks store the
// same transactions as the file in one chunk, by Validate's cuts (a
// two-step upload) and by Split's (a file the intake took in).
func TestNonUTF8FilesSplitIntoChunks(t *testing.T) {
	t.Parallel()
	// Letters beyond ASCII, quoted separators and quotes, CRLF.
	var sb strings.Builder
	sb.WriteString("transaction_id,amount,currency,timestamp,merchant,status\r\n")
	for i := range 1000 {
		merchant := "Café Zürich"
		if i%3 == 0 {
			merchant = `"Bäckerei, ""Süß"""`
		}
		fmt.Fprintf(&sb, "nu-%d,%d.%02d,EUR,2026-03-%02dT10:00:00Z,%s,completed\r\n", i, i+1, i%100, 1+i%28, merchant)
	}
	text := sb.String()
	for _, c := range []struct {
		name string
		f    csvschema.Format
		enc  func(string) (string, error)
	}{
		{"windows-1252", csvschema.Format{Encoding: csvschema.EncWindows1252}, charmap.Windows1252.NewEncoder().String},
		{"iso-8859-1", csvschema.Format{Encoding: csvschema.EncISO88591}, charmap.ISO8859_1.NewEncoder().String},
		{"utf-16be declared", csvschema.Format{Encoding: csvschema.EncUTF16BE}, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewEncoder().String},
		{"utf-16le", csvschema.Format{}, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && (c.name == "iso-8859-1" || c.name == "utf-16be declared") {
				t.Skip("-short runs one single-byte and one UTF-16 encoding")
			}
			t.Parallel()
			enc, err := c.enc(text)
			if err != nil {
				t.Fatal(err)
			}
			data := []byte(enc)
			// Two-step (cut by Validate) and one-step (cut by Split).
			e := newEnv(t)
			split, rec, _, _ := twoStep(t, e, data, 300, &c.f)
			if len(split.Chunks) != 4 {
				t.Fatalf("%d chunks, want 4", len(split.Chunks))
			}
			if rec.Counts() != (txpipe.Counts{Inserted: 1000}) {
				t.Errorf("counts %+v, want 1000 inserted", rec.Counts())
			}
			want := storedRows(t, e)
			// The same file as one chunk stores the same transactions.
			e1 := newEnv(t)
			one, _, _, _ := twoStep(t, e1, data, 100_000, &c.f)
			if len(one.Chunks) != 1 {
				t.Fatalf("%d chunks, want 1", len(one.Chunks))
			}
			if got := storedRows(t, e1); got != want {
				t.Errorf("the file in 4 chunks stored other transactions than in one")
			}
			// Split's own decoding (a file the intake validated) cuts the
			// same chunks.
			steps := &workflow.Tasks{Files: e.files, Transactions: e.db, Statuses: e.db, ChunkRows: 300}
			again, err := steps.Split(context.Background(), workflow.RunState{FileID: split.FileID, FileKey: split.FileKey, Rows: 1000, Format: split.Format})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(again.Chunks) != fmt.Sprint(split.Chunks) {
				t.Errorf("Split decoded chunks %+v, Validate cut %+v", again.Chunks, split.Chunks)
			}

			e2 := newEnv(t)
			e2.run(t)
			up := upload(t, "f.csv", data)
			up.Format = c.f
			st, _, err := e2.intake.Submit(context.Background(), up)
			if err != nil {
				t.Fatal(err)
			}
			done := waitStatus(t, e2, st.FileID, txpipe.StatusCompleted)
			if done.Counts() != (txpipe.Counts{Inserted: 1000}) {
				t.Errorf("one-step counts %+v, want 1000 inserted", done.Counts())
			}
			if got := storedRows(t, e2); got != want {
				t.Errorf("one-step run stored other transactions than the two-step run")
			}
			if !strings.Contains(want, "Café Zürich") || !strings.Contains(want, `Bäckerei, "Süß"`) {
				t.Errorf("decoded merchants lost their letters")
			}
		})
	}
}

// storedRows returns every stored transaction's fields but its ingestion
// time, in id order.
func storedRows(t *testing.T, e *env) string {
	t.Helper()
	var rows []string
	q := txpipe.TxQuery{From: time.Unix(0, 0), To: time.Now().AddDate(10, 0, 0), Limit: 1000}
	for {
		page, err := e.db.ListTransactions(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Items {
			rows = append(rows, fmt.Sprintln(tx.ID, tx.Amount, tx.Currency, tx.Timestamp.UTC(), tx.Merchant, tx.Status))
		}
		if page.NextCursor == "" {
			slices.Sort(rows)
			return strings.Join(rows, "")
		}
		q.Cursor = page.NextCursor
	}
}

// A 5 GB file (about 60 million rows of ~85 bytes) gets at most MaxChunks
// chunks, each written well within the transformer's timeout, and the run's
// state with every chunk and every chunk's result (as the map collects the
// children's outputs) stays within Step Functions' 256 KiB, with room left
// for the format and its profile.
func TestFiveGigabyteRunFitsStepFunctions(t *testing.T) {
	t.Parallel()
	const rows, size = 60_000_000, 5 << 30
	per := workflow.ChunkRowsFor(rows)
	n := (rows + per - 1) / per
	if n > workflow.MaxChunks || per%workflow.CutRows != 0 {
		t.Fatalf("%d chunks of %d rows", n, per)
	}
	def := workflow.Pipeline()
	limit := workflow.FunctionTimeout(def, workflow.FunctionTransformer)
	if write := time.Duration(per) * time.Second / workflow.ChunkWriteRate; write > limit*3/4 {
		t.Errorf("a chunk of %d rows takes %v at %d rows/s; the transformer has %v", per, write, workflow.ChunkWriteRate, limit)
	}
	st := workflow.RunState{FileID: strings.Repeat("f", 64), FileKey: strings.Repeat("a", 64), Filename: strings.Repeat("n", 255),
		Rows: rows, SizeBytes: size, HeaderEnd: 60, Counts: &txpipe.Counts{Inserted: rows}}
	var results []json.RawMessage
	for i := range n {
		st.Chunks = append(st.Chunks, workflow.Chunk{Index: int(i), Start: size - 1e9 + i*per*85, End: size - 1e9 + (i+1)*per*85, Rows: per})
		out, err := json.Marshal(workflow.RunState{Rows: per, Counts: &txpipe.Counts{Inserted: per / 3, Updated: per / 3, Unchanged: per - 2*(per/3)}})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, out)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := json.Marshal(results)
	total := len(b) + len(r) + len(`,"chunk_results":`)
	if total > 256<<10-24<<10 {
		t.Errorf("the state with %d chunks and their results is %d bytes; Step Functions allows 262,144 (24 KiB kept for a format and profile)", n, total)
	}
	t.Logf("%d chunks of %d rows: state %d bytes", n, per, total)
}

// recordStarts keeps the run states an intake starts.
type recordStarts struct{ states []workflow.RunState }

func (r *recordStarts) StartRun(_ context.Context, st workflow.RunState) error {
	r.states = append(r.states, st)
	return nil
}

// A file the intake validated (POST /upload, the local PUT) is cut while it
// is validated too: Split keeps the intake's chunks without reading the
// file, and they are the chunks Split finds by decoding it.
func TestIntakeCutsChunks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	starts := &recordStarts{}
	in := &workflow.Intake{Files: e.files, Statuses: e.db, Runs: starts}
	data := generate(t, 45_000, 24)
	if _, _, err := in.Submit(ctx, upload(t, "m.csv", data)); err != nil {
		t.Fatal(err)
	}
	if len(starts.states) != 1 {
		t.Fatalf("%d runs started", len(starts.states))
	}
	st := starts.states[0]
	files := &countingFiles{FileStore: e.files}
	steps := &workflow.Tasks{Files: files, Transactions: e.db, Statuses: e.db}
	split, err := steps.Split(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if got := files.opens.Load(); got != 0 {
		t.Errorf("Split opened the file %d times, want 0", got)
	}
	if len(split.Chunks) != 3 || split.Chunks[2].Rows != 5_000 {
		t.Fatalf("chunks %+v, want 20,000 + 20,000 + 5,000 rows", split.Chunks)
	}
	st.Chunks = nil
	again, err := steps.Split(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if files.opens.Load() != 1 || fmt.Sprint(again.Chunks) != fmt.Sprint(split.Chunks) {
		t.Errorf("decoded chunks %+v, the intake's %+v", again.Chunks, split.Chunks)
	}
}
