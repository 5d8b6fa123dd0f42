package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
)

func init() { commands = append(commands, newStatusCmd) }

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [--endpoint URL] [--api-key KEY] [--json] FILE_ID",
		Short: "Print a file's status record",
		Long:  `Prints a file's status record. Exits 1 if the file was REJECTED or FAILED, or is not found.`,
		Args:  wantArgs(1, "FILE_ID"),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		st, err := cf.client().Status(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		var outcome error
		if st.Status == txpipe.StatusRejected || st.Status == txpipe.StatusFailed {
			outcome = errFileNotOK
		}
		stdout := cmd.OutOrStdout()
		if cf.json {
			st.Errors = nonNil(st.Errors)
			if err := printJSON(stdout, st); err != nil {
				return err
			}
			return outcome
		}
		var rows [][]string
		row := func(k string, v any) { rows = append(rows, []string{k, fmt.Sprint(v)}) }
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
		if err := writeTable(stdout, rows); err != nil {
			return err
		}
		if len(st.Errors) > 0 {
			fmt.Fprintln(stdout, "errors:")
			printErrors(stdout, st.Errors, st.ErrorCount)
		}
		redriveHint(cmd.ErrOrStderr(), st)
		return outcome
	}
	return cmd
}
