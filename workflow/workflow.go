// Package workflow declares txpipe's pipeline once: its steps, their retry
// policy and the ports (small interfaces) the steps use. The local engine
// runs this definition in process; the AWS stack generates its Step
// Functions state machine from it (see ASL).
package workflow

import (
	"context"
	"io"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
)

// RunState is the document that flows through a run: the input of the first
// step, the output of each step and the input of the next. On AWS it is the
// Step Functions execution state and the body of a dead-letter message; the
// local engine stores it with each job.
type RunState struct {
	FileID   string `json:"file_id"`
	FileKey  string `json:"file_key"` // the file store key: hex SHA-256 of the bytes
	Filename string `json:"filename,omitempty"`
	Rows     int64  `json:"rows"`
	// SizeBytes is the file's size, for the status record a run creates
	// when the intake crashed before writing it.
	SizeBytes int64 `json:"size_bytes,omitempty"`
	// Format is how the intake read the file (separator and encoding as
	// detected, and the profile), so Transform reads the same rows; nil
	// for the default format.
	Format *csvschema.Format `json:"format,omitempty"`
	Counts *txpipe.Counts    `json:"counts,omitempty"` // set by Transform or Finish
	Error  *StepError        `json:"error,omitempty"`  // set when a step failed for good
	// UploadKey is where the bytes of a two-step upload landed (on AWS the
	// S3 key under the upload prefix), for Validate to take them in.
	UploadKey string `json:"upload_key,omitempty"`
	// Rejected is set by Validate for a file that failed validation.
	Rejected bool `json:"rejected,omitempty"`
	// HeaderEnd and Chunks are set by Split: the file's header is its bytes
	// [0, HeaderEnd); each chunk a range of whole rows after it.
	HeaderEnd int64   `json:"header_end,omitempty"`
	Chunks    []Chunk `json:"chunks,omitempty"`
	// ChunkResults are the map step's outputs, one per chunk.
	ChunkResults []ChunkResult `json:"chunk_results,omitempty"`
}

// Chunk is a range of whole rows of a stored file: bytes [Start, End),
// holding Rows rows.
type Chunk struct {
	Index int   `json:"index"`
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	Rows  int64 `json:"rows"`
	// Whole is set for the one chunk of a file that cannot be cut (not
	// UTF-8): it is read whole.
	Whole bool `json:"whole,omitempty"`
}

// ChunkResult is what writing a chunk did (the output of the map step's
// function, a RunState with these fields).
type ChunkResult struct {
	Rows   int64          `json:"rows"`
	Counts *txpipe.Counts `json:"counts"`
}

// StepError is the error of a failed step, in the shape Step Functions puts
// at a Catch's ResultPath.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// StepInput is what a step's function receives: the step's name and the
// run's state. The Lambda functions receive it as their event.
type StepInput struct {
	Step  string   `json:"step"`
	State RunState `json:"state"`
	// Chunk is the chunk a map step's function writes.
	Chunk *Chunk `json:"chunk,omitempty"`
}

// TransactionWriter is the write side of the transactions table.
type TransactionWriter interface {
	// PutTransactions upserts txs (all of one file, at most MaxBatch) and
	// returns how many it inserted, updated and left unchanged. Writing a
	// row again with the same FileID reports its first write's outcome, so
	// a file's counts stay exact however often its run restarts. A store
	// may commit after it returns, no later than its next status or job
	// write or read (docs/workflow.md, "Writing rows").
	PutTransactions(ctx context.Context, txs []txpipe.Transaction) (txpipe.Counts, error)
}

// RowsDurability is a TransactionWriter whose group commits may fail after
// PutTransactions returned (a full disk), losing rows it reported written.
// Transform calls BeginRows before it writes a file's rows and SyncRows
// before it records their counts, so a run never records counts that miss
// rows: SyncRows fails with a transient error (the step is retried and
// writes the rows again) if any was lost since BeginRows, and
// PutTransactions refuses the file's rows until BeginRows.
type RowsDurability interface {
	BeginRows(ctx context.Context, fileID string) error
	SyncRows(ctx context.Context, fileID string) error
}

// RowsSettler is a TransactionWriter whose commits go to a log that is
// copied into the store later (SQLite's write-ahead log). Finish calls
// SettleRows once a file's rows are committed, before the run is COMPLETED,
// so the queries that follow do not compete with that copy.
type RowsSettler interface {
	SettleRows(ctx context.Context) error
}

// MaxBatch is the most transactions one PutTransactions call receives.
const MaxBatch = 1000

// StatusStore is the table of file status records.
type StatusStore interface {
	// CreateStatus stores st if no record with its FileID exists and
	// returns (st, true); otherwise it returns the stored record and false.
	CreateStatus(ctx context.Context, st *txpipe.FileStatus) (*txpipe.FileStatus, bool, error)
	// GetStatus returns the record, or an ENOTFOUND error.
	GetStatus(ctx context.Context, fileID string) (*txpipe.FileStatus, error)
	// UpdateStatus replaces the record if its stored status is one of from,
	// and fails with ECONFLICT otherwise (ENOTFOUND if there is none), so a
	// late retry cannot move a finished file back.
	UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error
}

// NotificationOutbox is a StatusStore that writes a run's notification in
// the same transaction as its final status, to a durable outbox delivered
// later (the local store's webhooks): a notification is never lost, nor
// sent for a status that was not recorded. UpdateStatusNotify is
// UpdateStatus (ECONFLICT unless the stored status is one of from) that
// also writes n.
type NotificationOutbox interface {
	UpdateStatusNotify(ctx context.Context, st *txpipe.FileStatus, n txpipe.Notification, from ...string) error
}

// ProgressWriter is a StatusStore that records a PROCESSING record's counts
// so far (for `upload --wait`) more cheaply than UpdateStatus: it does not
// make the rows those counts cover durable first. Such counts are for
// display only; a step makes its rows durable (RowsDurability.SyncRows)
// before any count that a later step relies on. UpdateProgress replaces
// the record only while it is PROCESSING (ECONFLICT otherwise).
type ProgressWriter interface {
	UpdateProgress(ctx context.Context, st *txpipe.FileStatus) error
}

// FileStore keeps uploaded files by key (the hex SHA-256 of their bytes).
type FileStore interface {
	// PutFile stores the bytes of r under key durably. Putting a key that
	// exists replaces it with the same bytes.
	PutFile(ctx context.Context, key string, r io.Reader) error
	// OpenFile returns the file's bytes, or an ENOTFOUND error.
	OpenFile(ctx context.Context, key string) (io.ReadCloser, error)
}

// Notifier tells subscribers that a run ended.
type Notifier interface {
	Notify(ctx context.Context, n txpipe.Notification) error
}

// DeadLetterQueue keeps the state of runs that failed for good, so they can
// be redriven.
type DeadLetterQueue interface {
	SendDeadLetter(ctx context.Context, st RunState) error
}

// DeadLetter is a run that failed for good, as a dead-letter queue holds
// it for `txpipe dlq list`.
type DeadLetter struct {
	FileID string
	State  RunState
	SentAt time.Time // zero when the queue does not say
}

// Clock returns the current time; tests may fix it.
type Clock func() time.Time

// Starter starts a run of the pipeline for a validated, stored file: the
// local engine enqueues a durable job; on AWS it starts a Step Functions
// execution.
type Starter interface {
	StartRun(ctx context.Context, st RunState) error
}

// Upload is a file received by the API and spooled to local disk.
type Upload struct {
	Filename string
	File     io.ReadSeeker // the spooled bytes, read from the start
	Size     int64
	SHA256   string // hex SHA-256 of the bytes
	// Path is the spool file holding the bytes, if any: a FileStore that
	// can move a file into place (PathPutter) takes it instead of a copy.
	Path string
	// Format is how to read the file, as the upload declared it (form
	// fields delimiter, encoding and profile); the zero Format detects.
	Format csvschema.Format
	// Tenant is the tenant of the key that uploaded it; "" is the default
	// tenant. The file's id is scoped by it (txpipe.ScopedFileID).
	Tenant string
}

// RangeOpener is a FileStore that can read part of a file: a chunk is
// read without the bytes before it.
type RangeOpener interface {
	// OpenRange returns the n bytes of the file from offset off.
	OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// UploadStore holds the bytes of two-step uploads where the client sent
// them (on AWS the bucket's upload prefix), until Validate claims them.
type UploadStore interface {
	// OpenUpload returns the bytes at key, or an ENOTFOUND error.
	OpenUpload(ctx context.Context, key string) (io.ReadCloser, error)
	// ClaimUpload stores the bytes at key as the file fileKey (a server-side
	// copy) and removes them from the upload prefix.
	ClaimUpload(ctx context.Context, key, fileKey string) error
}

// UploadSeeker is an UploadStore that can read the bytes at key from an
// offset on: Validate then reads them a second time for the duplicate-id
// candidates it found by hash, instead of keeping every id in memory (12
// bytes a row against about 85; see csvschema.Validate).
type UploadSeeker interface {
	OpenUploadAt(ctx context.Context, key string, off int64) (io.ReadCloser, error)
}

// PathPutter is a FileStore that can take a local file by moving it, which
// saves copying a large upload. The file is gone from path afterwards.
type PathPutter interface {
	PutFileFromPath(ctx context.Context, key, path string) error
}

// Run phases of a local job.
const (
	PhaseRun  = "run"  // running Definition.Steps
	PhaseFail = "fail" // running Definition.OnFailure
)

// Job is a run recorded by the local engine, saved after every step so a
// restarted server resumes where it stopped.
type Job struct {
	FileID  string
	Phase   string   // PhaseRun or PhaseFail
	Step    int      // index of the next step to run in the phase's list
	Attempt int      // attempts already made at that step
	State   RunState // the input of that step
	DueAt   time.Time
}

// JobQueue durably records the local engine's jobs.
type JobQueue interface {
	// EnqueueJob records j unless a job for j.FileID exists already.
	EnqueueJob(ctx context.Context, j Job) error
	// ClaimJob returns a job due at now that no worker holds, and holds it
	// until now+lease; it returns nil, nil when there is none. A lease runs
	// out by itself, so the jobs of a crashed worker are claimed again.
	ClaimJob(ctx context.Context, now time.Time, lease time.Duration) (*Job, error)
	// SaveJob records j's progress and releases it (it is claimable again
	// at j.DueAt).
	SaveJob(ctx context.Context, j Job) error
	// DeleteJob removes a finished job.
	DeleteJob(ctx context.Context, fileID string) error
	// ReleaseLeases makes every job claimable at once. The local engine
	// calls it on start: it is the only process working on its data dir,
	// so any lease left is a crashed run's.
	ReleaseLeases(ctx context.Context) error
}

// JobCheckpointer is a JobQueue that records a job's state while a worker
// holds it (the lease stays): the local engine records each finished chunk
// of a map step, so a crash resumes the map at its unfinished chunks.
type JobCheckpointer interface {
	// CheckpointJob replaces the state of the job j.FileID if it is still
	// at j's phase and step; otherwise it changes nothing. The rows of the
	// chunk results it records are durable already: TransformChunk makes
	// them so (RowsDurability.SyncRows) before a chunk finishes.
	CheckpointJob(ctx context.Context, j Job) error
}

// dialect is the dialect the intake read the file with, for a status
// record the run creates.
func (st RunState) dialect() *txpipe.Dialect {
	d := &txpipe.Dialect{Delimiter: ",", Encoding: csvschema.EncUTF8}
	if st.Format != nil {
		if st.Format.Delimiter != "" {
			d.Delimiter = st.Format.Delimiter
		}
		if st.Format.Encoding != "" {
			d.Encoding = st.Format.Encoding
		}
	}
	return d
}

func (st RunState) profileName() string {
	if st.Format == nil || st.Format.Profile == nil {
		return ""
	}
	return st.Format.Profile.Name
}
