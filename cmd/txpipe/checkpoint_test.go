package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/txgen"
	"github.com/txpipe/txpipe/workflow"
)

// chunkLog is what a serve log (JSON, --log-level debug) says of a file's
// chunks: the rows of each "chunk written" line, and the "map resumed"
// line's rows_left.
type chunkLog struct {
	chunks   int
	rows     int64
	resumed  bool
	rowsLeft int64
}

func readChunkLog(t *testing.T, path, fileID string) chunkLog {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out chunkLog
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg      string `json:"msg"`
			FileID   string `json:"file_id"`
			Rows     int64  `json:"rows"`
			RowsLeft int64  `json:"rows_left"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.FileID != fileID {
			continue // a line cut by the kill, or another's
		}
		switch l.Msg {
		case "chunk written":
			out.chunks++
			out.rows += l.Rows
		case "map resumed":
			out.resumed, out.rowsLeft = true, l.RowsLeft
		}
	}
	return out
}

// TestCrashResumesFromCheckpoint kills a real `txpipe serve` with SIGKILL
// once 90% of a large file's chunks are written (the first of its two:
// 250,000 and 150,000 rows, on two workers), restarts it, and checks
// that the run resumed at its unfinished chunks: the file completes with
// exact counts and rows, and the rows written again after the restart (rows
// the restarted server wrote that were stored at the kill) are at most one
// chunk per worker.
func TestCrashResumesFromCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary on a 400,000-row file")
	}
	const rows, workers = 400_000, 2
	chunkRows := workflow.ChunkRowsWithin(rows, workflow.LocalChunks, workflow.LocalChunkRows)
	chunks := int((rows + chunkRows - 1) / chunkRows)
	bin := buildTxpipe(t)
	dataDir := t.TempDir()
	csvPath := filepath.Join(t.TempDir(), "big.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := txgen.Write(f, txgen.Options{Rows: rows, Seed: 77}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	flags := []string{"--log-level", "debug", "--log-format", "json", "--workers", "2"}
	p := startServe(t, bin, dataDir, flags...)
	body, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/upload", body)
	req.Header.Set("Content-Type", "text/csv")
	var accepted struct {
		FileID string `json:"file_id"`
		Rows   int    `json:"rows"`
	}
	if code := p.do(t, req, &accepted); code != http.StatusAccepted || accepted.Rows != rows {
		t.Fatalf("POST /upload = %d %+v, want 202 with %d rows", code, accepted, rows)
	}

	// Kill it once 90% of the chunks are written (at least one).
	killAt := max(1, chunks*9/10)
	for deadline := time.Now().Add(5 * time.Minute); readChunkLog(t, p.stderr.Name(), accepted.FileID).chunks < killAt; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d of %d chunks written within 5 minutes", killAt, chunks)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	before := readChunkLog(t, p.stderr.Name(), accepted.FileID)
	db := openDB(t, dataDir)
	atKill := int64(countRows(t, db))
	t.Logf("killed with %d of %d chunks written, %d of %d rows stored", before.chunks, chunks, atKill, rows)
	if before.chunks >= chunks || atKill >= rows {
		t.Fatalf("the file was finished before the kill (%d chunks, %d rows): nothing to resume", before.chunks, atKill)
	}

	p2 := startServe(t, bin, dataDir, flags...)
	p2.apiKey = p.apiKey
	st := p2.waitFinal(t, accepted.FileID, 5*time.Minute)
	if st.Status != txpipe.StatusCompleted {
		t.Fatalf("status = %s (%s), want COMPLETED", st.Status, st.Failure)
	}
	if got, want := st.Counts(), (txpipe.Counts{Inserted: rows}); got != want || st.Rows != rows {
		t.Errorf("counts = %+v rows %d, want %+v rows %d", got, st.Rows, want, rows)
	}
	if got := countRows(t, db); got != rows {
		t.Errorf("stored %d rows, want %d", got, rows)
	}
	after := readChunkLog(t, p2.stderr.Name(), accepted.FileID)
	again := after.rows - (rows - atKill)
	t.Logf("after the restart: resumed=%v (rows_left %d), %d chunks and %d rows written, %d of them stored before the kill",
		after.resumed, after.rowsLeft, after.chunks, after.rows, again)
	if !after.resumed {
		t.Error(`the restarted server logged no "map resumed": the map ran from its first chunk`)
	}
	if limit := workers * chunkRows; again > limit {
		t.Errorf("the restart wrote %d rows again that were stored at the kill, want at most %d (one chunk of %d rows per worker)", again, limit, chunkRows)
	}
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p2.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}
