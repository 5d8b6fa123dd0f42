package httpapi

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// DefaultFilename names an upload that brings no file name.
const DefaultFilename = "upload.csv"

// Accepted is the answer to the upload of a new, valid file (202).
type Accepted struct {
	FileID    string          `json:"file_id"`
	Status    string          `json:"status"`
	Rows      int64           `json:"rows"`
	StatusURL string          `json:"status_url"`
	Dialect   *txpipe.Dialect `json:"dialect,omitempty"` // how the file was read
	Profile   string          `json:"profile,omitempty"`
}

// Rejection is the answer to the upload of an invalid file (422).
type Rejection struct {
	Error      ErrorDetail        `json:"error"`
	FileID     string             `json:"file_id"`
	Status     string             `json:"status"`
	ErrorCount int64              `json:"error_count"`
	Errors     []txpipe.ErrorItem `json:"errors"`
	Dialect    *txpipe.Dialect    `json:"dialect,omitempty"`
	Profile    string             `json:"profile,omitempty"`
	// SuggestedProfile is a profile skeleton (YAML) fuzzy-matched from
	// the header, when the header did not match the schema.
	SuggestedProfile string `json:"suggested_profile,omitempty"`
}

// handleUpload streams the file of a multipart/form-data (part "file") or
// text/csv request to a spool file while hashing it, then submits it.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	up, cleanup, err := s.spool(w, r)
	defer cleanup()
	if err != nil {
		s.cfg.Metrics.Upload(txpipe.UploadError)
		if c := txpipe.ErrorCode(err); c == txpipe.ETOOLARGE || c == txpipe.EUSEUPLOADS {
			w.Header().Set("Connection", "close")
		}
		s.writeError(w, r, err)
		return
	}
	if up.Tenant, err = s.requestTenant(r, false); err != nil {
		s.cfg.Metrics.Upload(txpipe.UploadError)
		s.writeError(w, r, err)
		return
	}
	st, created, err := s.cfg.Uploader.Submit(r.Context(), up)
	if err != nil {
		s.cfg.Metrics.Upload(txpipe.UploadError)
		s.writeError(w, r, fmt.Errorf("submit upload %q: %w", up.Filename, err))
		return
	}
	st = st.Public()
	switch {
	case st.Status == txpipe.StatusRejected:
		s.cfg.Metrics.Upload(txpipe.UploadRejected)
		if created {
			s.cfg.Metrics.RowsRejected(st.Rows)
		}
		errs := st.Errors
		if errs == nil {
			errs = []txpipe.ErrorItem{}
		}
		writeJSON(w, http.StatusUnprocessableEntity, Rejection{
			Error:  ErrorDetail{Code: txpipe.EREJECTED, Message: rejectionMessage(st)},
			FileID: st.FileID, Status: st.Status, ErrorCount: st.ErrorCount, Errors: errs,
			Dialect: st.Dialect, Profile: st.Profile, SuggestedProfile: suggestFor(up, errs),
		})
	case created:
		s.cfg.Metrics.Upload(txpipe.UploadAccepted)
		s.cfg.Metrics.RowsValidated(st.Rows)
		writeJSON(w, http.StatusAccepted, Accepted{
			FileID: st.FileID, Status: st.Status, Rows: st.Rows, StatusURL: s.statusURL(r, st.FileID),
			Dialect: st.Dialect, Profile: st.Profile,
		})
	default:
		s.cfg.Metrics.Upload(txpipe.UploadKnown)
		writeJSON(w, http.StatusOK, statusJSON(st))
	}
}

func rejectionMessage(st *txpipe.FileStatus) string {
	if st.ErrorCount == 1 {
		return "the file was rejected: 1 error"
	}
	return fmt.Sprintf("the file was rejected: %d errors", st.ErrorCount)
}

// statusURL is where the status record of fileID is served.
func (s *Server) statusURL(r *http.Request, fileID string) string {
	return s.baseURL(r) + "/status/" + fileID
}

// spool copies the uploaded file to a temporary file in SpoolDir, hashing
// it on the way, and returns it rewound. cleanup closes and removes the
// spool file; it is never nil.
func (s *Server) spool(w http.ResponseWriter, r *http.Request) (up workflow.Upload, cleanup func(), err error) {
	cleanup = func() {}
	limit := s.bodyLimit()
	if r.ContentLength > limit {
		return up, cleanup, s.tooLarge()
	}
	// Reads from the connection go through a large buffer: the multipart
	// reader asks for 4 KiB at a time, a read system call each otherwise.
	body := http.MaxBytesReader(w, r.Body, limit)
	bufs := s.spoolBufs.Get().(*spoolBuffers)
	bufs.r.Reset(body)
	r.Body = struct {
		io.Reader
		io.Closer
	}{bufs.r, body}
	releaseBufs := func() {
		bufs.r.Reset(nil)
		s.spoolBufs.Put(bufs)
	}
	cleanup = releaseBufs

	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	var src io.Reader
	var mr *multipart.Reader
	fields := map[string]string{} // delimiter, encoding, profile
	switch mt {
	case "multipart/form-data":
		if params["boundary"] == "" {
			return up, cleanup, txpipe.Errorf(txpipe.EINVALID, "multipart/form-data without a boundary")
		}
		mr, err = r.MultipartReader()
		if err != nil {
			return up, cleanup, txpipe.Errorf(txpipe.EINVALID, "malformed multipart body: %w", err)
		}
		for skipped := 0; ; skipped++ {
			if skipped > maxPartsBeforeFile {
				return up, cleanup, txpipe.Errorf(txpipe.EINVALID, `more than %d parts before the "file" part in the multipart body`, maxPartsBeforeFile)
			}
			part, err := mr.NextPart()
			if err == io.EOF {
				return up, cleanup, txpipe.Errorf(txpipe.EINVALID, `no "file" part in the multipart body`)
			}
			if err != nil {
				return up, cleanup, readError(err, s.tooLarge())
			}
			if part.FormName() == "file" {
				src, up.Filename = part, part.FileName()
				break
			}
			if err := readFormatField(part, fields); err != nil {
				return up, cleanup, err
			}
		}
	case "text/csv":
		src = r.Body
		for _, k := range formatFields {
			if v := r.URL.Query().Get(k); v != "" {
				fields[k] = v
			}
		}
		up.Filename = r.URL.Query().Get("filename")
		if up.Filename == "" {
			if _, p, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
				up.Filename = p["filename"]
			}
		}
	default:
		return up, cleanup, txpipe.Errorf(txpipe.EUNSUPPORTED,
			"unsupported content type %q: send multipart/form-data with the file in part \"file\", or text/csv", ct)
	}
	up.Filename = cleanFilename(up.Filename)

	cleanup, err = s.spoolFile(src, bufs.buf, &up, releaseBufs)
	if err != nil {
		return up, cleanup, readError(err, s.tooLarge())
	}
	if mr != nil {
		if err := restOfParts(mr, fields); err != nil {
			return up, cleanup, readError(err, s.tooLarge())
		}
	}
	up.Format, err = s.uploadFormat(r.Context(), fields)
	return up, cleanup, err
}

// restOfParts reads the parts after the "file" part: another "file" part
// is refused (which of two files would be meant?), the format fields are
// kept, others are skipped.
func restOfParts(mr *multipart.Reader, fields map[string]string) error {
	for skipped := 0; ; skipped++ {
		if skipped > maxPartsBeforeFile {
			return txpipe.Errorf(txpipe.EINVALID, `more than %d parts after the "file" part in the multipart body`, maxPartsBeforeFile)
		}
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if part.FormName() == "file" {
			return txpipe.Errorf(txpipe.EINVALID, `more than one "file" part in the multipart body: send one file per upload`)
		}
		if err := readFormatField(part, fields); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			return err
		}
	}
}

// spoolFile copies src to a new file in SpoolDir through buf, hashing it,
// and sets up's File (rewound), Path, Size and SHA256. cleanup closes and
// removes the file, then calls release; it is never nil. An error reading
// src comes back as it is, for the caller to classify.
func (s *Server) spoolFile(src io.Reader, buf []byte, up *workflow.Upload, release func()) (cleanup func(), err error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "upload-*.csv")
	if err != nil {
		return release, spoolError("create spool file", err)
	}
	cleanup = func() {
		f.Close()
		os.Remove(f.Name())
		release()
	}
	h := sha256.New()
	for {
		// Fill buf before writing it, so the spool file is written in
		// large blocks.
		n, rerr := fill(src, buf)
		if n > 0 {
			h.Write(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				return cleanup, spoolError("write spool file", err)
			}
			up.Size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return cleanup, rerr
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cleanup, txpipe.Wrap(txpipe.EINTERNAL, fmt.Errorf("rewind spool file: %w", err))
	}
	up.File, up.Path = f, f.Name()
	up.SHA256 = hex.EncodeToString(h.Sum(nil))
	return cleanup, nil
}

// spoolError gives a failure of the spool file its kind: a full disk is
// ENOSPACE (507), with a message that says so.
func spoolError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return &txpipe.Error{Code: txpipe.ENOSPACE, Message: "the server's disk is full: the upload could not be taken in", Err: fmt.Errorf("%s: %w", what, err)}
	}
	return txpipe.Wrap(txpipe.EINTERNAL, fmt.Errorf("%s: %w", what, err))
}

// fill reads into buf until it is full or r fails; at the end of r the
// error is io.EOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// spoolBufSize is the size of the buffers an upload is read and written
// with.
const spoolBufSize = 64 << 10

// spoolBuffers are the buffers of one upload, pooled.
type spoolBuffers struct {
	r   *bufio.Reader
	buf []byte
}

func newSpoolBuffers() any {
	return &spoolBuffers{r: bufio.NewReaderSize(nil, spoolBufSize), buf: make([]byte, spoolBufSize)}
}

// readError classifies an error reading the request body.
func readError(err error, tooLarge error) error {
	var te *txpipe.Error
	if errors.As(err, &te) {
		return err
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	return txpipe.Errorf(txpipe.EINVALID, "read upload body: %w", err)
}

// bodyLimit is the largest POST /upload body taken.
func (s *Server) bodyLimit() int64 {
	if s.cfg.UseUploadsAbove > 0 && s.cfg.UseUploadsAbove < s.cfg.MaxBodyBytes {
		return s.cfg.UseUploadsAbove
	}
	return s.cfg.MaxBodyBytes
}

// tooLarge is the error of a POST /upload body over bodyLimit.
func (s *Server) tooLarge() error {
	if s.cfg.UseUploadsAbove > 0 && s.cfg.UseUploadsAbove < s.cfg.MaxBodyBytes {
		return txpipe.Errorf(txpipe.EUSEUPLOADS, "the body is larger than the limit of %d bytes of POST /upload here: "+
			"declare the file with POST /uploads and send its bytes to the upload_url it answers", s.cfg.UseUploadsAbove)
	}
	return txpipe.Errorf(txpipe.ETOOLARGE, "the body is larger than the limit of %d bytes", s.cfg.MaxBodyBytes)
}

// cleanFilename keeps the base name of a client's file name, without
// control characters, at most 255 bytes.
func cleanFilename(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == ".." || name == "/" || name == "" {
		return DefaultFilename
	}
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}
