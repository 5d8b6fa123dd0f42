package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

func init() { commands = append(commands, newUploadCmd) }

// progressFrom is the file size from which upload draws a progress bar on
// a terminal.
const progressFrom = 8 << 20

func newUploadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upload [--endpoint URL] [--api-key KEY] [--wait] [--json] [--profile NAME] [--delimiter SEP] [--encoding ENC] FILE",
		Short: "Upload a file and print its file id",
		Long: `Uploads a transaction file and prints its file id. A rejected file prints its
errors and exits 1. --wait follows the file to a final status and exits 1
unless it is COMPLETED.`,
		Args: wantArgs(1, "FILE"),
	}
	cf := addClientFlags(cmd)
	wait := cmd.Flags().Bool("wait", false, "wait until the file is COMPLETED, FAILED or REJECTED")
	poll := cmd.Flags().Duration("poll", 500*time.Millisecond, "how often --wait asks for the status")
	ff := addFormatFlags(cmd)
	prof := cmd.Flags().String("profile", "", "the stored column-mapping profile to read the file with (txpipe profile list)")
	twoStep := cmd.Flags().Bool("two-step", false, "send the file with POST /uploads and its upload URL whatever its size (the default above 4 MiB)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if _, err := ff.format(); err != nil {
			return err
		}
		return upload(cmd, cf, args[0], *wait, *poll, ff.upload(*prof), *twoStep)
	}
	return cmd
}

func upload(cmd *cobra.Command, cf *clientFlags, name string, wait bool, poll time.Duration, format httpapi.UploadFormat, twoStep bool) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	var body io.Reader = f
	var bar *progressBar
	if !cf.json && size >= progressFrom && isTerminal(stderr) {
		bar = &progressBar{w: stderr, label: "uploading " + filepath.Base(name), size: size >> 20, start: time.Now()}
		body = &countingReader{r: f, bar: bar}
	}
	c := cf.client()
	c.Format = format
	var res *httpapi.UploadResult
	if size >= 0 {
		// A regular file: the client picks the flow by size (two steps
		// above 4 MiB, or with --two-step), drawing the bar as bytes go.
		var progress func(int64)
		if bar != nil {
			progress = func(n int64) { bar.draw(n>>20, "MiB") }
		}
		res, err = c.UploadFile(ctx, filepath.Base(name), f, size, httpapi.UploadOptions{TwoStep: twoStep, Progress: progress, Poll: poll})
	} else {
		res, err = c.UploadSize(ctx, filepath.Base(name), body, size)
	}
	bar.clear()
	if err != nil {
		return err
	}
	st := res.Record

	if res.Rejected() {
		// A failure: nothing on stdout, the rejection on stderr.
		if cf.json {
			if err := json.NewEncoder(stderr).Encode(httpapi.Rejection{
				Error:  httpapi.ErrorDetail{Code: txpipe.EREJECTED, Message: res.Message},
				FileID: st.FileID, Status: st.Status, ErrorCount: st.ErrorCount, Errors: nonNil(st.Errors),
				Dialect: st.Dialect, Profile: st.Profile, SuggestedProfile: res.SuggestedProfile,
			}); err != nil {
				return err
			}
			return errFileNotOK
		}
		fmt.Fprintf(stderr, "%s: rejected (file %s), %d %s\n", name, st.FileID, st.ErrorCount, plural(st.ErrorCount, "error", "errors"))
		printErrors(stderr, st.Errors, st.ErrorCount)
		if res.SuggestedProfile != "" {
			fmt.Fprintf(stderr, "the header does not match the schema; a profile to start from (store it with txpipe profile create NAME --file PROFILE.yaml, then upload with --profile NAME):\n%s", res.SuggestedProfile)
		}
		return errFileNotOK
	}

	if !wait {
		// Known bytes whose run failed: the processing failed (exit 1).
		var outcome error
		if st.Status == txpipe.StatusFailed {
			outcome = errFileNotOK
		}
		if cf.json {
			var err error
			if res.Created() {
				err = printJSON(stdout, httpapi.Accepted{FileID: st.FileID, Status: st.Status, Rows: st.Rows, StatusURL: res.StatusURL,
					Dialect: st.Dialect, Profile: st.Profile})
			} else {
				err = printJSON(stdout, st)
			}
			if err != nil {
				return err
			}
			return outcome
		}
		fmt.Fprintln(stdout, st.FileID)
		if res.Created() {
			fmt.Fprintf(stderr, "%s: accepted, %d %s, %s%s\n", name, st.Rows, plural(st.Rows, "row", "rows"), st.Status, dialectNote(st.Dialect))
		} else {
			fmt.Fprintf(stderr, "%s: uploaded before, %s\n", name, summary(st))
			redriveHint(stderr, st)
		}
		return outcome
	}

	if !cf.json {
		fmt.Fprintln(stdout, st.FileID)
		fmt.Fprintf(stderr, "%s: %d %s, waiting for the run...\n", name, st.Rows, plural(st.Rows, "row", "rows"))
	}
	var seen func(*txpipe.FileStatus)
	var line *statusLine
	if !cf.json && isTerminal(stderr) {
		line = &statusLine{w: stderr, start: time.Now()}
		seen = line.show
	}
	final, err := c.WaitProgress(ctx, st.FileID, poll, seen)
	line.clear()
	if err != nil {
		return err
	}
	var outcome error
	if final.Status != txpipe.StatusCompleted {
		outcome = errFileNotOK
	}
	if cf.json {
		if err := printJSON(stdout, final); err != nil {
			return err
		}
		return outcome
	}
	fmt.Fprintln(stderr, summary(final))
	redriveHint(stderr, final)
	return outcome
}

// statusLine shows, on a terminal, the rows a run has processed while
// --wait waits.
type statusLine struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func (l *statusLine) show(st *txpipe.FileStatus) {
	l.drawn = true
	fmt.Fprintf(l.w, "\r\033[K%s: %d of %d rows processed, %s", st.Status, st.Counts().Total(), st.Rows,
		time.Since(l.start).Round(time.Second))
}

func (l *statusLine) clear() {
	if l != nil && l.drawn {
		fmt.Fprint(l.w, "\r\033[K")
	}
}
