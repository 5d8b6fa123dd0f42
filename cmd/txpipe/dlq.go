package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/workflow"
)

func init() { commands = append(commands, newDLQCmd) }

// deadLetterQueue is a dead-letter queue as `txpipe dlq` uses it:
// *sqlite.DB locally, *sqsdlq.Queue on AWS.
type deadLetterQueue interface {
	DeadLetters(ctx context.Context) ([]workflow.DeadLetter, error)
	Redrive(ctx context.Context, fileID string) error
}

// deadLetter is one failed run as `dlq list --json` shows it.
type deadLetter struct {
	FileID   string            `json:"file_id"`
	Filename string            `json:"filename,omitempty"`
	Failure  string            `json:"failure"`
	SentAt   *time.Time        `json:"sent_at,omitempty"`
	State    workflow.RunState `json:"state"`
}

func newDLQCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list [--data-dir DIR] [--aws] [--json]",
		Short: "List the failed runs in the dead-letter queue",
		Args:  wantArgs(0, ""),
	}
	redrive := &cobra.Command{
		Use:   "redrive [--data-dir DIR] [--aws] [--json] FILE_ID",
		Short: "Run a failed file again from its first step",
		Args:  wantArgs(1, "FILE_ID"),
	}
	for _, c := range []*cobra.Command{list, redrive} {
		addDataDirFlag(c, "the local server's data dir")
		c.Flags().Bool("aws", false, "use the SQS dead-letter queue and Step Functions named by the TXPIPE_* environment variables")
		c.Flags().Bool("json", false, "print JSON")
	}
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		q, closeQueue, err := openDeadLetters(cmd)
		if err != nil {
			return err
		}
		defer closeQueue()
		letters, err := q.DeadLetters(cmd.Context())
		if err != nil {
			return err
		}
		dls := make([]deadLetter, 0, len(letters))
		for _, d := range letters {
			dl := deadLetter{FileID: d.FileID, Filename: d.State.Filename, Failure: workflow.FailureReason(d.State.Error), State: d.State}
			if !d.SentAt.IsZero() {
				dl.SentAt = &d.SentAt
			}
			dls = append(dls, dl)
		}
		stdout := cmd.OutOrStdout()
		if jsonFlag(cmd) {
			return printJSON(stdout, map[string]any{"items": dls})
		}
		if len(dls) == 0 {
			fmt.Fprintln(stdout, "the dead-letter queue is empty")
			return nil
		}
		rows := [][]string{{"FILE_ID", "FILENAME", "FAILED AT", "FAILURE"}}
		for _, d := range dls {
			at := "-"
			if d.SentAt != nil {
				at = d.SentAt.Format(time.RFC3339)
			}
			rows = append(rows, []string{d.FileID, d.Filename, at, d.Failure})
		}
		return writeTable(stdout, rows)
	}
	redrive.RunE = func(cmd *cobra.Command, args []string) error {
		q, closeQueue, err := openDeadLetters(cmd)
		if err != nil {
			return err
		}
		defer closeQueue()
		fileID := args[0]
		if err := q.Redrive(cmd.Context(), fileID); err != nil {
			return err
		}
		if jsonFlag(cmd) {
			return printJSON(cmd.OutOrStdout(), map[string]any{"file_id": fileID, "redriven": true})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "redriven %s: it runs again from its first step\n", fileID)
		return nil
	}
	return group("dlq", "List or redrive failed runs", list, redrive)
}

// openDeadLetters opens the dead-letter queue the flags name: the data
// dir's, or with --aws the SQS queue.
func openDeadLetters(cmd *cobra.Command) (deadLetterQueue, func() error, error) {
	if aws, _ := cmd.Flags().GetBool("aws"); aws {
		q, err := awsDeadLetters(cmd.Context(), cmd.ErrOrStderr())
		return q, func() error { return nil }, err
	}
	db, err := openLocalStore(cmd)
	if err != nil {
		return nil, nil, err
	}
	return db, db.Close, nil
}
