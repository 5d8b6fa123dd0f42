package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
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
	Dialect    *txpipe.Dialect    `json:"dialect,omitempty"`
	// SuggestedProfile is a profile skeleton when the header did not match.
	SuggestedProfile string `json:"suggested_profile,omitempty"`
}

func newValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [--json] [--delimiter SEP] [--encoding ENC] [--profile-file PROFILE.yaml] FILE...",
		Short: "Validate files offline",
		Long: `Validates transaction files offline with the same rules as the pipeline and
prints their errors ("-" reads standard input). The separator is detected from
the header unless --delimiter says it; --profile-file maps another layout's
columns and formats (docs/contract.md, Profiles). Exit status: 0 every file is
valid, 1 a file is invalid, 2 usage or I/O error.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("no file given")
			}
			return nil
		},
	}
	jsonOut := cmd.Flags().Bool("json", false, "print JSON")
	ff := addFormatFlags(cmd)
	profileFile := cmd.Flags().String("profile-file", "", "a column-mapping profile (YAML) to read the files with")
	cmd.RunE = func(cmd *cobra.Command, files []string) error {
		format, err := ff.format()
		if err != nil {
			return err
		}
		if *profileFile != "" {
			data, err := os.ReadFile(*profileFile)
			if err != nil {
				return err
			}
			if format.Profile, err = profile.Parse(data); err != nil {
				return fmt.Errorf("%s: %w", *profileFile, err)
			}
		}
		return validate(cmd, files, *jsonOut, format)
	}
	return cmd
}

func validate(cmd *cobra.Command, files []string, jsonOut bool, format csvschema.Format) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	bar := !jsonOut && isTerminal(stderr)
	var outcome error
	results := make([]validateFile, 0, len(files))
	for _, name := range files {
		res, err := validateOne(ctx, name, cmd.InOrStdin(), stderr, bar, format)
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

func validateOne(ctx context.Context, name string, stdin io.Reader, stderr io.Writer, bar bool, format csvschema.Format) (validateFile, error) {
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
	opt := csvschema.Options{Format: format}
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
	res.Dialect = &rep.Dialect
	if rep.Header != nil && !strings.Contains(res.Errors[0].Message, csvschema.ErrSeparator.Error()) && !strings.Contains(res.Errors[0].Message, csvschema.ErrNotUTF8.Error()) {
		res.SuggestedProfile = profile.SuggestFor(headRows(name, rep, format), rep.Dialect).YAML()
	}
	return res, nil
}

// headRows returns the header and first rows of a file for a suggestion;
// the header alone for standard input, which cannot be read again.
func headRows(name string, rep *csvschema.Report, format csvschema.Format) [][]string {
	if name != "-" {
		if f, err := os.Open(name); err == nil {
			defer f.Close()
			if p := format.Profile; p != nil {
				format.Delimiter, format.Encoding = cmp.Or(format.Delimiter, p.Delimiter), cmp.Or(format.Encoding, p.Encoding)
			}
			format.Profile = nil
			if rows, _, err := csvschema.Head(f, format, 5); err == nil && len(rows) > 0 {
				return rows
			}
		}
	}
	return [][]string{rep.Header}
}

func printValidation(stdout, stderr io.Writer, res validateFile) {
	switch {
	case res.Error != "":
		fmt.Fprintf(stderr, "txpipe validate: %s\n", res.Error)
	case res.Valid:
		fmt.Fprintf(stdout, "%s: valid, %d rows%s\n", res.File, res.Rows, dialectNote(res.Dialect))
	default:
		fmt.Fprintf(stdout, "%s: invalid, %d rows, %d %s%s\n", res.File, res.Rows, res.ErrorCount, plural(res.ErrorCount, "error", "errors"), dialectNote(res.Dialect))
		printErrors(stdout, res.Errors, res.ErrorCount)
		if res.SuggestedProfile != "" {
			fmt.Fprintf(stdout, "  the header does not match the schema; a profile to start from (txpipe profile suggest %s prints it):\n", res.File)
			for _, l := range strings.SplitAfter(strings.TrimSuffix(res.SuggestedProfile, "\n"), "\n") {
				fmt.Fprintf(stdout, "    %s", l)
			}
			fmt.Fprintln(stdout)
		}
	}
}

// dialectNote says how a file was read when it is not the default (comma,
// UTF-8), so nothing is silently guessed.
func dialectNote(d *txpipe.Dialect) string {
	if d == nil || (d.Delimiter == "," || d.Delimiter == "") && d.Encoding == csvschema.EncUTF8 {
		return ""
	}
	if d.Encoding == csvschema.EncXLSX {
		return fmt.Sprintf(" (read from sheet %q of an .xlsx workbook)", d.Sheet)
	}
	sep := d.Delimiter
	switch sep {
	case "\t":
		sep = "tab"
	case "":
		sep = "?"
	default:
		sep = "'" + sep + "'"
	}
	bom := ""
	if d.BOM {
		bom = " with BOM"
	}
	return fmt.Sprintf(" (read as %s-separated %s%s)", sep, d.Encoding, bom)
}
