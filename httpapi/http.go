// Package httpapi is txpipe's HTTP API as an http.Handler: uploads, status
// records, the transactions query, health and metrics, with API-key checks,
// per-key rate limits and daily quotas. The local server serves it directly;
// on AWS the validator Lambda serves it behind API Gateway (which then checks
// the keys itself). The package also holds the Go client of the API.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// Uploader takes in an uploaded file (implemented by *workflow.Intake).
type Uploader interface {
	// Submit validates, stores and starts the processing of a spooled
	// upload. It returns the file's status record and created=false when a
	// file with the same bytes (same file id) was known already. A rejected
	// file comes back with Status txpipe.StatusRejected and its
	// ErrorCount/Errors; that is not an error.
	Submit(ctx context.Context, up workflow.Upload) (st *txpipe.FileStatus, created bool, err error)
}

// StatusGetter reads status records.
type StatusGetter interface {
	// GetStatus returns the record, or an ENOTFOUND error.
	GetStatus(ctx context.Context, fileID string) (*txpipe.FileStatus, error)
}

// TransactionLister serves the transactions query.
type TransactionLister interface {
	// ListTransactions returns the transactions with q.From <= timestamp <
	// q.To, oldest first, at most q.Limit, continuing after q.Cursor. A bad
	// cursor is an EINVALID error.
	ListTransactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error)
}

// KeyStore holds the API keys and counts their daily usage.
type KeyStore interface {
	// LookupKey returns the key whose secret has the hex SHA-256 hash, or an
	// ENOTFOUND error.
	LookupKey(ctx context.Context, hash string) (txpipe.APIKey, error)
	// RequestCount returns the key's count of requests on the UTC day
	// ("2006-01-02") as last saved, 0 if none was.
	RequestCount(ctx context.Context, keyID, day string) (int64, error)
	// SaveRequestCounts records counts, never lowering a stored one.
	SaveRequestCounts(ctx context.Context, counts []txpipe.KeyUsage) error
}

// StoreHealth reports the state of the store behind the API (*sqlite.DB
// is one).
type StoreHealth interface {
	// Ping fails if the store cannot be read.
	Ping(ctx context.Context) error
	// CheckWritable fails while the store refuses writes (a full or
	// read-only disk).
	CheckWritable(ctx context.Context) error
}

// Defaults of Config and of keys that leave their limits at zero.
const (
	DefaultMaxBodyBytes  = 100 << 20
	DefaultQuotaPerDay   = 1000
	DefaultRatePerSecond = 10
	DefaultBurst         = 20
)

// APIKeyHeader is the header that carries the API key.
const APIKeyHeader = "x-api-key"

// Metrics counts what the API does: *prom.Metrics on the local server,
// telemetry.EMF in the validator Lambda.
type Metrics interface {
	Upload(result string) // txpipe.UploadAccepted, ...
	RowsValidated(n int64)
	RowsRejected(n int64)
	HTTPRequest(route string, code int, d time.Duration)
}

// noMetrics records nothing.
type noMetrics struct{}

func (noMetrics) Upload(string)                          {}
func (noMetrics) RowsValidated(int64)                    {}
func (noMetrics) RowsRejected(int64)                     {}
func (noMetrics) HTTPRequest(string, int, time.Duration) {}

// Config configures the API handler.
type Config struct {
	Uploader     Uploader
	Statuses     StatusGetter
	Transactions TransactionLister
	// Optional parts: each route is served only when its part is set.
	Files       FileLister   // GET /files
	Volumes     VolumeReader // GET /volumes
	DeadLetters DeadLetters  // GET /dlq, POST /dlq/{file_id}/redrive
	KeyAdmin    KeyAdmin     // /keys, for admin keys
	// RowErrors, if set, lists every error of a rejected file in
	// GET /status/{file_id}/errors.csv, beyond the ones its record keeps.
	RowErrors RowErrorStreamer
	// RowErrorsTimeout bounds how long errors.csv lists a file's errors
	// with RowErrors (0: no bound); then it ends with the record's errors
	// not listed yet and how many are left. On AWS the whole answer must be
	// made within API Gateway's 29 s.
	RowErrorsTimeout time.Duration
	// Console, if set, is served at GET / and GET /console/ (the web
	// console's page and assets; they hold no data and need no key).
	Console http.Handler
	// Keys checks the x-api-key header and enforces each key's rate and
	// quota. Nil turns the checks off (on AWS, API Gateway makes them).
	Keys KeyStore
	// Identify, when Keys is nil, tells who a request comes from (on AWS:
	// the tenant of the API Gateway key's id); without either every
	// request is the default tenant's, with no role.
	Identify func(r *http.Request) (Identity, error)
	// Health is checked by /healthz and /readyz; if nil they report only
	// that the process answers.
	Health StoreHealth
	// MaxUploads is how many uploads are taken in at once;
	// DefaultMaxUploads if 0.
	MaxUploads int
	// UploadIdleTimeout is the upload pace (see the constant); the
	// constant's value if 0.
	UploadIdleTimeout time.Duration
	// MaxBodyBytes limits an upload's body; DefaultMaxBodyBytes if zero.
	MaxBodyBytes int64
	// Declarer takes the declarations of POST /uploads (the two-step
	// upload); the route answers 400 unsupported without one.
	Declarer Declarer
	// Presigner makes the upload URLs of declared files (on AWS, S3
	// presigned PUTs). Without one the server serves PUT /uploads/{file_id}
	// itself, with URLs signed by UploadSecret.
	Presigner Presigner
	// UploadSecret signs the server's own upload URLs (at least 16 random
	// bytes, kept across restarts so URLs handed out stay valid).
	UploadSecret []byte
	// UploadOrigins are the web origins (scheme://host:port) whose pages may
	// PUT to the server's upload URLs from a browser; "*" allows any. The
	// server's own origin needs no entry.
	UploadOrigins []string
	// UseUploadsAbove, if set, refuses POST /upload bodies larger than it
	// with 413 code use_uploads, naming POST /uploads (on AWS: 4 MB, below
	// the 6 MB Lambda payload limit once base64 grows a body by 4/3).
	UseUploadsAbove int64
	// SpoolDir holds uploads while they are taken in; os.TempDir() if empty.
	SpoolDir string
	// BaseURL prefixes the status_url of an accepted upload (for example
	// an API Gateway stage URL). If empty it is built from the request's
	// scheme and host.
	BaseURL string
	// Logger receives one record per request; none are written if nil.
	Logger *slog.Logger
	// Metrics, if set, counts uploads and request latencies.
	Metrics Metrics
	// MetricsHandler, if set, is served at GET /metrics (the local server's
	// Prometheus registry).
	MetricsHandler http.Handler
	// TracerProvider makes one span per request; none if nil.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace context from the request
	// headers; W3C Trace Context (traceparent) if nil. On AWS pass the
	// X-Ray propagator.
	Propagator propagation.TextMapPropagator
	// Now is the clock of the rate limits and quotas; time.Now if nil.
	Now func() time.Time
	// Profiles stores the column-mapping profiles an upload may name
	// (/profiles); without it those routes are not served and an upload
	// naming a profile is refused.
	Profiles ProfileStore
}

// Server is the API handler. Create it with NewServer.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	mux     *http.ServeMux
	limiter *limiters
	usage   *usage
	uploads chan struct{} // a token per upload in progress

	spoolBufs sync.Pool // of *spoolBuffers
}

// NewServer returns the API as an http.Handler.
func NewServer(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		tracer:  tp.Tracer("github.com/txpipe/txpipe/httpapi"),
		prop:    cfg.Propagator,
		mux:     http.NewServeMux(),
		limiter: &limiters{m: map[string]*keyLimiter{}},
	}
	s.uploads = make(chan struct{}, maxUploads(cfg.MaxUploads))
	s.usage = &usage{store: cfg.Keys, counts: map[usageKey]*usageCount{}, log: cfg.Logger}
	s.spoolBufs.New = newSpoolBuffers
	s.mux.Handle("POST /upload", s.auth(s.uploadGuard(http.HandlerFunc(s.handleUpload))))
	s.mux.Handle("POST /uploads", s.auth(http.HandlerFunc(s.handleDeclare)))
	s.mux.Handle("PUT /uploads/{file_id}", s.uploadGuard(http.HandlerFunc(s.handleUploadBytes)))
	s.mux.HandleFunc("OPTIONS /uploads/{file_id}", s.handleUploadPreflight)
	s.mux.Handle("GET /status/{file_id}", s.authFree(http.HandlerFunc(s.handleStatus)))
	s.mux.Handle("GET /transactions", s.auth(http.HandlerFunc(s.handleTransactions)))
	if cfg.Profiles != nil {
		s.mux.Handle("GET /profiles", s.auth(http.HandlerFunc(s.handleProfileList)))
		s.mux.Handle("GET /profiles/{name}", s.auth(http.HandlerFunc(s.handleProfileGet)))
		s.mux.Handle("PUT /profiles/{name}", s.auth(http.HandlerFunc(s.handleProfilePut)))
		s.mux.Handle("DELETE /profiles/{name}", s.auth(http.HandlerFunc(s.handleProfileDelete)))
	}
	s.mux.Handle("GET /status/{file_id}/errors.csv", s.auth(http.HandlerFunc(s.handleErrorsCSV)))
	s.mux.Handle("GET /transactions.csv", s.auth(http.HandlerFunc(s.handleTransactionsCSV)))
	s.mux.Handle("GET /whoami", s.authFree(http.HandlerFunc(s.handleWhoAmI)))
	if cfg.Files != nil {
		s.mux.Handle("GET /files", s.authFree(http.HandlerFunc(s.handleFiles)))
	}
	if cfg.Volumes != nil {
		s.mux.Handle("GET /volumes", s.auth(http.HandlerFunc(s.handleVolumes)))
	}
	if cfg.DeadLetters != nil {
		s.mux.Handle("GET /dlq", s.authFree(http.HandlerFunc(s.handleDLQList)))
		s.mux.Handle("POST /dlq/{file_id}/redrive", s.auth(http.HandlerFunc(s.handleDLQRedrive)))
	}
	if cfg.KeyAdmin != nil {
		s.mux.Handle("GET /keys", s.adminOnly(s.handleKeysList))
		s.mux.Handle("POST /keys", s.adminOnly(s.handleKeyCreate))
		s.mux.Handle("PATCH /keys/{id}", s.adminOnly(s.handleKeyLimits))
		s.mux.Handle("DELETE /keys/{id}", s.adminOnly(s.handleKeyRevoke))
	}
	if cfg.Console != nil {
		s.mux.Handle("GET /{$}", cfg.Console)
		s.mux.Handle("GET /console/", cfg.Console)
	}
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	if cfg.MetricsHandler != nil {
		s.mux.Handle("GET /metrics", cfg.MetricsHandler)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, txpipe.Errorf(txpipe.ENOTFOUND, "no such path: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// reqInfo is what the handlers tell the request log about a request.
type reqInfo struct {
	key    string // the API key's name
	role   string // and its role
	tenant string // and its tenant
	err    error  // an internal error behind a 5xx answer
}

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// ServeHTTP serves the API, with a span, a log record and a latency
// observation per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &reqInfo{}
	ctx := s.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
	defer span.End()
	ctx = context.WithValue(ctx, reqInfoKey{}, ri)
	r = r.WithContext(ctx)
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}

	s.mux.ServeHTTP(rec, r)

	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	span.SetName(route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.code))
	if rec.code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(rec.code))
		if ri.err != nil {
			span.RecordError(ri.err)
		}
	}
	s.cfg.Metrics.HTTPRequest(route, rec.code, d)
	attrs := []any{
		"method", r.Method, "path", r.URL.Path, "route", route, "status", rec.code,
		"duration_ms", float64(d.Microseconds()) / 1000, "bytes_in", r.ContentLength, "bytes_out", rec.written,
	}
	if ri.key != "" {
		attrs = append(attrs, "key", ri.key)
	}
	level := slog.LevelInfo
	if (route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics") && rec.code == http.StatusOK {
		level = slog.LevelDebug // probes and scrapes would drown the log
	}
	if ri.err != nil {
		attrs = append(attrs, "err", ri.err.Error())
		level = slog.LevelError
	}
	s.log.Log(ctx, level, "http request", attrs...)
}

// statusRecorder remembers the status code and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	written     int64
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusOf maps txpipe error codes to HTTP statuses: the one table.
func statusOf(code string) int {
	switch code {
	case txpipe.EINVALID, txpipe.EUNSUPPORTED:
		return http.StatusBadRequest
	case txpipe.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case txpipe.EFORBIDDEN:
		return http.StatusForbidden
	case txpipe.ENOTFOUND:
		return http.StatusNotFound
	case txpipe.ECONFLICT:
		return http.StatusConflict
	case txpipe.ETOOLARGE, txpipe.EUSEUPLOADS:
		return http.StatusRequestEntityTooLarge
	case txpipe.EREJECTED:
		return http.StatusUnprocessableEntity
	case txpipe.ERATELIMIT:
		return http.StatusTooManyRequests
	case txpipe.ETRANSIENT:
		return http.StatusServiceUnavailable
	case txpipe.ENOSPACE:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// codeOf is the reverse of statusOf, for answers whose body names no code.
func codeOf(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return txpipe.EINVALID
	case http.StatusUnsupportedMediaType:
		return txpipe.EUNSUPPORTED
	case http.StatusUnauthorized:
		return txpipe.EUNAUTHORIZED
	case http.StatusForbidden:
		return txpipe.EFORBIDDEN
	case http.StatusNotFound:
		return txpipe.ENOTFOUND
	case http.StatusConflict:
		return txpipe.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return txpipe.ETOOLARGE
	case http.StatusUnprocessableEntity:
		return txpipe.EREJECTED
	case http.StatusTooManyRequests:
		return txpipe.ERATELIMIT
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return txpipe.ETRANSIENT
	case http.StatusInsufficientStorage:
		return txpipe.ENOSPACE
	}
	return txpipe.EINTERNAL
}

// ErrorBody is the JSON of an error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error object of an error answer.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err's status and JSON. The causes of server
// errors go to the log, not to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := txpipe.ErrorCode(err)
	status := statusOf(code)
	msg := txpipe.ErrorMessage(err)
	if status >= 500 {
		infoOf(r.Context()).err = err
		msg = "internal error"
		switch status {
		case http.StatusServiceUnavailable:
			msg = "service temporarily unavailable, try again"
		case http.StatusInsufficientStorage:
			msg = "the server's disk is full: nothing was stored; try again once space is freed"
			w.Header().Set("Retry-After", "60")
		}
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`          // ok, degraded (the store refuses writes), unavailable
	Store  string `json:"store,omitempty"` // ok, or what is wrong with it
}

// handleHealthz reports the process and its store: 200 while the store can
// be read (status "degraded" while it refuses writes), 503 if it cannot.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Health == nil {
		writeJSON(w, http.StatusOK, Health{Status: "ok"})
		return
	}
	h, err := s.storeHealth(r.Context())
	if h.Status == "unavailable" {
		s.log.ErrorContext(r.Context(), "health: store unreadable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// storeHealth checks the store: "unavailable" (with the error) when it
// cannot be read, "degraded" when it refuses writes, else "ok".
func (s *Server) storeHealth(ctx context.Context) (Health, error) {
	if err := s.cfg.Health.Ping(ctx); err != nil {
		return Health{Status: "unavailable", Store: "cannot be read: " + txpipe.ErrorMessage(err)}, err
	}
	if err := s.cfg.Health.CheckWritable(ctx); err != nil {
		return Health{Status: "degraded", Store: "refusing writes: " + txpipe.ErrorMessage(err)}, err
	}
	return Health{Status: "ok", Store: "ok"}, nil
}

// handleReadyz answers 200 when the server can take uploads, and 503 while
// its store cannot be read or refuses writes.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Store: "ok"}
	if s.cfg.Health != nil {
		h, _ = s.storeHealth(r.Context())
	}
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.requestedStatus(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusJSON(st.Effective(s.cfg.Now())))
}

// statusJSON returns st as clients see it (txpipe.FileStatus.Public) with
// Errors never null.
func statusJSON(st *txpipe.FileStatus) *txpipe.FileStatus {
	c := st.Public()
	if c.Errors == nil {
		c.Errors = []txpipe.ErrorItem{}
	}
	return c
}

func (s *Server) handleTransactions(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseTxQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.cfg.Transactions.ListTransactions(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []txpipe.Transaction{}
	}
	for i := range page.Items {
		page.Items[i] = page.Items[i].Public()
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) parseTxQuery(r *http.Request) (txpipe.TxQuery, error) {
	v := r.URL.Query()
	var q txpipe.TxQuery
	var err error
	if q.Tenant, err = s.requestTenant(r, false); err != nil {
		return q, err
	}
	if q.From, err = parseTime(v.Get("from"), "from"); err != nil {
		return q, err
	}
	if q.To, err = parseTime(v.Get("to"), "to"); err != nil {
		return q, err
	}
	q.Limit = txpipe.DefaultTxLimit
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > txpipe.MaxTxLimit {
			return q, txpipe.Errorf(txpipe.EINVALID, "limit must be an integer from 1 to %d, got %q", txpipe.MaxTxLimit, l)
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	q.Merchant = v.Get("merchant")
	q.Currency = strings.ToUpper(v.Get("currency"))
	if len(q.Merchant) > 256 {
		return q, txpipe.Errorf(txpipe.EINVALID, "merchant filter longer than 256 bytes")
	}
	return q, nil
}

func parseTime(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, txpipe.Errorf(txpipe.EINVALID, "query parameter %s is required (an RFC 3339 time)", name)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, txpipe.Errorf(txpipe.EINVALID, "query parameter %s is not an RFC 3339 time: %q", name, s)
	}
	return t.UTC(), nil
}

// limiters holds the token bucket of each key, by key id.
type limiters struct {
	mu sync.Mutex
	m  map[string]*keyLimiter
}
