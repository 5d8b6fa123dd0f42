package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// validateFile is one file of `txpipe validate --json`.
type validateFile struct {
	File       string             `json:"file"`
	Valid      bool               `json:"valid"`
	Rows       int64              `json:"rows"`
	ErrorCount int64              `json:"error_count"`
	Errors     []txpipe.ErrorItem `json:"errors"`
	Error      string             `json:"error,omitempty"` // the file could not be read
}

const validateUsage = `usage: txpipe validate [--json] FILE...

Validates transaction files offline with the same rules as the pipeline and
prints their errors ("-" reads standard input). Exit status: 0 every file is
valid, 1 a file is invalid, 2 usage or I/O error.`

func runValidate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	jsonOut := false
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			files = append(files, args[i+1:]...)
			i = len(args)
		case a == "--json" || a == "-json":
			jsonOut = true
		case a == "-h" || a == "--help" || a == "-help":
			fmt.Fprintln(stdout, validateUsage)
			return exitOK
		case strings.HasPrefix(a, "-") && a != "-":
			fmt.Fprintf(stderr, "txpipe validate: unknown flag %s\n%s\n", a, validateUsage)
			return exitUsage
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "txpipe validate: no file given\n%s\n", validateUsage)
		return exitUsage
	}
	bar := !jsonOut && isTerminal(stderr)
	code := exitOK
	results := make([]validateFile, 0, len(files))
	for _, name := range files {
		res, err := validateOne(ctx, name, stdin, stderr, bar)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "txpipe validate: %s: %v\n", name, err)
				return exitUsage
			}
			res.Error = err.Error()
			code = exitUsage
		} else if !res.Valid && code == exitOK {
			code = exitRejected
		}
		results = append(results, res)
		if !jsonOut {
			printValidation(stdout, stderr, res)
		}
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Files []validateFile `json:"files"`
		}{results}); err != nil {
			fmt.Fprintf(stderr, "txpipe validate: %v\n", err)
			return exitUsage
		}
	}
	return code
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
			size = st.Size()
		}
		r = f
	}
	var opt csvschema.Options
	var p *progressBar
	if bar {
		p = &progressBar{w: stderr, name: name, size: size, start: time.Now()}
		opt.Progress = p.update
	}
	rep, err := csvschema.ValidateWith(ctx, r, opt)
	if p != nil {
		p.clear()
	}
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
		for _, e := range res.Errors {
			fmt.Fprintf(stdout, "  line %d", e.Line)
			if e.Column != "" {
				fmt.Fprintf(stdout, ", %s", e.Column)
			}
			fmt.Fprintf(stdout, ": %s", e.Message)
			if e.Value != "" {
				fmt.Fprintf(stdout, ": %q", e.Value)
			}
			fmt.Fprintln(stdout)
		}
		if more := res.ErrorCount - int64(len(res.Errors)); more > 0 {
			fmt.Fprintf(stdout, "  ... and %d more %s\n", more, plural(more, "error", "errors"))
		}
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws a one-line bar on a terminal for a file that takes more
// than a second to validate.
type progressBar struct {
	w     io.Writer
	name  string
	size  int64 // 0 if unknown (standard input)
	start time.Time
	drawn bool
	last  time.Time
}

func (p *progressBar) update(read int64) {
	now := time.Now()
	if now.Sub(p.start) < time.Second || now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	if p.size <= 0 {
		fmt.Fprintf(p.w, "\r%s: %d MB read", p.name, read>>20)
		return
	}
	frac := float64(read) / float64(p.size)
	label := "validating"
	if frac > 1 {
		// the second read that resolves duplicate-id candidates
		label, frac = "checking duplicate ids", frac-float64(int(frac))
	}
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r%s %s [%s%s] %3d%%", label, p.name, strings.Repeat("=", n), strings.Repeat(" ", width-n), int(frac*100))
}

func (p *progressBar) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
