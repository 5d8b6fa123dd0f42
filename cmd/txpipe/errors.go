package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
)

// Exit codes.
const (
	exitOK       = 0
	exitRejected = 1 // the data was rejected, the processing failed, or the thing is not found
	exitUsage    = 2 // usage, network or I/O error
)

// usageError is a command line the command cannot run: exit 2 and a
// pointer to the help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// asUsage marks err as a usage error (cobra's own errors about arguments
// and commands).
func asUsage(err error) error {
	var u usageError
	if errors.As(err, &u) {
		return err
	}
	return usageError{err}
}

// errOutcome is a result the command has already shown in full (a rejected
// file's errors, a FAILED status): only the exit code is left to give.
type errOutcome struct{ code int }

func (e errOutcome) Error() string { return fmt.Sprintf("exit %d", e.code) }

// errFileNotOK ends a command that showed a file REJECTED or FAILED.
var errFileNotOK = errOutcome{exitRejected}

// exitCode is the one mapping from errors to exit codes.
func exitCode(err error) int {
	var u usageError
	var o errOutcome
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &o):
		return o.code
	case errors.As(err, &u):
		return exitUsage
	}
	switch txpipe.ErrorCode(err) {
	case txpipe.EREJECTED, txpipe.ENOTFOUND:
		return exitRejected
	}
	return exitUsage
}

// errorCode is the "code" of an error as --json prints it.
func errorCode(err error) string {
	var u usageError
	var te *txpipe.Error
	var ne net.Error
	var pe *fs.PathError
	switch {
	case errors.As(err, &u):
		return "usage"
	case errors.As(err, &te):
		return te.Code
	case errors.Is(err, errNoDataDir):
		return "no_data_dir"
	case errors.As(err, &pe):
		return "io"
	case errors.As(err, &ne):
		return "network"
	}
	return "error"
}

// report prints err on stderr, as text or, when the command was given
// --json, as {"error": {"code", "message"}}, and returns the exit code.
func report(cmd *cobra.Command, err error, stderr io.Writer) int {
	code := exitCode(err)
	var o errOutcome
	if err == nil || errors.As(err, &o) {
		return code
	}
	path := "txpipe"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if jsonFlag(cmd) {
		var doc struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		doc.Error.Code, doc.Error.Message = errorCode(err), err.Error()
		json.NewEncoder(stderr).Encode(doc)
		return code
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
	}
	return code
}

// jsonFlag reports whether cmd was given --json.
func jsonFlag(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.String() == "true"
}
