// Command txpipe runs the transaction-file pipeline locally and talks to it.
// See ../../README.md and the contract for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitRejected = 1 // the data was rejected or the processing failed
	exitUsage    = 2 // usage, network or I/O error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one txpipe subcommand.
type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the whole pipeline locally", runServe},
		{"validate", "validate files offline", runValidate},
		{"upload", "upload a file", runUpload},
		{"status", "print a file's status record", runStatus},
		{"transactions", "list stored transactions", runTransactions},
		{"apikey", "manage local API keys (apikey create)", runAPIKey},
		{"dlq", "list or redrive failed runs (dlq list, dlq redrive FILE_ID)", runDLQ},
	}
}

// run is the whole program, so tests can run the real CLI in process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "txpipe: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: txpipe <command> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --json for machine output. Exit codes: 0 success, 1 rejected or failed, 2 usage, network or I/O error.")
}
