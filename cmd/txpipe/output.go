package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/txpipe/txpipe"
)

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print JSON: %w", err)
	}
	return nil
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func nonNil(errs []txpipe.ErrorItem) []txpipe.ErrorItem {
	if errs == nil {
		return []txpipe.ErrorItem{}
	}
	return errs
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// summary is a one-line account of a status record.
func summary(st *txpipe.FileStatus) string {
	switch st.Status {
	case txpipe.StatusCompleted:
		return fmt.Sprintf("%s %s: %d %s (%d inserted, %d updated, %d unchanged)",
			st.FileID, st.Status, st.Rows, plural(st.Rows, "row", "rows"), st.Inserted, st.Updated, st.Unchanged)
	case txpipe.StatusFailed:
		return fmt.Sprintf("%s %s after %d %s: %s", st.FileID, st.Status, st.Attempts, plural(int64(st.Attempts), "attempt", "attempts"), st.Failure)
	case txpipe.StatusRejected:
		return fmt.Sprintf("%s %s: %d %s", st.FileID, st.Status, st.ErrorCount, plural(st.ErrorCount, "error", "errors"))
	}
	return fmt.Sprintf("%s %s: %d %s", st.FileID, st.Status, st.Rows, plural(st.Rows, "row", "rows"))
}

// redriveHint tells how to run a FAILED file again.
func redriveHint(w io.Writer, st *txpipe.FileStatus) {
	if st.Status == txpipe.StatusFailed {
		fmt.Fprintf(w, "its run is in the dead-letter queue; once the cause is fixed, run it again with:\n  txpipe dlq redrive %s\n", st.FileID)
	}
}

// printErrors prints row errors, one a line, and how many more there are.
func printErrors(w io.Writer, errs []txpipe.ErrorItem, count int64) {
	for _, e := range errs {
		fmt.Fprintf(w, "  line %d", e.Line)
		if e.Column != "" {
			fmt.Fprintf(w, ", %s", e.Column)
		}
		if e.Value != "" {
			fmt.Fprintf(w, " %q", e.Value)
		}
		fmt.Fprintf(w, ": %s\n", e.Message)
	}
	if more := count - int64(len(errs)); more > 0 {
		fmt.Fprintf(w, "  ... and %d more %s\n", more, plural(more, "error", "errors"))
	}
}

// progressBar draws a one-line bar on a terminal.
type progressBar struct {
	w     io.Writer
	label string
	size  int64 // 0 if unknown
	after time.Duration
	start time.Time
	last  time.Time
	drawn bool
}

// draw shows done of size, at most ten times a second, once the bar is
// older than its after.
func (p *progressBar) draw(done int64, unit string) {
	now := time.Now()
	if p == nil || now.Sub(p.start) < p.after || (now.Sub(p.last) < 100*time.Millisecond && (p.size <= 0 || done < p.size)) {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	if p.size <= 0 {
		fmt.Fprintf(p.w, "\r%s: %d %s", p.label, done, unit)
		return
	}
	frac := min(float64(done)/float64(p.size), 1)
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d %s", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
		int(frac*100), done, p.size, unit)
}

func (p *progressBar) clear() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// countingReader reports the bytes read through it to a progress bar.
type countingReader struct {
	r   io.Reader
	n   int64
	bar *progressBar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.bar.draw(c.n>>20, "MiB")
	return n, err
}
