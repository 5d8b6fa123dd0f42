package workflow

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// RowErrors lists every row error of a rejected file, not only the first
// txpipe.MaxReportedErrors its status record keeps: it validates the stored
// file again, streaming, and hands each error on as it is found. The intake
// stores a rejected file's bytes when it has more errors than the record
// keeps (see Intake.Submit), and so does Validate for a two-step upload.
type RowErrors struct {
	Files    FileStore
	Profiles ProfileGetter // for a file read under a profile; may be nil
	TempDir  string        // where a file that cannot seek is spooled; os.TempDir() if ""
}

// StreamErrors calls fn with every row error of st's file: the errors of
// the rows in line order, then the duplicate ids in line order. Memory
// stays bounded whatever the file's size (the file is read twice: by
// ranges from a RangeOpener, else from a temporary copy when the store's
// reader cannot seek). A file whose bytes are not stored is ENOTFOUND.
func (e *RowErrors) StreamErrors(ctx context.Context, st *txpipe.FileStatus, fn func(txpipe.ErrorItem) error) error {
	if st.SHA256 == "" {
		return txpipe.Errorf(txpipe.ENOTFOUND, "file %s: no stored bytes", st.FileID)
	}
	rc, err := e.Files.OpenFile(ctx, st.SHA256)
	if err != nil {
		return fmt.Errorf("open file %s: %w", st.FileID, err)
	}
	var r io.Reader = rc
	_, seeks := rc.(io.ReadSeeker)
	ro, ranges := e.Files.(RangeOpener)
	switch {
	case seeks:
		defer rc.Close()
	case ranges && st.SizeBytes > 0:
		// Read again by ranges (on S3 a ranged GET), nothing spooled: the
		// API Lambda's /tmp is smaller than a two-step upload may be.
		first := rc
		sr := &seekReader{ctx: ctx, open: func(ctx context.Context, off int64) (io.ReadCloser, error) {
			if off == 0 && first != nil {
				b := first // the body opened above
				first = nil
				return b, nil
			}
			return ro.OpenRange(ctx, st.SHA256, off, st.SizeBytes-off)
		}, size: st.SizeBytes, h: io.Discard, counted: &countReader{}}
		defer func() {
			sr.Close()
			if first != nil {
				first.Close()
			}
		}()
		r = sr
	default:
		defer rc.Close()
		tmp, err := os.CreateTemp(e.TempDir, "txpipe-errors-*")
		if err != nil {
			return fmt.Errorf("spool file %s: %w", st.FileID, err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		if _, err := io.Copy(tmp, rc); err != nil {
			return fmt.Errorf("spool file %s: %w", st.FileID, err)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spool file %s: %w", st.FileID, err)
		}
		r = tmp
	}
	var f csvschema.Format
	if d := st.Dialect; d != nil {
		f.Delimiter, f.Encoding, f.Sheet = d.Delimiter, d.Encoding, d.Sheet
		if d.Encoding == "xlsx" {
			f.Encoding = "" // recognised by its bytes
		}
	}
	if st.Profile != "" {
		if f.Profile, err = loadProfile(ctx, e.Profiles, st.Profile); err != nil {
			return err
		}
	}
	var stop error
	_, err = csvschema.ValidateWith(ctx, r, csvschema.Options{Format: f, Workers: 1, OnError: func(re *csvschema.RowError) {
		if stop == nil {
			stop = fn(re.Item())
		}
	}})
	if stop != nil {
		return stop
	}
	if err != nil {
		return fmt.Errorf("validate file %s again: %w", st.FileID, err)
	}
	return nil
}
