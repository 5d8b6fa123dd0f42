package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/txpipe/txpipe/sqlite"
	"github.com/txpipe/txpipe/workflow"
)

// deadLetter is one failed run as `dlq list` shows it.
type deadLetter struct {
	FileID   string            `json:"file_id"`
	Filename string            `json:"filename,omitempty"`
	Failure  string            `json:"failure"`
	SentAt   *time.Time        `json:"sent_at,omitempty"`
	State    workflow.RunState `json:"state"`
}

func runDLQ(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		fmt.Fprintln(stderr, "usage: txpipe dlq list [--data-dir DIR] [--aws] [--json]")
		fmt.Fprintln(stderr, "       txpipe dlq redrive [--data-dir DIR] [--aws] [--json] FILE_ID")
		return exitUsage
	}
	sub := args[0]
	usage := "usage: txpipe dlq list [--data-dir DIR] [--aws] [--json]"
	if sub == "redrive" {
		usage = "usage: txpipe dlq redrive [--data-dir DIR] [--aws] [--json] FILE_ID"
	}
	fs := newClientFlagSet("dlq "+sub, usage, stderr)
	dataDir := fs.String("data-dir", envOr(envDataDir, defaultDataDir), "the local server's data dir (env "+envDataDir+")")
	useAWS := fs.Bool("aws", false, "use the SQS dead-letter queue and Step Functions named by the TXPIPE_* environment variables")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	switch sub {
	case "list":
		if len(pos) != 0 {
			fmt.Fprintln(stderr, usage)
			return exitUsage
		}
		var dls []deadLetter
		if *useAWS {
			dls, err = listAWS(ctx, logger)
		} else {
			dls, err = listLocal(ctx, *dataDir, logger)
		}
		if err != nil {
			fmt.Fprintf(stderr, "txpipe dlq list: %v\n", err)
			return exitUsage
		}
		if *jsonOut {
			if dls == nil {
				dls = []deadLetter{}
			}
			return printJSON(stdout, stderr, map[string]any{"items": dls})
		}
		if len(dls) == 0 {
			fmt.Fprintln(stdout, "the dead-letter queue is empty")
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE_ID\tFILENAME\tFAILED AT\tFAILURE")
		for _, d := range dls {
			at := "-"
			if d.SentAt != nil {
				at = d.SentAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.FileID, d.Filename, at, d.Failure)
		}
		tw.Flush()
		return exitOK

	default: // redrive
		if len(pos) != 1 {
			fmt.Fprintln(stderr, usage)
			return exitUsage
		}
		fileID := pos[0]
		if *useAWS {
			err = redriveAWS(ctx, logger, fileID, io.Discard)
		} else {
			err = redriveLocal(ctx, *dataDir, fileID, logger)
		}
		if err != nil {
			fmt.Fprintf(stderr, "txpipe dlq redrive: %v\n", err)
			return exitUsage
		}
		if *jsonOut {
			return printJSON(stdout, stderr, map[string]any{"file_id": fileID, "redriven": true})
		}
		fmt.Fprintf(stdout, "redriven %s: it runs again from its first step\n", fileID)
		return exitOK
	}
}

func listLocal(ctx context.Context, dataDir string, logger *slog.Logger) ([]deadLetter, error) {
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "txpipe.db"), logger)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	list, err := db.ListDeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]deadLetter, 0, len(list))
	for _, d := range list {
		at := d.SentAt
		out = append(out, deadLetter{FileID: d.FileID, Filename: d.State.Filename, Failure: workflow.FailureReason(d.State.Error), SentAt: &at, State: d.State})
	}
	return out, nil
}

func listAWS(ctx context.Context, logger *slog.Logger) ([]deadLetter, error) {
	states, err := listAWSDeadLetters(ctx, logger)
	if err != nil {
		return nil, err
	}
	out := make([]deadLetter, 0, len(states))
	for _, st := range states {
		out = append(out, deadLetter{FileID: st.FileID, Filename: st.Filename, Failure: workflow.FailureReason(st.Error), State: st})
	}
	return out, nil
}

// redriveLocal records a new job for the failed run in the data dir's
// database and takes it off the dead-letter queue, in one transaction; the
// server (running now or started later) picks the job up.
func redriveLocal(ctx context.Context, dataDir, fileID string, logger *slog.Logger) error {
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "txpipe.db"), logger)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := db.GetDeadLetter(ctx, fileID)
	if err != nil {
		return err
	}
	st := d.State
	st.Error, st.Counts = nil, nil
	return db.RedriveDeadLetter(ctx, workflow.Job{FileID: fileID, Phase: workflow.PhaseRun, State: st, DueAt: time.Now().UTC()})
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "txpipe: %v\n", err)
		return exitUsage
	}
	return exitOK
}
