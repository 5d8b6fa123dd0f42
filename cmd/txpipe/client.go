package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

// clientFlags are the flags every API client command takes.
type clientFlags struct {
	endpoint, apiKey string
	json             bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", envOr(envEndpoint, defaultEndpoint), "the API's base URL (env "+envEndpoint+")")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv(envAPIKey), "the API key (env "+envAPIKey+")")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

func (c *clientFlags) client() *httpapi.Client {
	return &httpapi.Client{Endpoint: c.endpoint, APIKey: c.apiKey}
}

// parseInterspersed parses flags placed before, between or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newClientFlagSet returns a flag set that prints usage and its flags to
// stderr.
func newClientFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	return fs
}

// flagExit is the exit code of a flag parsing error: 0 for -h.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

const uploadUsage = `usage: txpipe upload [--endpoint URL] [--api-key KEY] [--wait] [--json] FILE

Uploads a transaction file and prints its file id. A rejected file prints its
errors and exits 1. --wait follows the file to a final status and exits 1
unless it is COMPLETED.`

// progressFrom is the file size from which upload draws a progress bar on
// a terminal.
const progressFrom = 8 << 20

func runUpload(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newClientFlagSet("upload", uploadUsage, stderr)
	var cf clientFlags
	cf.register(fs)
	wait := fs.Bool("wait", false, "wait until the file is COMPLETED, FAILED or REJECTED")
	poll := fs.Duration("poll", 500*time.Millisecond, "how often --wait asks for the status")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "txpipe upload: want one FILE, got %d\n%s\n", len(files), uploadUsage)
		return exitUsage
	}
	name := files[0]
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(stderr, "txpipe upload: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fmt.Fprintf(stderr, "txpipe upload: %v\n", err)
		return exitUsage
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	var body io.Reader = f
	var bar *uploadBar
	if !cf.json && size >= progressFrom && isTerminal(stderr) {
		bar = &uploadBar{w: stderr, name: filepath.Base(name), size: size}
		body = &countingReader{r: f, bar: bar}
	}
	c := cf.client()
	res, err := c.UploadSize(ctx, filepath.Base(name), body, size)
	bar.clear()
	if err != nil {
		fmt.Fprintf(stderr, "txpipe upload: %v\n", err)
		return exitUsage
	}
	st := res.Record

	if res.Rejected() {
		if cf.json {
			return jsonOr(printJSON(stdout, stderr, httpapi.Rejection{
				Error:  httpapi.ErrorDetail{Code: txpipe.EREJECTED, Message: res.Message},
				FileID: st.FileID, Status: st.Status, ErrorCount: st.ErrorCount, Errors: nonNil(st.Errors),
			}), exitRejected)
		}
		fmt.Fprintln(stdout, st.FileID)
		fmt.Fprintf(stderr, "%s: rejected, %d %s\n", name, st.ErrorCount, plural(st.ErrorCount, "error", "errors"))
		printErrors(stderr, st)
		return exitRejected
	}

	if !*wait {
		// Known bytes whose run failed: the processing failed (exit 1).
		code := exitOK
		if st.Status == txpipe.StatusFailed {
			code = exitRejected
		}
		if cf.json {
			if res.Created() {
				return printJSON(stdout, stderr, httpapi.Accepted{FileID: st.FileID, Status: st.Status, Rows: st.Rows, StatusURL: res.StatusURL})
			}
			return jsonOr(printJSON(stdout, stderr, st), code)
		}
		fmt.Fprintln(stdout, st.FileID)
		if res.Created() {
			fmt.Fprintf(stderr, "%s: accepted, %d %s, %s\n", name, st.Rows, plural(st.Rows, "row", "rows"), st.Status)
		} else {
			fmt.Fprintf(stderr, "%s: uploaded before, %s\n", name, summary(st))
		}
		return code
	}

	if !cf.json {
		fmt.Fprintln(stdout, st.FileID)
		fmt.Fprintf(stderr, "%s: %d %s, waiting for the run...\n", name, st.Rows, plural(st.Rows, "row", "rows"))
	}
	final, err := c.Wait(ctx, st.FileID, *poll)
	if err != nil {
		fmt.Fprintf(stderr, "txpipe upload: %v\n", err)
		return exitUsage
	}
	code := exitOK
	if final.Status != txpipe.StatusCompleted {
		code = exitRejected
	}
	if cf.json {
		return jsonOr(printJSON(stdout, stderr, final), code)
	}
	fmt.Fprintln(stderr, summary(final))
	return code
}

// jsonOr returns code unless printing failed.
func jsonOr(printed, code int) int {
	if printed != exitOK {
		return printed
	}
	return code
}

func nonNil(errs []txpipe.ErrorItem) []txpipe.ErrorItem {
	if errs == nil {
		return []txpipe.ErrorItem{}
	}
	return errs
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

func printErrors(w io.Writer, st *txpipe.FileStatus) {
	for _, e := range st.Errors {
		fmt.Fprintf(w, "  line %d", e.Line)
		if e.Column != "" {
			fmt.Fprintf(w, ", %s", e.Column)
		}
		if e.Value != "" {
			fmt.Fprintf(w, " %q", e.Value)
		}
		fmt.Fprintf(w, ": %s\n", e.Message)
	}
	if more := st.ErrorCount - int64(len(st.Errors)); more > 0 {
		fmt.Fprintf(w, "  ... and %d more %s\n", more, plural(more, "error", "errors"))
	}
}

// countingReader reports the bytes read through it to a progress bar.
type countingReader struct {
	r   io.Reader
	n   int64
	bar *uploadBar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.bar.update(c.n)
	return n, err
}

// uploadBar draws a one-line progress bar of an upload on a terminal.
type uploadBar struct {
	w     io.Writer
	name  string
	size  int64
	last  time.Time
	drawn bool
}

func (b *uploadBar) update(sent int64) {
	now := time.Now()
	if b == nil || (now.Sub(b.last) < 100*time.Millisecond && sent < b.size) {
		return
	}
	b.last, b.drawn = now, true
	const width = 30
	frac := min(float64(sent)/float64(b.size), 1)
	n := int(frac * width)
	fmt.Fprintf(b.w, "\ruploading %s [%s%s] %3d%% %d/%d MiB", b.name, strings.Repeat("=", n), strings.Repeat(" ", width-n),
		int(frac*100), sent>>20, b.size>>20)
}

func (b *uploadBar) clear() {
	if b != nil && b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

const statusUsage = `usage: txpipe status [--endpoint URL] [--api-key KEY] [--json] FILE_ID

Prints a file's status record. Exits 1 if the file was REJECTED or FAILED.`

func runStatus(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newClientFlagSet("status", statusUsage, stderr)
	var cf clientFlags
	cf.register(fs)
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(ids) != 1 {
		fmt.Fprintf(stderr, "txpipe status: want one FILE_ID, got %d\n%s\n", len(ids), statusUsage)
		return exitUsage
	}
	st, err := cf.client().Status(ctx, ids[0])
	if err != nil {
		fmt.Fprintf(stderr, "txpipe status: %v\n", err)
		return exitUsage
	}
	code := exitOK
	if st.Status == txpipe.StatusRejected || st.Status == txpipe.StatusFailed {
		code = exitRejected
	}
	if cf.json {
		st.Errors = nonNil(st.Errors)
		return jsonOr(printJSON(stdout, stderr, st), code)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("file_id", st.FileID)
	row("status", st.Status)
	row("filename", st.Filename)
	row("sha256", st.SHA256)
	row("size_bytes", st.SizeBytes)
	row("rows", st.Rows)
	row("inserted", st.Inserted)
	row("updated", st.Updated)
	row("unchanged", st.Unchanged)
	row("error_count", st.ErrorCount)
	if st.Failure != "" {
		row("failure", st.Failure)
	}
	row("attempts", st.Attempts)
	row("created_at", st.CreatedAt.Format(time.RFC3339))
	row("updated_at", st.UpdatedAt.Format(time.RFC3339))
	tw.Flush()
	if len(st.Errors) > 0 {
		fmt.Fprintln(stdout, "errors:")
		printErrors(stdout, st)
	}
	return code
}

const transactionsUsage = `usage: txpipe transactions [--endpoint URL] [--api-key KEY] --from TIME --to TIME [--limit N] [--cursor C] [--json]

Lists the stored transactions with from <= timestamp < to, oldest first, up
to --limit of them (following the API's pages). TIME is RFC 3339
(2026-01-02T15:04:05Z) or a date (2026-01-02, midnight UTC).`

func runTransactions(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newClientFlagSet("transactions", transactionsUsage, stderr)
	var cf clientFlags
	cf.register(fs)
	from := fs.String("from", "", "the earliest timestamp (required)")
	to := fs.String("to", "", "the end of the range, excluded (required)")
	limit := fs.Int("limit", txpipe.DefaultTxLimit, "the most transactions to print")
	cursor := fs.String("cursor", "", "continue after an earlier listing (its next_cursor)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "txpipe transactions: unexpected arguments %q\n%s\n", rest, transactionsUsage)
		return exitUsage
	}
	q := txpipe.TxQuery{Cursor: *cursor}
	if q.From, err = parseFlagTime("from", *from); err == nil {
		q.To, err = parseFlagTime("to", *to)
	}
	if err == nil && *limit < 1 {
		err = fmt.Errorf("--limit must be at least 1")
	}
	if err != nil {
		fmt.Fprintf(stderr, "txpipe transactions: %v\n%s\n", err, transactionsUsage)
		return exitUsage
	}

	c := cf.client()
	var tw *tabwriter.Writer
	if !cf.json {
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIMESTAMP\tTRANSACTION_ID\tAMOUNT\tCURRENCY\tMERCHANT\tSTATUS\tFILE_ID")
	}
	out := txpipe.TxPage{Items: []txpipe.Transaction{}}
	for left := *limit; left > 0; {
		q.Limit = min(left, txpipe.MaxTxLimit)
		page, err := c.Transactions(ctx, q)
		if err != nil {
			if tw != nil {
				tw.Flush()
			}
			fmt.Fprintf(stderr, "txpipe transactions: %v\n", err)
			return exitUsage
		}
		for _, tx := range page.Items {
			if tw != nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tx.Timestamp.UTC().Format(time.RFC3339Nano), tx.ID, tx.Amount,
					tx.Currency, tx.Merchant, tx.Status, tx.FileID)
			} else {
				out.Items = append(out.Items, tx)
			}
		}
		left -= len(page.Items)
		out.NextCursor = page.NextCursor
		if page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		q.Cursor = page.NextCursor
	}
	if cf.json {
		return printJSON(stdout, stderr, out)
	}
	tw.Flush()
	if out.NextCursor != "" {
		fmt.Fprintf(stderr, "more transactions: add --cursor %s\n", out.NextCursor)
	}
	return exitOK
}

// parseFlagTime parses an RFC 3339 time or a date (midnight UTC).
func parseFlagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("--%s is required", name)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q is not an RFC 3339 time or a date", name, s)
}
