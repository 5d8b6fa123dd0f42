// Package sqlite implements txpipe's storage ports on one SQLite database
// file, through modernc.org/sqlite (pure Go, no cgo): the transactions
// table, file status records, the local engine's job queue, the dead-letter
// queue and API keys with their daily usage.
//
// The database runs in WAL mode with synchronous=NORMAL: a commit is on disk
// once the process has written it, so it survives the process being killed
// (the crash the local engine is built for); an operating-system crash may
// lose the last commits but never corrupts the file. Migrations are embedded
// and applied by Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// The ports DB implements.
var (
	_ workflow.TransactionWriter = (*DB)(nil)
	_ workflow.StatusStore       = (*DB)(nil)
	_ workflow.DeadLetterQueue   = (*DB)(nil)
	_ workflow.JobQueue          = (*DB)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Page cache sizes, in KiB. The writer's cache holds the hot pages of the
// transactions B-trees while a file is ingested; it is the bulk of the
// memory the store uses, and is bounded so that `txpipe serve` stays well
// under 150 MiB of RSS while it ingests a 1M-row file.
const (
	writerCacheKiB = 48 << 10
	readerCacheKiB = 4 << 10
	readerConns    = 4
	busyTimeout    = 10 * time.Second
)

// DB is an open txpipe database. Its methods are safe for concurrent use:
// writes go through one connection (SQLite has one writer at a time, and a
// single connection keeps our own writers from ever meeting SQLITE_BUSY),
// reads through a small pool of others.
//
// Writes of transactions are group-committed: PutTransactions returns once
// its rows are written in the open write transaction, and that transaction
// commits when any other write needs to be durable (a status record, a job's
// progress, a key's usage), when it holds maxPendingRows rows, when it is
// maxPendingAge old, or after idleCommit without writes. SQLite commits in
// order, so any write that another write followed is durable once the later
// one is: a run's progress is never on disk without the rows it covers, and
// a crash only loses rows that a resumed run writes again (PutTransactions
// is idempotent per file). ListTransactions commits the open transaction
// first, so a read sees every write that returned.
type DB struct {
	path   string
	logger *slog.Logger
	write  *sql.DB
	read   *sql.DB
	now    func() time.Time
	idHash func(id string) int64 // tests make it collide

	mu      sync.Mutex // guards the prepared statements below
	stmts   map[string]*sql.Stmt
	puts    *putStmts
	closing bool

	wmu          sync.Mutex // guards the write transaction
	wtx          *sql.Tx    // the open write transaction, or nil
	wsince       time.Time  // when wtx began
	wlast        time.Time  // the last write in wtx
	wrows        int        // transactions written in wtx
	wdeferred    bool       // wtx holds writes reported as done
	lost         error      // set when a commit of such writes failed
	wclosed      bool
	stop         chan struct{}
	backgroundWG sync.WaitGroup
}

// Group commit limits; see DB.
const (
	maxPendingRows = 100_000
	maxPendingAge  = time.Second
	idleCommit     = 50 * time.Millisecond
	checkpointGap  = 500 * time.Millisecond
)

func dsn(file string, cacheKiB int, txlock string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	q.Add("_pragma", "temp_store(MEMORY)")
	// The write connection does not checkpoint after its commits; a
	// background goroutine does, on a reader connection, so the writer never
	// waits for the fsyncs of a checkpoint.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	if txlock != "" {
		q.Set("_txlock", txlock)
	}
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating it if needed) the database at path, typically
// `<data-dir>/txpipe.db`, and applies the migrations it has not seen yet.
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	write, err := sql.Open("sqlite", dsn(path, writerCacheKiB, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	db := &DB{path: path, logger: logger, write: write, now: time.Now, idHash: idHash, stmts: map[string]*sql.Stmt{}}
	if err := db.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	db.read, err = sql.Open("sqlite", dsn(path, readerCacheKiB, ""))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.read.SetMaxOpenConns(readerConns)
	db.read.SetMaxIdleConns(readerConns)
	db.stop = make(chan struct{})
	db.backgroundWG.Add(1)
	go db.background()
	return db, nil
}

// Path is the database file's path.
func (db *DB) Path() string { return db.path }

// Close commits the open write transaction and closes the database. It
// checkpoints the write-ahead log into the database file first, so a closed
// database is one file.
func (db *DB) Close() error {
	db.wmu.Lock()
	closed := db.wclosed
	db.wmu.Unlock()
	if closed {
		return nil
	}
	close(db.stop)
	db.backgroundWG.Wait()
	var errs []error
	db.wmu.Lock()
	if db.wtx != nil {
		errs = append(errs, db.commitLocked())
	}
	db.wclosed = true
	db.wmu.Unlock()
	db.mu.Lock()
	db.closing = true
	for _, s := range db.stmts {
		s.Close()
	}
	db.stmts, db.puts = nil, nil
	db.mu.Unlock()
	errs = append(errs, db.read.Close())
	if _, err := db.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		db.logger.Warn("sqlite: checkpoint on close", "path", db.path, "err", err)
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", db.path, err)
	}
	return nil
}

// background commits an idle or old write transaction and checkpoints the
// write-ahead log, until Close.
func (db *DB) background() {
	defer db.backgroundWG.Done()
	tick := time.NewTicker(idleCommit / 2)
	defer tick.Stop()
	lastCheckpoint := time.Now()
	for {
		select {
		case <-db.stop:
			return
		case now := <-tick.C:
			db.wmu.Lock()
			if db.wtx != nil && (now.Sub(db.wlast) >= idleCommit || now.Sub(db.wsince) >= maxPendingAge) {
				if err := db.commitLocked(); err != nil {
					db.logger.Error("sqlite: group commit", "path", db.path, "err", err)
				}
			}
			db.wmu.Unlock()
			if now.Sub(lastCheckpoint) >= checkpointGap {
				lastCheckpoint = now
				if _, err := db.read.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					db.logger.Warn("sqlite: checkpoint", "path", db.path, "err", err)
				}
			}
		}
	}
}

// commitLocked commits the open write transaction; db.wmu is held.
func (db *DB) commitLocked() error {
	tx, deferred := db.wtx, db.wdeferred
	db.wtx, db.wdeferred, db.wrows = nil, false, 0
	if err := tx.Commit(); err != nil {
		if deferred {
			db.lost = err
			db.logger.Error("sqlite: lost transactions that were reported written; restart to resume their runs", "path", db.path, "err", err)
		}
		return fmt.Errorf("commit: %w", translate(err))
	}
	return nil
}

// update runs fn in the write transaction, inside a savepoint, so an error
// of fn undoes fn's writes only. It commits unless deferCommit is set (and
// the group commit limits are not reached); rows counts fn's transactions.
//
// fn runs with a context that is not canceled: SQLite rolls back a whole
// transaction when a statement in it is interrupted, and the transaction may
// hold other callers' writes. ctx is checked before fn starts.
//
// With deferCommit, fn runs without a savepoint (a savepoint makes SQLite
// copy every page it changes to a sub-journal, a third of the cost of a
// batch): if it fails, the whole write transaction is rolled back, and if
// that loses writes reported as done, the database refuses further writes
// until it is reopened.
func (db *DB) update(ctx context.Context, deferCommit bool, rows int, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.lost != nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "database %s lost writes, restart to resume: %w", db.path, db.lost)
	}
	if db.wclosed {
		return txpipe.Errorf(txpipe.EINTERNAL, "database %s is closed", db.path)
	}
	bg := context.WithoutCancel(ctx)
	if db.wtx == nil {
		tx, err := db.write.BeginTx(context.Background(), nil)
		if err != nil {
			return fmt.Errorf("begin: %w", translate(err))
		}
		db.wtx, db.wsince = tx, time.Now()
	}
	db.wlast = time.Now()
	// Others' writes pending in the transaction survive a failure of fn
	// through a savepoint; a batch of transactions goes without.
	savepoint := db.wdeferred && !deferCommit
	if savepoint {
		if _, err := db.wtx.ExecContext(bg, "SAVEPOINT op"); err != nil {
			return db.abortLocked(err)
		}
	}
	if err := fn(bg, db.wtx); err != nil {
		if !savepoint {
			return db.abortLocked(err)
		}
		if _, rerr := db.wtx.ExecContext(bg, "ROLLBACK TO op"); rerr != nil {
			return db.abortLocked(errors.Join(err, rerr))
		}
		if _, rerr := db.wtx.ExecContext(bg, "RELEASE op"); rerr != nil {
			return db.abortLocked(errors.Join(err, rerr))
		}
		return translate(err)
	}
	if savepoint {
		if _, err := db.wtx.ExecContext(bg, "RELEASE op"); err != nil {
			return db.abortLocked(err)
		}
	}
	if deferCommit {
		db.wrows += rows
		db.wdeferred = true
		if db.wrows < maxPendingRows && time.Since(db.wsince) < maxPendingAge {
			return nil
		}
	}
	return db.commitLocked()
}

// Sync commits the write transaction, if one is open: the transactions
// written so far become visible to readers and durable.
func (db *DB) Sync(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.lost != nil {
		return txpipe.Errorf(txpipe.EINTERNAL, "database %s lost writes, restart to resume: %w", db.path, db.lost)
	}
	if db.wtx == nil {
		return nil
	}
	return db.commitLocked()
}

// abortLocked handles a write transaction SQLite gave up: it rolls it back
// and, if it held writes reported as done, refuses further writes.
func (db *DB) abortLocked(cause error) error {
	tx, deferred := db.wtx, db.wdeferred
	db.wtx, db.wdeferred, db.wrows = nil, false, 0
	_ = tx.Rollback()
	if deferred {
		db.lost = cause
		db.logger.Error("sqlite: lost transactions that were reported written; restart to resume their runs", "path", db.path, "err", cause)
	}
	return translate(cause)
}

// migrate applies the embedded migrations whose number is above the
// database's user_version, each in its own transaction with the new version.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		n, _, ok := strings.Cut(path.Base(name), "_")
		version, err := strconv.Atoi(n)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name does not start with a number", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var current int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
				return err
			}
			if version <= current {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
				return err
			}
			db.logger.Info("sqlite: applied migration", "path", db.path, "migration", path.Base(name), "version", version)
			return nil
		})
		if err != nil {
			return fmt.Errorf("apply migration %s to %s: %w", name, db.path, err)
		}
	}
	return nil
}

// SchemaVersion is the number of the last migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", translate(err))
	}
	return v, nil
}

// inTx runs fn in the write transaction and commits it.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return db.update(ctx, false, 0, fn)
}

// stmt returns the write connection's prepared statement for query.
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closing {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "database %s is closed", db.path)
	}
	if s, ok := db.stmts[query]; ok {
		return s, nil
	}
	s, err := db.write.PrepareContext(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	db.stmts[query] = s
	return s, nil
}

// translate gives a driver error its txpipe kind: a busy or locked database
// and an interrupted statement are transient, a missing row is not found,
// anything else internal. Errors that have a kind already pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var te *txpipe.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return txpipe.Wrap(txpipe.ENOTFOUND, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_PROTOCOL:
			return txpipe.Wrap(txpipe.ETRANSIENT, err)
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return txpipe.Wrap(txpipe.ETRANSIENT, err)
		}
	}
	return txpipe.Wrap(txpipe.EINTERNAL, err)
}
