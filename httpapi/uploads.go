package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// Declarer records declared uploads (implemented by *workflow.Uploads).
type Declarer interface {
	// Declare returns the file's status record and awaiting=true when its
	// bytes are to be sent (an AWAITING_UPLOAD record with ExpiresAt), or
	// the record of a known file and awaiting=false.
	Declare(ctx context.Context, d workflow.Declaration) (st *txpipe.FileStatus, awaiting bool, err error)
}

// Presigner makes the URL the bytes of a declared file go to when another
// service takes them (on AWS, an S3 presigned PUT: s3store). Without one the
// server takes them itself at PUT /uploads/{file_id}.
type Presigner interface {
	// PresignUpload returns a URL for a PUT of exactly st.SizeBytes bytes
	// whose SHA-256 is st.SHA256, valid until st.ExpiresAt, and the headers
	// the request must carry.
	PresignUpload(ctx context.Context, st *txpipe.FileStatus) (url string, headers map[string]string, err error)
}

// UploadTicket is the answer to a declared upload whose bytes are to be
// sent (201).
type UploadTicket struct {
	FileID    string            `json:"file_id"`
	Status    string            `json:"status"`
	UploadURL string            `json:"upload_url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
	StatusURL string            `json:"status_url"`
}

// maxDeclarationBytes bounds the JSON body of POST /uploads.
const maxDeclarationBytes = 16 << 10

// handleDeclare serves POST /uploads: the first step of the two-step
// upload.
func (s *Server) handleDeclare(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Declarer == nil {
		s.writeError(w, r, txpipe.Errorf(txpipe.EUNSUPPORTED, "this server does not take two-step uploads"))
		return
	}
	var d workflow.Declaration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDeclarationBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID,
			`the body must be JSON {"filename": string, "size_bytes": integer, "sha256": 64 hex digits, and optionally "delimiter", "encoding", "profile", "sheet": strings}: %w`, err))
		return
	}
	if dec.More() {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "the body must hold one JSON object"))
		return
	}
	d.Filename = cleanFilename(d.Filename)
	var err error
	if d.Tenant, err = s.requestTenant(r, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if d.Format() != (txpipe.DeclaredFormat{}) {
		// Refuse a format the bytes could not be read with (an unknown
		// delimiter or encoding, no such profile) before they are sent.
		// The profile is read again when they arrive.
		if _, err := workflow.ResolveFormat(r.Context(), s.cfg.Profiles, d.Format()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	st, awaiting, err := s.cfg.Declarer.Declare(r.Context(), d)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !awaiting {
		writeJSON(w, http.StatusOK, statusJSON(st.Effective(s.cfg.Now())))
		return
	}
	t := UploadTicket{
		FileID: st.Public().FileID, Status: st.Status, Method: http.MethodPut, ExpiresAt: st.ExpiresAt,
		StatusURL: s.statusURL(r, st.Public().FileID),
	}
	if s.cfg.Presigner != nil {
		t.UploadURL, t.Headers, err = s.cfg.Presigner.PresignUpload(r.Context(), st)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("presign upload of file %s: %w", st.FileID, err))
			return
		}
	} else {
		t.UploadURL = s.localUploadURL(r, st)
		t.Headers = map[string]string{"Content-Type": "text/csv"}
	}
	writeJSON(w, http.StatusCreated, t)
}

// Query parameters of a local upload URL.
const (
	qSHA256    = "sha256"
	qSize      = "size"
	qExpires   = "expires"
	qSignature = "signature"
)

// localUploadURL is the URL of PUT /uploads/{file_id} on this server,
// carrying its own authority: the declared hash, size and expiry, signed
// with the server's upload secret.
func (s *Server) localUploadURL(r *http.Request, st *txpipe.FileStatus) string {
	v := url.Values{}
	v.Set(qSHA256, st.SHA256)
	v.Set(qSize, strconv.FormatInt(st.SizeBytes, 10))
	v.Set(qExpires, strconv.FormatInt(st.ExpiresAt.Unix(), 10))
	v.Set(qSignature, s.uploadSignature(st.FileID, st.SHA256, st.SizeBytes, st.ExpiresAt.Unix()))
	return s.baseURL(r) + "/uploads/" + url.PathEscape(st.FileID) + "?" + v.Encode()
}

func (s *Server) uploadSignature(fileID, sha string, size, expires int64) string {
	m := hmac.New(sha256.New, s.cfg.UploadSecret)
	fmt.Fprintf(m, "PUT\n/uploads/%s\n%s\n%d\n%d", fileID, sha, size, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// handleUploadBytes serves PUT /uploads/{file_id}, the local upload URL:
// it checks the URL's signature and expiry, streams the body to a spool
// file while hashing it, refuses bytes whose size or SHA-256 differ from
// the declaration (nothing is stored or started), and takes the file in
// as POST /upload does. It answers 200 with the file's status record.
func (s *Server) handleUploadBytes(w http.ResponseWriter, r *http.Request) {
	s.allowOrigin(w, r)
	fileID := r.PathValue("file_id")
	q := r.URL.Query()
	sha := q.Get(qSHA256)
	size, err1 := strconv.ParseInt(q.Get(qSize), 10, 64)
	expires, err2 := strconv.ParseInt(q.Get(qExpires), 10, 64)
	want := s.uploadSignature(fileID, sha, size, expires)
	if err1 != nil || err2 != nil || len(s.cfg.UploadSecret) == 0 ||
		!hmac.Equal([]byte(q.Get(qSignature)), []byte(want)) || txpipe.ScopedFileID(txpipe.TenantOfFileID(fileID), txpipe.FileIDFromSHA256(sha)) != fileID {
		s.refuseBody(w, r, txpipe.Errorf(txpipe.EFORBIDDEN, "the upload URL of file %s is not one this server signed: ask POST /uploads for one", fileID))
		return
	}
	if exp := time.Unix(expires, 0).UTC(); !s.cfg.Now().Before(exp) {
		s.refuseBody(w, r, txpipe.Errorf(txpipe.EFORBIDDEN, "the upload URL of file %s expired at %s: ask POST /uploads for a new one", fileID, exp.Format(time.RFC3339)))
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != size {
		s.refuseBody(w, r, txpipe.Errorf(txpipe.EINVALID, "the body of file %s has %d bytes (Content-Length), %d were declared: nothing was stored", fileID, r.ContentLength, size))
		return
	}

	bufs := s.spoolBufs.Get().(*spoolBuffers)
	bufs.r.Reset(http.MaxBytesReader(w, r.Body, size))
	release := func() {
		bufs.r.Reset(nil)
		s.spoolBufs.Put(bufs)
	}
	// The signed path names the file's tenant (a scoped file id).
	up := workflow.Upload{Filename: cleanFilename(q.Get("filename")), Tenant: txpipe.TenantOfFileID(fileID)}
	if st, err := s.cfg.Statuses.GetStatus(r.Context(), fileID); err == nil {
		if st.Filename != "" {
			up.Filename = st.Filename
		}
		if st.Format != nil && txpipe.AwaitingBytes(st.Status) {
			// The format the declaration named, its profile as stored now.
			if up.Format, err = workflow.ResolveFormat(r.Context(), s.cfg.Profiles, *st.Format); err != nil {
				release()
				s.refuseBody(w, r, fmt.Errorf("the format declared for file %s: %w", fileID, err))
				return
			}
		}
	}
	cleanup, err := s.spoolFile(bufs.r, bufs.buf, &up, release)
	defer cleanup()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		s.refuseBody(w, r, txpipe.Errorf(txpipe.EINVALID, "the body of file %s is longer than the %d bytes declared: nothing was stored", fileID, size))
		return
	case err != nil:
		s.writeError(w, r, readError(err, nil))
		return
	case up.Size != size:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "the body of file %s has %d bytes, %d were declared: nothing was stored", fileID, up.Size, size))
		return
	case up.SHA256 != sha:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "the body's SHA-256 is %s, %s was declared: nothing was stored", up.SHA256, sha))
		return
	}
	st, _, err := s.cfg.Uploader.Submit(r.Context(), up)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("take in upload of file %s: %w", fileID, err))
		return
	}
	writeJSON(w, http.StatusOK, statusJSON(st))
}

// refuseBody answers err without reading the body, and closes the
// connection so the client stops sending it.
func (s *Server) refuseBody(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Connection", "close")
	s.writeError(w, r, err)
}

// handleUploadPreflight answers the CORS preflight of a browser's PUT to
// the local upload URL.
func (s *Server) handleUploadPreflight(w http.ResponseWriter, r *http.Request) {
	if !s.allowOrigin(w, r) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "PUT")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// allowOrigin sets the CORS headers of an upload answer when the request
// comes from a page of an allowed origin (UploadOrigins; the server's own
// origin is same-origin and needs none) and reports whether it did.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || !(slices.Contains(s.cfg.UploadOrigins, origin) || slices.Contains(s.cfg.UploadOrigins, "*")) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Add("Vary", "Origin")
	return true
}

// baseURL is BaseURL, or the request's scheme and host.
func (s *Server) baseURL(r *http.Request) string {
	base := strings.TrimSuffix(s.cfg.BaseURL, "/")
	if base != "" {
		return base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}
