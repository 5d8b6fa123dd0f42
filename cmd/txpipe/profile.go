package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
)

func init() { commands = append(commands, newProfileCmd) }

func newProfileCmd() *cobra.Command {
	return group("profile", "Manage column-mapping profiles",
		newProfileCreateCmd(), newProfileListCmd(), newProfileShowCmd(), newProfileDeleteCmd(), newProfileSuggestCmd())
}

func newProfileCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create [--endpoint URL] [--api-key KEY] [--json] NAME --file PROFILE.yaml",
		Short: "Store a profile on the server (replacing one of the same name)",
		Long: `Stores a column-mapping profile under NAME on the server; uploads choose it with
--profile NAME. The YAML is checked first (docs/contract.md, Profiles).`,
		Args: wantArgs(1, "NAME"),
	}
	cf := addClientFlags(cmd)
	file := cmd.Flags().String("file", "", "the profile's YAML file (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *file == "" {
			return usageErrorf("--file is required")
		}
		if err := profile.CheckName(args[0]); err != nil {
			return usageErrorf("%v", err)
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		if _, err := profile.Parse(data); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		p, created, err := cf.client().PutProfile(cmd.Context(), args[0], data)
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(cmd.OutOrStdout(), p)
		}
		what := "replaced"
		if created {
			what = "created"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "profile %s %s\n", p.Name, what)
		return nil
	}
	return cmd
}

func newProfileListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [--endpoint URL] [--api-key KEY] [--json]",
		Short: "List the server's profiles",
		Args:  wantArgs(0, ""),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		items, err := cf.client().ListProfiles(cmd.Context())
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(cmd.OutOrStdout(), map[string]any{"items": items})
		}
		rows := [][]string{{"NAME", "UPDATED"}}
		for _, p := range items {
			rows = append(rows, []string{p.Name, p.UpdatedAt})
		}
		if len(items) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "no profiles: txpipe profile create NAME --file PROFILE.yaml stores one")
			return nil
		}
		return writeTable(cmd.OutOrStdout(), rows)
	}
	return cmd
}

func newProfileShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show [--endpoint URL] [--api-key KEY] [--json] NAME",
		Short: "Print a stored profile's YAML",
		Args:  wantArgs(1, "NAME"),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := cf.client().GetProfile(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if cf.json {
			return printJSON(cmd.OutOrStdout(), p)
		}
		fmt.Fprint(cmd.OutOrStdout(), p.YAML)
		return nil
	}
	return cmd
}

func newProfileDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete [--endpoint URL] [--api-key KEY] NAME",
		Short: "Delete a stored profile",
		Args:  wantArgs(1, "NAME"),
	}
	cf := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := cf.client().DeleteProfile(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !cf.json {
			fmt.Fprintf(cmd.ErrOrStderr(), "profile %s deleted\n", args[0])
		}
		return nil
	}
	return cmd
}

func newProfileSuggestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "suggest [--delimiter SEP] [--encoding ENC] [--sheet NAME] FILE",
		Short: "Print a profile skeleton for a file, from its headers and first rows",
		Long: `Reads a file's header and first rows, matches the headers to the schema's fields
(known names in several languages, then edit distance), reads the amount and date
formats off the rows, and prints a profile to edit and store with
txpipe profile create NAME --file PROFILE.yaml. Offline.`,
		Args: wantArgs(1, "FILE"),
	}
	ff := addFormatFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := ff.format()
		if err != nil {
			return err
		}
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		rows, d, err := csvschema.Head(f, format, 5)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("%s: no header row", args[0])
		}
		s := profile.SuggestFor(rows, d)
		fmt.Fprint(cmd.OutOrStdout(), s.YAML())
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d of 6 fields matched; edit, then: txpipe profile create NAME --file PROFILE.yaml\n",
			args[0], 6-len(s.Unmatched))
		return nil
	}
	return cmd
}
