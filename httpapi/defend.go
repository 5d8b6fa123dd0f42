package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/txpipe/txpipe"
)

// The limits of the local HTTP server (see NewHTTPServer).
const (
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request but an upload's body,
	// which is held to a minimum pace instead (see UploadIdleTimeout).
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds a response from the end of its request's headers,
	// but an upload's (none while its body arrives, UploadAnswerTimeout
	// after). A streaming handler (server-sent events) lifts it with
	// http.NewResponseController(w).SetWriteDeadline(time.Time{}).
	WriteTimeout = 2 * time.Minute
	// IdleTimeout closes a keep-alive connection without requests.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
	// UploadIdleTimeout and UploadProgressBytes are an upload body's pace:
	// each UploadProgressBytes must arrive within UploadIdleTimeout of the
	// previous ones (about 2 KB/s), or the connection is closed.
	UploadIdleTimeout   = 30 * time.Second
	UploadProgressBytes = 64 << 10
	// UploadAnswerTimeout bounds validating and answering an upload once
	// its body is in.
	UploadAnswerTimeout = 5 * time.Minute
	// DefaultMaxUploads is how many uploads are taken in at once; more wait
	// up to UploadQueueWait for a turn, then are answered 503, so slow
	// uploaders cannot hold every connection or spool file (other requests
	// are not counted).
	DefaultMaxUploads = 64
	UploadQueueWait   = 10 * time.Second
	// maxPartsBeforeFile bounds the multipart parts skipped before "file".
	maxPartsBeforeFile = 16
)

// NewHTTPServer returns an http.Server for h with the limits above.
func NewHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// uploadGuard admits an upload when fewer than MaxUploads are in progress
// (waiting up to UploadQueueWait, then 503 with Retry-After), and holds its body to the upload pace
// instead of ReadTimeout.
func (s *Server) uploadGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := time.NewTimer(UploadQueueWait)
		defer wait.Stop()
		select {
		case s.uploads <- struct{}{}:
			defer func() { <-s.uploads }()
		case <-r.Context().Done():
			return
		case <-wait.C:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			s.writeError(w, r, txpipe.Errorf(txpipe.ETRANSIENT, "too many uploads in progress (%d): try again in a moment", cap(s.uploads)))
			return
		}
		rc := http.NewResponseController(w)
		idle := s.cfg.UploadIdleTimeout
		if idle <= 0 {
			idle = UploadIdleTimeout
		}
		// Unsupported outside a real connection (tests, Lambda): ignored.
		_ = rc.SetWriteDeadline(time.Time{})
		if rc.SetReadDeadline(time.Now().Add(idle)) == nil {
			r.Body = &pacedBody{ReadCloser: r.Body, rc: rc, idle: idle, mark: UploadProgressBytes}
		}
		next.ServeHTTP(w, r)
	})
}

// pacedBody extends the connection's read deadline by idle each time
// UploadProgressBytes more have arrived, and sets the answer's write
// deadline once the body is in.
type pacedBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	got  int64
	mark int64
	done bool
}

func (b *pacedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.got += int64(n)
	if b.got >= b.mark {
		b.mark = b.got + UploadProgressBytes
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetWriteDeadline(time.Now().Add(UploadAnswerTimeout))
	}
	return n, err
}

func maxUploads(n int) int {
	if n > 0 {
		return n
	}
	return DefaultMaxUploads
}
