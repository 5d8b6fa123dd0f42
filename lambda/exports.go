package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

// Limits of the answers the API puts in the Lambda response (see
// docs/contract.md: on AWS a larger CSV answers 303 with a download URL).
const (
	// DefaultMaxInline is the largest body a Lambda response carries, as
	// it is sent (JSON-escaped text or base64): Lambda refuses responses
	// over 6 MB, headers and envelope included.
	DefaultMaxInline = 5_000_000
	// DefaultPartSize is the part size of an export's upload.
	DefaultPartSize = 8 << 20
)

// ExportUpload is one answer being uploaded (*s3store.Export): parts in
// order, then Complete (a GET URL of the object and its expiry) or Abort
// (nothing is left).
type ExportUpload interface {
	UploadPart(ctx context.Context, p []byte) error
	Complete(ctx context.Context) (url string, expires time.Time, err error)
	Abort(ctx context.Context) error
}

// ExportStore starts the uploads of answers too large for a Lambda
// response (s3store.Exports, through ExportsOf).
type ExportStore interface {
	StartExport(ctx context.Context, contentType, disposition string) (ExportUpload, error)
}

// ExportsOf is the ExportStore of a store whose StartExport returns its
// own upload type, such as *s3store.Exports.
func ExportsOf[U ExportUpload](s interface {
	StartExport(ctx context.Context, contentType, disposition string) (U, error)
}) ExportStore {
	return exportsOf[U]{s}
}

type exportsOf[U ExportUpload] struct {
	s interface {
		StartExport(ctx context.Context, contentType, disposition string) (U, error)
	}
}

func (e exportsOf[U]) StartExport(ctx context.Context, contentType, disposition string) (ExportUpload, error) {
	u, err := e.s.StartExport(ctx, contentType, disposition)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Exported is the body of a 303 answer: the URL of the whole answer, for
// clients that do not follow redirects.
type Exported struct {
	DownloadURL string    `json:"download_url"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// responseWriter collects a handler's response for the Lambda result. With
// an ExportStore, a GET answer 200 whose body would grow past maxInline
// bytes as sent is spilled: the buffer and what follows go to an export in
// parts of partSize, so the writer holds at most max(maxInline, partSize)
// bytes, and the answer is a 303 to the export's URL.
type responseWriter struct {
	header http.Header
	code   int
	body   []byte   // the whole body, or once spilled the part being filled
	size   sentSize // the body's size in the response, counted as it is written
	wrote  bool

	ctx       context.Context
	get       bool // a GET request: only those are spilled
	exports   ExportStore
	maxInline int
	partSize  int

	export   ExportUpload // set once spilled
	uploaded int64        // bytes sent in parts
	err      error        // the spill's first error: writes fail from then on
	ended    bool         // export completed or aborted
	peak     int          // the largest the buffer has been (cap)
}

func newResponseWriter() *responseWriter { return &responseWriter{header: http.Header{}} }

// spilling sets where and how a large answer goes.
func (w *responseWriter) spilling(ctx context.Context, method string, exports ExportStore, maxInline, partSize int) *responseWriter {
	w.ctx, w.get, w.exports = ctx, method == http.MethodGet, exports
	w.maxInline, w.partSize = maxInline, partSize
	if w.maxInline <= 0 {
		w.maxInline = DefaultMaxInline
	}
	if w.partSize <= 0 {
		w.partSize = DefaultPartSize
	}
	return w
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if !w.wrote {
		w.wrote = true
		ct := w.header.Get("Content-Type")
		w.size.binary = ct != "" && !isText(ct)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.export == nil {
		next := w.size
		next.add(p)
		if !w.canSpill() || next.len() <= w.maxInline {
			w.size = next
			w.appendBody(p)
			return len(p), nil
		}
		if err := w.startExport(); err != nil {
			return 0, err
		}
		if err := w.sendParts(false); err != nil { // a buffer larger than a part
			return 0, err
		}
	}
	n := 0
	for len(p) > 0 {
		k := min(w.partSize-len(w.body), len(p))
		w.appendBody(p[:k])
		p, n = p[k:], n+k
		if len(w.body) >= w.partSize {
			if err := w.sendParts(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *responseWriter) canSpill() bool {
	return w.exports != nil && w.get && w.code == http.StatusOK && w.err == nil
}

// appendBody appends p, growing the buffer to at most the larger of
// maxInline and partSize (when spilling is possible).
func (w *responseWriter) appendBody(p []byte) {
	if need := len(w.body) + len(p); need > cap(w.body) {
		c := max(2*cap(w.body), need, 512)
		if w.exports != nil {
			c = min(c, max(w.maxInline, w.partSize, need))
		}
		nb := make([]byte, len(w.body), c)
		copy(nb, w.body)
		w.body = nb
		w.peak = max(w.peak, c)
	}
	w.body = append(w.body, p...)
}

func (w *responseWriter) startExport() error {
	x, err := w.exports.StartExport(w.ctx, w.header.Get("Content-Type"), w.header.Get("Content-Disposition"))
	if err != nil {
		w.err = err
		return err
	}
	w.export = x
	return nil
}

// sendParts uploads the buffer in parts of partSize, the rest too when
// last, and keeps what is left.
func (w *responseWriter) sendParts(last bool) error {
	off := 0
	for len(w.body)-off >= w.partSize || (last && off < len(w.body)) {
		end := min(off+w.partSize, len(w.body))
		if err := w.export.UploadPart(w.ctx, w.body[off:end]); err != nil {
			w.err = err
			return err
		}
		w.uploaded += int64(end - off)
		off = end
	}
	w.body = w.body[:copy(w.body, w.body[off:])]
	return nil
}

// abort drops a spilled answer's upload, even when the request's context
// has ended.
func (w *responseWriter) abort() error {
	if w.export == nil || w.ended {
		return nil
	}
	w.ended = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 10*time.Second)
	defer cancel()
	return w.export.Abort(ctx)
}

// finish returns the Lambda response of what was written: inline, or a 303
// to the export when the body was too large. An export that failed is
// aborted and answered with an error (503 for a transient one), and the
// error is returned to be logged.
func (w *responseWriter) finish() (events.APIGatewayProxyResponse, error) {
	if w.export == nil && w.err == nil {
		resp := w.response()
		if !w.canSpill() || sentLen(resp) <= w.maxInline {
			return resp, nil
		}
		_ = w.startExport() // too large once encoded: sent as an export after all
	}
	if w.err == nil {
		if err := w.sendParts(true); err == nil {
			url, expires, err := w.export.Complete(w.ctx)
			if err == nil {
				w.ended = true
				return w.redirect(url, expires), nil
			}
			w.err = err
		}
	}
	err := w.err
	if aerr := w.abort(); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return w.failure(w.err), err
}

// redirect is the 303 answer to an export.
func (w *responseWriter) redirect(url string, expires time.Time) events.APIGatewayProxyResponse {
	h := w.answerHeader()
	h.Set("Location", url)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(Exported{DownloadURL: url, ExpiresAt: expires})
	return events.APIGatewayProxyResponse{StatusCode: http.StatusSeeOther, MultiValueHeaders: map[string][]string(h), Body: b.String()}
}

// failure is the error answer of an export that could not be stored, as
// httpapi words a 5xx.
func (w *responseWriter) failure(err error) events.APIGatewayProxyResponse {
	status, code, msg := http.StatusInternalServerError, txpipe.EINTERNAL, "internal error"
	if txpipe.ErrorCode(err) == txpipe.ETRANSIENT {
		status, code, msg = http.StatusServiceUnavailable, txpipe.ETRANSIENT, "service temporarily unavailable, try again"
	}
	b, _ := json.Marshal(httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: code, Message: msg}})
	return events.APIGatewayProxyResponse{StatusCode: status, MultiValueHeaders: map[string][]string(w.answerHeader()), Body: string(b) + "\n"}
}

// answerHeader is the handler's header without what described its body,
// for a JSON answer that is not cached.
func (w *responseWriter) answerHeader() http.Header {
	h := w.header.Clone()
	for _, k := range []string{"Content-Type", "Content-Disposition", "Content-Length", "Content-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	return h
}

// response is the API Gateway proxy result of what was written: the body
// as text for textual content types, base64 otherwise (API Gateway turns it
// back into bytes for the binary media types).
func (w *responseWriter) response() events.APIGatewayProxyResponse {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.header.Get("Content-Type") == "" && len(w.body) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body))
	}
	resp := events.APIGatewayProxyResponse{StatusCode: w.code, MultiValueHeaders: map[string][]string(w.header)}
	if isText(w.header.Get("Content-Type")) && utf8.Valid(w.body) {
		resp.Body = string(w.body)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(w.body)
		resp.IsBase64Encoded = true
	}
	return resp
}

// sentLen is the size of resp's body in the Lambda response (a JSON
// string).
func sentLen(resp events.APIGatewayProxyResponse) int {
	if resp.IsBase64Encoded {
		return len(resp.Body)
	}
	return jsonLen([]byte(resp.Body))
}

// sentSize counts the size of a body in the Lambda response as it is
// written: base64 for a binary type or a text that is not UTF-8, else
// JSON-escaped text, as encoding/json writes it without HTML escaping
// (aws-lambda-go's default): quotes, backslashes and control characters
// grow, as do U+2028 and U+2029. A character cut between two writes is
// counted whole.
type sentSize struct {
	binary  bool // a binary content type: base64
	invalid bool // not UTF-8: base64
	n       int  // bytes
	escaped int  // JSON-escaped length of the bytes but pend
	pend    [utf8.UTFMax]byte
	npend   int // the first bytes of a character cut at the end so far
}

// add counts p.
func (s *sentSize) add(p []byte) {
	s.n += len(p)
	if s.binary || s.invalid {
		return
	}
	for s.npend > 0 && len(p) > 0 && !utf8.FullRune(s.pend[:s.npend]) {
		s.pend[s.npend] = p[0]
		s.npend, p = s.npend+1, p[1:]
	}
	if s.npend > 0 {
		if !utf8.FullRune(s.pend[:s.npend]) {
			return // still cut
		}
		_, size := utf8.DecodeRune(s.pend[:s.npend])
		s.count(s.pend[:size])
		// Bytes taken past an invalid first byte are counted again below.
		p = append(s.pend[size:s.npend:s.npend], p...)
		s.npend = 0
	}
	for i := 0; i < len(p) && !s.invalid; {
		if !utf8.FullRune(p[i:]) {
			s.npend = copy(s.pend[:], p[i:])
			return
		}
		i += s.count(p[i:])
	}
}

// count counts the character at the start of p and returns its size.
func (s *sentSize) count(p []byte) int {
	c := p[0]
	if c < utf8.RuneSelf {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			s.escaped += 2
		case c < 0x20:
			s.escaped += 6
		default:
			s.escaped++
		}
		return 1
	}
	r, size := utf8.DecodeRune(p)
	switch {
	case r == utf8.RuneError && size == 1:
		s.invalid = true
	case r == '\u2028' || r == '\u2029':
		s.escaped += 6
	default:
		s.escaped += size
	}
	return size
}

// len is the body's size in the response so far (a cut character
// counted as its bytes).
func (s *sentSize) len() int {
	if s.binary || s.invalid {
		return base64.StdEncoding.EncodedLen(s.n)
	}
	return s.escaped + s.npend
}

// jsonLen is the length of the JSON string of p, quotes aside (sentSize
// of text that is UTF-8).
func jsonLen(p []byte) int {
	var s sentSize
	s.add(p)
	return s.escaped + s.npend
}
