// Command txpipe runs the transaction-file pipeline locally and talks to it.
// This package is flags and wiring only: each command is one file that adds
// itself to commands, builds its adapters from their own constructors and
// returns an error; errors.go turns errors into messages and exit codes.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/txpipe/txpipe/xlsx" // reads .xlsx uploads
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// commands make the subcommands; each command's file appends its own in an
// init function, so adding a command is adding a file.
var commands []func() *cobra.Command

// run is the whole program, so tests can run the real CLI in process. It
// returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	started := false // set once flags and arguments are accepted
	root := &cobra.Command{
		Use:   "txpipe",
		Short: "Validate, upload and store transaction files",
		Long: `txpipe runs the transaction-file pipeline locally (txpipe serve) and talks to it.

Every command takes --json for machine output. Exit codes: 0 success, 1 rejected, failed
or not found, 2 usage, network or I/O error.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error { started = true; return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageErrorf("unknown command %q%s", args[0], suggest(cmd, args[0]))
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, c := range commands {
		root.AddCommand(c())
	}
	disableFlagsInUseLine(root)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil && !started {
		err = asUsage(err)
	}
	return report(cmd, err, stderr)
}

// disableFlagsInUseLine drops cobra's " [flags]" from every usage line:
// each command's Use lists its flags.
func disableFlagsInUseLine(c *cobra.Command) {
	c.DisableFlagsInUseLine = true
	for _, sub := range c.Commands() {
		disableFlagsInUseLine(sub)
	}
}

// suggest is cobra's "did you mean" for an unknown command, or "".
func suggest(c *cobra.Command, name string) string {
	c.SuggestionsMinimumDistance = 2
	if s := c.SuggestionsFor(name); len(s) > 0 {
		return "; did you mean " + s[0] + "?"
	}
	return ""
}

// group returns a command that only holds subcommands: without one, or
// with an unknown one, it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				var names []string
				for _, s := range cmd.Commands() {
					names = append(names, s.Name())
				}
				return usageErrorf("a subcommand is needed: %s", strings.Join(names, " or "))
			}
			return usageErrorf("unknown subcommand %q%s", args[0], suggest(cmd, args[0]))
		},
	}
	c.AddCommand(subs...)
	return c
}
