package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

func init() { commands = append(commands, newValidateCmd) }

// validateFile is one file of `txpipe validate --json`.
type validateFile struct {
	File       string             `json:"file"`
	Valid      bool               `json:"valid"`
	Rows       int64              `json:"rows"`
	ErrorCount int64              `json:"error_count"`
	Errors     []txpipe.ErrorItem `json:"errors"`
	Error      string             `json:"error,omitempty"` // the file could not be read
}

func newValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [--json] FILE...",
		Short: "Validate files offline",
		Long: `Validates transaction files offline with the same rules as the pipeline and
prints their errors ("-" reads standard input). Exit status: 0 every file is
valid, 1 a file is invalid, 2 usage or I/O error.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("no file given")
			}
			return nil
		},
	}
	jsonOut := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, files []string) error {
		return validate(cmd, files, *jsonOut)
	}
	return cmd
}

func validate(cmd *cobra.Command, files []string, jsonOut bool) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	bar := !jsonOut && isTerminal(stderr)
	var outcome error
	results := make([]validateFile, 0, len(files))
	for _, name := range files {
		res, err := validateOne(ctx, name, cmd.InOrStdin(), stderr, bar)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res.Error = err.Error()
			outcome = errOutcome{exitUsage}
		} else if !res.Valid && outcome == nil {
			outcome = errFileNotOK
		}
		results = append(results, res)
		if !jsonOut {
			printValidation(stdout, stderr, res)
		}
	}
	if jsonOut {
		if err := printJSON(stdout, struct {
			Files []validateFile `json:"files"`
		}{results}); err != nil {
			return err
		}
	}
	return outcome
}

func validateOne(ctx context.Context, name string, stdin io.Reader, stderr io.Writer, bar bool) (validateFile, error) {
	res := validateFile{File: name, Errors: []txpipe.ErrorItem{}}
	var r io.Reader = stdin
	var size int64
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				return res, errors.New(name + " is a directory")
			}
			size = st.Size()
		}
		r = f
	}
	var opt csvschema.Options
	var p *progressBar
	if bar {
		p = &progressBar{w: stderr, label: "validating " + name, size: size >> 20, after: time.Second, start: time.Now()}
		opt.Progress = func(read int64) {
			if size > 0 && read > size {
				// the second read that resolves duplicate-id candidates
				p.label, read = "checking duplicate ids "+name, read%size
			}
			p.draw(read>>20, "MiB")
		}
	}
	rep, err := csvschema.ValidateWith(ctx, r, opt)
	p.clear()
	if err != nil {
		return res, err
	}
	res.Valid, res.Rows, res.ErrorCount, res.Errors = rep.Valid(), rep.Rows, rep.ErrorCount, rep.Items()
	return res, nil
}

func printValidation(stdout, stderr io.Writer, res validateFile) {
	switch {
	case res.Error != "":
		fmt.Fprintf(stderr, "txpipe validate: %s\n", res.Error)
	case res.Valid:
		fmt.Fprintf(stdout, "%s: valid, %d rows\n", res.File, res.Rows)
	default:
		fmt.Fprintf(stdout, "%s: invalid, %d rows, %d %s\n", res.File, res.Rows, res.ErrorCount, plural(res.ErrorCount, "error", "errors"))
		printErrors(stdout, res.Errors, res.ErrorCount)
	}
}
