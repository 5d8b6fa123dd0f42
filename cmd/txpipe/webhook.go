package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/webhook"
)

func init() { commands = append(commands, newWebhookCmd) }

func newWebhookCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list [--data-dir DIR] [--all] [--json]",
		Short: "List the webhooks with their signing secrets, and their undelivered (pending and dead) deliveries",
		Args:  wantArgs(0, ""),
	}
	all := list.Flags().Bool("all", false, "list delivered deliveries too (the last 100)")
	redeliver := &cobra.Command{
		Use:   "redeliver [--data-dir DIR] [--json] DELIVERY_ID",
		Short: "Deliver a webhook delivery again (a dead one, or any)",
		Args:  wantArgs(1, "DELIVERY_ID"),
	}
	for _, c := range []*cobra.Command{list, redeliver} {
		addDataDirFlag(c, "the local server's data dir")
		c.Flags().Bool("json", false, "print JSON")
	}
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		db, err := openLocalStore(cmd)
		if err != nil {
			return err
		}
		defer db.Close()
		hooks, err := db.Webhooks(cmd.Context())
		if err != nil {
			return err
		}
		var ds []webhook.Delivery
		if *all {
			ds, err = db.Deliveries(cmd.Context(), "", 100)
		} else {
			var pending, dead []webhook.Delivery
			if pending, err = db.Deliveries(cmd.Context(), webhook.StatePending, 1000); err == nil {
				dead, err = db.Deliveries(cmd.Context(), webhook.StateDead, 1000)
			}
			ds = append(dead, pending...)
		}
		if err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		if jsonFlag(cmd) {
			if ds == nil {
				ds = []webhook.Delivery{}
			}
			return printJSON(stdout, map[string]any{"webhooks": hooks, "deliveries": ds})
		}
		if len(hooks) == 0 {
			fmt.Fprintln(stdout, "no webhooks: start txpipe serve with --webhook URL")
		} else {
			rows := [][]string{{"URL", "SECRET"}}
			for _, h := range hooks {
				rows = append(rows, []string{h.URL, h.Secret})
			}
			if err := writeTable(stdout, rows); err != nil {
				return err
			}
		}
		if len(ds) == 0 {
			fmt.Fprintln(stdout, "no undelivered deliveries")
			return nil
		}
		fmt.Fprintln(stdout)
		rows := [][]string{{"ID", "STATE", "ATTEMPTS", "FILE_ID", "URL", "NEXT", "LAST ERROR"}}
		for _, d := range ds {
			next := "-"
			if d.State == webhook.StatePending {
				next = d.NextAt.Format(time.RFC3339)
			}
			rows = append(rows, []string{strconv.FormatInt(d.ID, 10), d.State, strconv.Itoa(d.Attempts), d.FileID, d.URL, next, d.LastError})
		}
		return writeTable(stdout, rows)
	}
	redeliver.RunE = func(cmd *cobra.Command, args []string) error {
		id, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || id < 1 {
			return usageErrorf("DELIVERY_ID must be a delivery's number (see txpipe webhook list), got %q", args[0])
		}
		db, err := openLocalStore(cmd)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Redeliver(cmd.Context(), id); err != nil {
			if txpipe.ErrorCode(err) == txpipe.ENOTFOUND {
				return txpipe.Errorf(txpipe.ENOTFOUND, "no webhook delivery %d (see txpipe webhook list)", id)
			}
			return err
		}
		if jsonFlag(cmd) {
			return printJSON(cmd.OutOrStdout(), map[string]any{"id": id, "redelivered": true})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "delivery %d is due again: a running txpipe serve delivers it within a second\n", id)
		return nil
	}
	return group("webhook", "List webhooks and their deliveries, redeliver one", list, redeliver)
}
