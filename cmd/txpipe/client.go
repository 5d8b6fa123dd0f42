package main

import (
	"context"
	"fmt"
	"io"
)

func runUpload(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "txpipe: not implemented yet")
	return exitUsage
}

func runStatus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "txpipe: not implemented yet")
	return exitUsage
}

func runTransactions(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "txpipe: not implemented yet")
	return exitUsage
}
