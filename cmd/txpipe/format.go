package main

import (
	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/httpapi"
)

// formatFlags say how to read a file: --delimiter, --encoding, --sheet.
type formatFlags struct {
	delimiter, encoding, sheet string
}

func addFormatFlags(cmd *cobra.Command) *formatFlags {
	f := &formatFlags{}
	cmd.Flags().StringVar(&f.delimiter, "delimiter", "", `field separator: , ; | or tab (default: detected from the header)`)
	cmd.Flags().StringVar(&f.encoding, "encoding", "", "text encoding: utf-8, utf-16le, utf-16be, windows-1252 or iso-8859-1 (default: UTF-8, or UTF-16 by its byte-order mark)")
	cmd.Flags().StringVar(&f.sheet, "sheet", "", "the sheet of an .xlsx file to read (default: the first)")
	return f
}

// format checks the flags and returns them as a csvschema.Format.
func (f *formatFlags) format() (csvschema.Format, error) {
	cf := csvschema.Format{Delimiter: f.delimiter, Encoding: f.encoding, Sheet: f.sheet}
	if err := cf.Check(); err != nil {
		return cf, usageErrorf("%s", trimFormatErr(err))
	}
	if cf.Delimiter == `\t` || cf.Delimiter == "tab" || cf.Delimiter == "TAB" {
		cf.Delimiter = "\t"
	}
	return cf, nil
}

func (f *formatFlags) upload(profile string) httpapi.UploadFormat {
	return httpapi.UploadFormat{Delimiter: f.delimiter, Encoding: f.encoding, Sheet: f.sheet, Profile: profile}
}

func trimFormatErr(err error) string {
	msg := err.Error()
	p := csvschema.ErrFormat.Error() + ": "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}
