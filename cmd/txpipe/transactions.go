package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
)

func init() { commands = append(commands, newTransactionsCmd) }

func newTransactionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transactions [--endpoint URL] [--api-key KEY] --from TIME --to TIME [--limit N] [--cursor C] [--json]",
		Short: "List stored transactions",
		Long: `Lists the stored transactions with from <= timestamp < to, oldest first, up
to --limit of them (following the API's pages). TIME is RFC 3339
(2026-01-02T15:04:05Z) or a date (2026-01-02, midnight UTC).`,
		Args: wantArgs(0, ""),
	}
	cf := addClientFlags(cmd)
	from := cmd.Flags().String("from", "", "the earliest timestamp (required)")
	to := cmd.Flags().String("to", "", "the end of the range, excluded (required)")
	limit := cmd.Flags().Int("limit", txpipe.DefaultTxLimit, "the most transactions to print")
	cursor := cmd.Flags().String("cursor", "", "continue after an earlier listing (its next_cursor)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := txpipe.TxQuery{Cursor: *cursor}
		var err error
		if q.From, err = parseFlagTime("from", *from); err != nil {
			return err
		}
		if q.To, err = parseFlagTime("to", *to); err != nil {
			return err
		}
		if *limit < 1 {
			return usageErrorf("--limit must be at least 1")
		}
		c := cf.client()
		out := txpipe.TxPage{Items: []txpipe.Transaction{}}
		for left := *limit; left > 0; {
			q.Limit = min(left, txpipe.MaxTxLimit)
			page, err := c.Transactions(cmd.Context(), q)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, page.Items...)
			left -= len(page.Items)
			out.NextCursor = page.NextCursor
			if page.NextCursor == "" || len(page.Items) == 0 {
				break
			}
			q.Cursor = page.NextCursor
		}
		// Printed once every page has come, so a failure prints nothing
		// on stdout.
		if cf.json {
			return printJSON(cmd.OutOrStdout(), out)
		}
		rows := [][]string{{"TIMESTAMP", "TRANSACTION_ID", "AMOUNT", "CURRENCY", "MERCHANT", "STATUS", "FILE_ID"}}
		for _, tx := range out.Items {
			rows = append(rows, []string{tx.Timestamp.UTC().Format(time.RFC3339Nano), tx.ID, tx.Amount,
				tx.Currency, tx.Merchant, tx.Status, tx.FileID})
		}
		if err := writeTable(cmd.OutOrStdout(), rows); err != nil {
			return err
		}
		if out.NextCursor != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "more transactions: add --cursor %s\n", out.NextCursor)
		}
		return nil
	}
	return cmd
}

// parseFlagTime parses an RFC 3339 time or a date (midnight UTC).
func parseFlagTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usageErrorf("--%s is required", name)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("--%s %q is not an RFC 3339 time or a date", name, s)
}
