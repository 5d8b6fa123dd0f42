// Package txpipe holds the domain types shared by every part of the
// transaction-file pipeline: transactions, file status records, row errors
// and the error kinds that adapters translate their failures into.
//
// It depends on the standard library only. The subpackages provide the
// pieces: csvschema validates and normalises files, workflow runs the
// pipeline over small ports, and the adapters (sqlite, localfs, dynamo, ...)
// implement those ports.
package txpipe

import (
	"strings"
	"time"
)

// Transaction is one normalised row of an accepted file.
type Transaction struct {
	ID          string    `json:"transaction_id"`
	Amount      string    `json:"amount"`       // exact decimal with the currency's minor-unit digits
	AmountMinor int64     `json:"amount_minor"` // the amount in minor units
	Currency    string    `json:"currency"`     // ISO 4217 alphabetic code, upper case
	Timestamp   time.Time `json:"timestamp"`    // UTC
	Merchant    string    `json:"merchant"`
	Status      string    `json:"status"` // completed, pending or failed
	FileID      string    `json:"file_id"`
	IngestedAt  time.Time `json:"ingested_at"`
}

// Transaction statuses, as normalised.
const (
	TxCompleted = "completed"
	TxPending   = "pending"
	TxFailed    = "failed"
)

// File processing statuses.
const (
	StatusValidated  = "VALIDATED"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
	StatusRejected   = "REJECTED"
	// StatusAwaitingUpload is a file declared with POST /uploads whose
	// bytes have not arrived; StatusExpired one whose upload URL expired
	// before they did. Neither is final: declaring the file again issues a
	// new URL.
	StatusAwaitingUpload = "AWAITING_UPLOAD"
	StatusExpired        = "EXPIRED"
)

// AwaitingBytes reports whether a file with this status has no bytes yet
// (declared, or its upload expired): its bytes arriving take it in.
func AwaitingBytes(status string) bool {
	return status == StatusAwaitingUpload || status == StatusExpired
}

// IsFinal reports whether a file status can no longer change by itself
// (only a redrive moves a FAILED file on).
func IsFinal(status string) bool {
	return status == StatusCompleted || status == StatusFailed || status == StatusRejected
}

// Counts are what writing a file's rows did to the transactions table.
// Inserted+Updated+Unchanged equals the rows written.
type Counts struct {
	Inserted  int64 `json:"inserted"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
}

// Add returns the sum of c and o.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.Inserted + o.Inserted, c.Updated + o.Updated, c.Unchanged + o.Unchanged}
}

// Total is the number of rows the counts cover.
func (c Counts) Total() int64 { return c.Inserted + c.Updated + c.Unchanged }

// MaxReportedErrors is how many row errors a report keeps; the total is
// counted beyond it.
const MaxReportedErrors = 100

// FileStatus is the status record of an uploaded file.
type FileStatus struct {
	FileID string `json:"file_id"`
	// Tenant is set in the records the API answers (see Public); stored
	// records carry their tenant in FileID (see ScopedFileID).
	Tenant     string      `json:"tenant,omitempty"`
	Status     string      `json:"status"`
	Filename   string      `json:"filename"`
	SHA256     string      `json:"sha256"`
	SizeBytes  int64       `json:"size_bytes"`
	Rows       int64       `json:"rows"`
	Inserted   int64       `json:"inserted"`
	Updated    int64       `json:"updated"`
	Unchanged  int64       `json:"unchanged"`
	ErrorCount int64       `json:"error_count"`
	Errors     []ErrorItem `json:"errors"`
	Failure    string      `json:"failure"`
	Attempts   int         `json:"attempts"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	// ExpiresAt is when the upload URL of an AWAITING_UPLOAD file expires
	// (absent otherwise).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Dialect is how the file was read (nil in records written before
	// dialects were reported); Profile names the column-mapping profile
	// chosen for the upload, if any.
	Dialect *Dialect `json:"dialect,omitempty"`
	Profile string   `json:"profile,omitempty"`
	// Format is the format a two-step upload declared (POST /uploads),
	// kept on its AWAITING_UPLOAD record until the bytes arrive and are
	// read with it (absent when it declared none).
	Format *DeclaredFormat `json:"format,omitempty"`
	// Events is the file's timeline, oldest first.
	Events []StatusEvent `json:"events"`
}

// Effective returns st as it stands at now: an AWAITING_UPLOAD record past
// its ExpiresAt is EXPIRED even before a sweep has written so (on AWS no
// sweep runs: S3's lifecycle removes the bytes, the record reads EXPIRED).
func (s *FileStatus) Effective(now time.Time) *FileStatus {
	if s.Status != StatusAwaitingUpload || s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
		return s
	}
	c := *s
	c.Status = StatusExpired
	return &c
}

// Dialect is how a file was read, as detected or declared: its field
// separator and its text encoding (see docs/contract.md, Dialects).
type Dialect struct {
	Delimiter string `json:"delimiter"`       // "," ";" "\t" or "|"
	Encoding  string `json:"encoding"`        // utf-8, utf-16le, utf-16be, windows-1252 or iso-8859-1
	BOM       bool   `json:"bom,omitempty"`   // the file starts with a byte-order mark
	Sheet     string `json:"sheet,omitempty"` // the sheet read, for a spreadsheet
}

// DeclaredFormat is how an upload says its bytes are to be read: the
// separator, the encoding, the name of a stored profile and the sheet of a
// spreadsheet, by the names of POST /upload's form fields ("" detects; see
// docs/contract.md, Dialects and profiles).
type DeclaredFormat struct {
	Delimiter string `json:"delimiter,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Profile   string `json:"profile,omitempty"`
	Sheet     string `json:"sheet,omitempty"`
}

// SetCounts copies c into the record.
func (s *FileStatus) SetCounts(c Counts) {
	s.Inserted, s.Updated, s.Unchanged = c.Inserted, c.Updated, c.Unchanged
}

// Counts returns the record's counts.
func (s *FileStatus) Counts() Counts {
	return Counts{Inserted: s.Inserted, Updated: s.Updated, Unchanged: s.Unchanged}
}

// ErrorItem is a row error as reported in JSON (status records, the HTTP
// API and `txpipe validate --json`).
type ErrorItem struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Value   string `json:"value"`
	Message string `json:"message"`
}

// FileIDFromSHA256 derives a file's id from the hex SHA-256 of its bytes,
// so the same bytes uploaded twice name the same file.
func FileIDFromSHA256(hexSum string) string {
	if len(hexSum) > 32 {
		return hexSum[:32]
	}
	return hexSum
}

// Notification is the message sent to subscribers when a run ends.
type Notification struct {
	FileID     string    `json:"file_id"`
	Tenant     string    `json:"tenant"`
	Status     string    `json:"status"`
	Filename   string    `json:"filename,omitempty"`
	Rows       int64     `json:"rows"`
	Inserted   int64     `json:"inserted"`
	Updated    int64     `json:"updated"`
	Unchanged  int64     `json:"unchanged"`
	Failure    string    `json:"failure,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// NotificationFor builds the notification for a final status record.
func NotificationFor(st *FileStatus, finished time.Time) Notification {
	tenant, id := SplitFileID(st.FileID)
	return Notification{
		FileID: id, Tenant: tenant, Status: st.Status, Filename: st.Filename, Rows: st.Rows,
		Inserted: st.Inserted, Updated: st.Updated, Unchanged: st.Unchanged,
		Failure: st.Failure, FinishedAt: finished.UTC(),
	}
}

// TxQuery selects transactions with From <= timestamp < To, oldest first.
type TxQuery struct {
	From, To time.Time
	Limit    int    // 1..1000; adapters treat 0 as 100
	Cursor   string // opaque, from a previous page's NextCursor
	Merchant string // exact merchant, or "" for any
	Currency string // exact currency code, or "" for any
	// Tenant whose transactions are read; "" is DefaultTenant.
	Tenant string
}

// Matches reports whether t passes q's merchant and currency filters.
func (q TxQuery) Matches(t *Transaction) bool {
	return (q.Merchant == "" || t.Merchant == q.Merchant) && (q.Currency == "" || t.Currency == q.Currency)
}

// TxPage is one page of a transactions query.
type TxPage struct {
	Items      []Transaction `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"` // empty on the last page
}

// Transaction query limits.
const (
	DefaultTxLimit = 100
	MaxTxLimit     = 1000
)

// PageSize is q.Limit clamped to a page: DefaultTxLimit if not set, at
// most MaxTxLimit.
func (q TxQuery) PageSize() int {
	switch {
	case q.Limit <= 0:
		return DefaultTxLimit
	case q.Limit > MaxTxLimit:
		return MaxTxLimit
	}
	return q.Limit
}

// KeyUsage is a key's count of requests on a UTC day ("2006-01-02").
type KeyUsage struct {
	KeyID    string
	Day      string
	Requests int64
}

// APIKey is a client's key as stored: only the SHA-256 of its secret is kept.
type APIKey struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Hash          string  `json:"-"` // hex SHA-256 of the secret
	QuotaPerDay   int64   `json:"quota_per_day"`
	RatePerSecond float64 `json:"rate_per_second"`
	Burst         int     `json:"burst"`
	Role          string  `json:"role"` // RoleUser or RoleAdmin
	// Tenant is the tenant whose data the key reads and writes
	// (DefaultTenant if empty); an admin key reads every tenant's.
	Tenant    string    `json:"tenant"`
	CreatedAt time.Time `json:"created_at"`
}

// Upload results, as the metrics count them.
const (
	UploadAccepted = "accepted" // a new, valid file
	UploadKnown    = "known"    // bytes seen before, answered from the stored record
	UploadRejected = "rejected" // an invalid file
	UploadError    = "error"    // the request failed (too large, malformed, server error)
)

// StatusEvent is one entry of a file's timeline: a status it reached, or a
// step attempt that started or failed.
type StatusEvent struct {
	At      time.Time `json:"at"`
	Status  string    `json:"status"`
	Step    string    `json:"step,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Message string    `json:"message,omitempty"`
}

// MaxStatusEvents is how many events a status record keeps (the latest).
const MaxStatusEvents = 50

// AddEvent appends e to the record's timeline, dropping the oldest events
// past MaxStatusEvents.
func (s *FileStatus) AddEvent(e StatusEvent) {
	e.At = e.At.UTC()
	s.Events = append(s.Events, e)
	if n := len(s.Events); n > MaxStatusEvents {
		s.Events = append([]StatusEvent(nil), s.Events[n-MaxStatusEvents:]...)
	}
}

// FileQuery selects status records, newest first.
type FileQuery struct {
	Status string // exact status, or "" for any
	Name   string // a part of the filename (case-insensitive), or "" for any
	Limit  int    // 1..MaxFileLimit; adapters treat 0 as DefaultFileLimit
	Cursor string // opaque, from a previous page's NextCursor
	// Tenant whose files are listed: "" is DefaultTenant, AllTenants all.
	Tenant string
}

// PageSize is q.Limit within 1..MaxFileLimit, DefaultFileLimit for 0.
func (q FileQuery) PageSize() int {
	switch {
	case q.Limit <= 0:
		return DefaultFileLimit
	case q.Limit > MaxFileLimit:
		return MaxFileLimit
	}
	return q.Limit
}

// FilePage is one page of the file list. Its records carry no errors or
// events (GET /status has them).
type FilePage struct {
	Items      []FileStatus `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// File list limits.
const (
	DefaultFileLimit = 50
	MaxFileLimit     = 200
)

// Matches reports whether st (as stored: a scoped file id) passes q's
// filters, its tenant included.
func (q FileQuery) Matches(st *FileStatus) bool {
	if !TenantMatches(q.Tenant, st.FileID) {
		return false
	}
	if q.Status != "" && st.Status != q.Status {
		return false
	}
	return q.Name == "" || strings.Contains(strings.ToLower(st.Filename), strings.ToLower(q.Name))
}

// ListItem returns a copy of st as the file list shows it: without its
// errors and events.
func (s *FileStatus) ListItem() FileStatus {
	c := *s
	c.Errors, c.Events = []ErrorItem{}, []StatusEvent{}
	return c
}

// Volume is the rows and amount of one currency on one UTC day.
type Volume struct {
	Day         string `json:"day"` // 2006-01-02
	Currency    string `json:"currency"`
	Rows        int64  `json:"rows"`
	AmountMinor int64  `json:"amount_minor"`
	Amount      string `json:"amount"` // AmountMinor as a decimal with the currency's minor-unit digits
}

// FailedRun is a run in the dead-letter queue.
type FailedRun struct {
	FileID   string    `json:"file_id"`
	Tenant   string    `json:"tenant"`
	Filename string    `json:"filename"`
	Failure  string    `json:"failure"`
	SentAt   time.Time `json:"sent_at,omitzero"` // absent when the queue does not say
}

// API key roles. An admin key may also manage keys.
const (
	RoleUser  = ""
	RoleAdmin = "admin"
)

// KeyListing is a key as the keys page lists it, with its requests today.
type KeyListing struct {
	APIKey
	RequestsToday int64 `json:"requests_today"`
}
