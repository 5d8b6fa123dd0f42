// Package sqlite implements txpipe's storage ports on SQLite, through
// modernc.org/sqlite (pure Go, no cgo): the transactions table, file status
// records, the local engine's job queue, the dead-letter queue and API keys
// with their daily usage.
//
// A database is a main file (`txpipe.db`: statuses, jobs, dead letters,
// keys) and transaction shards next to it (`txpipe-transactions-0.db`, ...),
// each a SQLite file with its own writer, so that the shards of a batch are
// written in parallel (see DB).
//
// Every file runs in WAL mode with synchronous=NORMAL: a commit is on disk
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
	"os"
	"path"
	"path/filepath"
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
	_ workflow.RowsDurability    = (*DB)(nil)
	_ workflow.StatusJobWriter   = (*DB)(nil)
	_ workflow.ProgressWriter    = (*DB)(nil)
)

//go:embed migrations/main/*.sql migrations/transactions/*.sql
var migrations embed.FS

// Page cache sizes, in KiB. A shard writer's cache holds the hot pages of
// its transactions B-trees while a file is ingested; the shard writers'
// caches are the bulk of the memory the store uses, and are bounded so that
// `txpipe serve` stays well under 150 MiB of RSS while it ingests a 1M-row
// file. A reader's cache is small: a page of transactions reads random
// table pages that no cache of a few MiB keeps, and a commit empties every
// reader's cache, whose buffers are then allocated (and faulted in) again
// by the next queries (docs/performance.md, "Fifth round").
const (
	mainWriterCacheKiB  = 4 << 10
	shardWriterCacheKiB = 22 << 10
	readerCacheKiB      = 1 << 10
	genListCacheKiB     = 1 << 10
	mainReaderConns     = 4
	shardReaderConns    = 2
	busyTimeout         = 10 * time.Second
)

// DefaultShards is the number of transaction shards of a new database. The
// number is recorded in the main file when it is created: an id's shard is
// a function of its hash and the number of shards, so it never changes.
const DefaultShards = 2

// DB is an open txpipe database; its methods are safe for concurrent use.
// Each file (main and shards) has one write connection and a few readers; a
// batch is split by id hash and its shards written in parallel. Rows are
// group-committed, and a run's state (status, job) is never on disk without
// the rows it covers. docs/sqlite-writes.md gives the reasoning.
type DB struct {
	path   string
	logger *slog.Logger
	main   *file
	shards []*file
	read   *sql.DB // main.read
	now    func() time.Time
	idHash func(id string) int64 // tests make it collide
	lost   *lostRows
	// tenants are the other tenants' shard sets (nil in a tenant's view);
	// tenant is the view's tenant, "" for the database itself.
	tenants *tenantSets
	tenant  string

	closeMu      sync.Mutex
	closed       bool
	stop         chan struct{}
	backgroundWG sync.WaitGroup
}

// file is one SQLite database file: a write connection with its group
// commit state and prepared statements, and a pool of read connections.
type file struct {
	path   string
	logger *slog.Logger
	write  *sql.DB
	read   *sql.DB

	mu      sync.Mutex // guards the prepared statements below
	stmts   map[string]*sql.Stmt
	puts    *putStmts
	closing bool

	wmu       sync.Mutex          // guards the write transaction
	wtx       *sql.Tx             // the open write transaction, or nil
	wsince    time.Time           // when wtx began
	wlast     time.Time           // the last write in wtx
	wrows     int                 // transactions written in wtx
	wdeferred bool                // wtx holds writes reported as done
	wfiles    map[string]struct{} // the files whose rows those writes are
	wvol      volumeDelta         // the volumes the writes in wtx change, written at its commit
	wclosed   bool

	gens      *generations      // a shard's generations (gens.go); nil for the main file
	listStmts map[int]*sql.Stmt // a shard's transactions queries by their arms, on read (guarded by mu)
	genList   *genList          // a shard's generations as committed
	arms      int               // the most generations one transactions query merges, if not maxArms

	lost   *lostRows // shared by the database's files
	failed error     // the last write failure, until a commit succeeds
}

// lostRows records the files some of whose rows were reported written but
// then lost, because the group commit that held them failed (a full disk).
// A file's rows are refused until its run starts writing them again
// (BeginRows), so a run cannot record counts that miss rows.
type lostRows struct {
	mu    sync.Mutex
	files map[string]error
}

func (l *lostRows) add(files map[string]struct{}, cause error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range files {
		l.files[id] = cause
	}
}

// check returns an ETRANSIENT error if rows of the file were lost.
func (l *lostRows) check(fileID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cause, ok := l.files[fileID]; ok {
		return txpipe.Errorf(txpipe.ETRANSIENT, "rows of file %s were lost by a failed commit, write them again: %w", fileID, cause)
	}
	return nil
}

func (l *lostRows) forget(fileID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.files, fileID)
}

// Group commit limits: a shard commits when a status or job write needs it,
// after maxPendingRows rows or maxPendingAge, or after idleCommit without
// writes (why so rarely: docs/sqlite-writes.md, "Group commit").
const (
	maxPendingRows = 1_000_000
	maxPendingAge  = 30 * time.Second
	idleCommit     = 500 * time.Millisecond
	checkpointGap  = 500 * time.Millisecond
)

func dsn(path string, cacheKiB int, txlock string) string {
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
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openFile opens (creating it if needed) the SQLite file at path and
// applies the migrations of the dir of the embedded migrations.
func openFile(ctx context.Context, path string, logger *slog.Logger, lost *lostRows, writerCacheKiB, readerConns int, dir string) (*file, error) {
	write, err := sql.Open("sqlite", dsn(path, writerCacheKiB, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	f := &file{path: path, logger: logger, write: write, stmts: map[string]*sql.Stmt{}, lost: lost}
	if err := f.migrate(ctx, dir); err != nil {
		write.Close()
		return nil, err
	}
	f.read, err = sql.Open("sqlite", dsn(path, readerCacheKiB, ""))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f.read.SetMaxOpenConns(readerConns)
	f.read.SetMaxIdleConns(readerConns)
	return f, nil
}

// shardPath is the path of shard i of the database at path:
// `txpipe.db` has `txpipe-transactions-0.db`, ...
func shardPath(path string, i int) string {
	return strings.TrimSuffix(path, ".db") + "-transactions-" + strconv.Itoa(i) + ".db"
}

// Open opens (creating it if needed) the database at path, typically
// `<data-dir>/txpipe.db`, with its transaction shards, and applies the
// migrations they have not seen yet.
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lost := &lostRows{files: map[string]error{}}
	main, err := openFile(ctx, path, logger, lost, mainWriterCacheKiB, mainReaderConns, "migrations/main")
	if err != nil {
		return nil, openError(path, err)
	}
	db := &DB{path: path, logger: logger, main: main, read: main.read, now: time.Now, idHash: idHash, lost: lost}
	n, err := db.shardCount(ctx)
	if err != nil {
		main.close()
		return nil, err
	}
	for i := range n {
		s, err := openFile(ctx, shardPath(path, i), logger, lost, shardWriterCacheKiB, shardReaderConns, "migrations/transactions")
		if err != nil {
			for _, s := range db.shards {
				s.close()
			}
			main.close()
			return nil, openError(shardPath(path, i), err)
		}
		db.shards = append(db.shards, s)
	}
	if err := db.moveLegacyRows(ctx); err != nil {
		for _, s := range db.shards {
			s.close()
		}
		main.close()
		return nil, err
	}
	if err := loadShardGenerations(ctx, db.shards); err != nil {
		for _, s := range db.shards {
			s.close()
		}
		main.close()
		return nil, err
	}
	if err := db.openTenants(ctx); err != nil {
		for _, s := range db.allShards() {
			s.close()
		}
		main.close()
		return nil, err
	}
	db.stop = make(chan struct{})
	db.backgroundWG.Add(1)
	go db.background()
	return db, nil
}

// shardCount returns the number of shards recorded in the main file,
// recording DefaultShards in a new database (or one made before the
// shards, whose transactions Open then moves into them).
func (db *DB) shardCount(ctx context.Context) (int, error) {
	var value string
	err := db.main.update(ctx, "", 0, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('transaction_shards', ?) ON CONFLICT (name) DO NOTHING`,
			strconv.Itoa(DefaultShards)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'transaction_shards'`).Scan(&value)
	})
	if err != nil {
		return 0, fmt.Errorf("read the number of shards of %s: %w", db.path, err)
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > 64 {
		return 0, txpipe.Errorf(txpipe.EINTERNAL, "database %s records %q transaction shards", db.path, value)
	}
	return n, nil
}

// Path is the main database file's path.
func (db *DB) Path() string { return db.path }

// Close commits the open write transactions and closes the database. It
// checkpoints the write-ahead logs into the database files first, so each
// closed file is one file.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	close(db.stop)
	db.backgroundWG.Wait()
	var errs []error
	// The shards first: their rows precede anything the main file records.
	for _, s := range db.allShards() {
		errs = append(errs, s.close())
	}
	errs = append(errs, db.main.close())
	return errors.Join(errs...)
}

// close commits f's open write transaction, checkpoints and closes f.
func (f *file) close() error {
	var errs []error
	f.wmu.Lock()
	if f.wtx != nil {
		errs = append(errs, f.commitLocked())
	}
	f.wclosed = true
	if f.gens != nil {
		f.gens.release()
	}
	f.wmu.Unlock()
	f.mu.Lock()
	f.closing = true
	for _, s := range f.stmts {
		s.Close()
	}
	for _, s := range f.listStmts {
		s.Close()
	}
	f.stmts, f.puts, f.listStmts = nil, nil, nil
	f.mu.Unlock()
	if f.genList != nil {
		errs = append(errs, f.genList.close())
	}
	if f.read != nil {
		errs = append(errs, f.read.Close())
	}
	if _, err := f.write.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		f.logger.Warn("sqlite: checkpoint on close", "path", f.path, "err", err)
	}
	errs = append(errs, f.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// files returns the shards and the main file, in the order they commit.
func (db *DB) files() []*file {
	return append(db.allShards(), db.main)
}

// background commits idle or old write transactions and checkpoints the
// write-ahead logs, until Close.
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
			for _, f := range db.files() {
				f.wmu.Lock()
				if f.wtx != nil && (now.Sub(f.wlast) >= idleCommit || now.Sub(f.wsince) >= maxPendingAge) {
					if err := f.commitLocked(); err != nil {
						f.logger.Error("sqlite: group commit", "path", f.path, "err", err)
					}
				}
				f.wmu.Unlock()
			}
			if now.Sub(lastCheckpoint) >= checkpointGap {
				lastCheckpoint = now
				for _, f := range db.files() {
					if _, err := f.read.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
						f.logger.Warn("sqlite: checkpoint", "path", f.path, "err", err)
					}
				}
			}
		}
	}
}

// commitLocked commits the open write transaction; f.wmu is held. The
// volumes its rows change are written in it first (see volumeDelta), so the
// aggregate commits with the rows it counts.
func (f *file) commitLocked() error {
	tx, deferred, files, vol := f.wtx, f.wdeferred, f.wfiles, f.wvol
	f.wtx, f.wdeferred, f.wrows, f.wfiles, f.wvol = nil, false, 0, nil, nil
	err := f.writeVolumes(tx, vol)
	if err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback()
	}
	if err != nil {
		err = translate(err)
		// A COMMIT that fails for lack of space or an I/O error may leave
		// the transaction open on the connection; the next BEGIN would fail.
		_, _ = f.write.Exec("ROLLBACK")
		f.failed = err
		if deferred {
			f.lost.add(files, err)
			f.logger.Error("sqlite: a group commit failed; the runs of its rows write them again", "path", f.path, "files", len(files), "err", err)
		}
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	f.failed = nil
	f.restartLogLocked()
	return nil
}

// walRestartBytes is the write-ahead log size from which a commit is
// followed by a checkpoint on the write connection, so that the log starts
// over (see restartLogLocked). It is above journal_size_limit, the size a
// log is truncated to when it starts over.
const walRestartBytes = 128 << 20

// restartLogLocked lets the write-ahead log start over once it is longer
// than walRestartBytes, by a checkpoint between a commit and the next BEGIN
// (without it the log grew without end while a file was ingested:
// docs/sqlite-writes.md, "The write-ahead log"). f.wmu is held and no write
// transaction is open.
func (f *file) restartLogLocked() {
	info, err := os.Stat(f.path + "-wal")
	if err != nil || info.Size() < walRestartBytes {
		return
	}
	if _, err := f.write.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		f.logger.Warn("sqlite: checkpoint after a commit", "path", f.path, "err", err)
	}
}

// update runs fn in f's write transaction: in a savepoint, then committed;
// or, with deferFile (the file whose rows fn writes; rows counts them),
// without a savepoint and left to the group commit, a failure rolling back
// the whole transaction (files whose rows were lost are refused until
// rewritten: DB.BeginRows). ctx is checked before fn, which runs
// uncanceled. Why: docs/sqlite-writes.md, "update".
func (f *file) update(ctx context.Context, deferFile string, rows int, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	deferCommit := deferFile != ""
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.wclosed {
		return txpipe.Errorf(txpipe.EINTERNAL, "database %s is closed", f.path)
	}
	bg := context.WithoutCancel(ctx)
	if f.wtx == nil {
		tx, err := f.write.BeginTx(context.Background(), nil)
		if err != nil {
			err = translate(err)
			f.failed = err
			return fmt.Errorf("begin: %w", err)
		}
		f.wtx, f.wsince = tx, time.Now()
	}
	f.wlast = time.Now()
	// Others' writes pending in the transaction survive a failure of fn
	// through a savepoint; a batch of transactions goes without.
	savepoint := f.wdeferred && !deferCommit
	if savepoint {
		if _, err := f.wtx.ExecContext(bg, "SAVEPOINT op"); err != nil {
			return f.abortLocked(err)
		}
	}
	if err := fn(bg, f.wtx); err != nil {
		if !savepoint {
			return f.abortLocked(err)
		}
		if _, rerr := f.wtx.ExecContext(bg, "ROLLBACK TO op"); rerr != nil {
			return f.abortLocked(errors.Join(err, rerr))
		}
		if _, rerr := f.wtx.ExecContext(bg, "RELEASE op"); rerr != nil {
			return f.abortLocked(errors.Join(err, rerr))
		}
		return translate(err)
	}
	if savepoint {
		if _, err := f.wtx.ExecContext(bg, "RELEASE op"); err != nil {
			return f.abortLocked(err)
		}
	}
	if deferCommit {
		f.wrows += rows
		f.wdeferred = true
		if f.wfiles == nil {
			f.wfiles = map[string]struct{}{}
		}
		f.wfiles[deferFile] = struct{}{}
		if f.wrows < maxPendingRows && time.Since(f.wsince) < maxPendingAge {
			return nil
		}
	}
	return f.commitLocked()
}

// sync commits f's write transaction, if one is open.
func (f *file) sync() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.wtx == nil {
		return nil
	}
	return f.commitLocked()
}

// syncShards commits every shard's open write transaction.
func (db *DB) syncShards() error {
	for _, s := range db.allShards() {
		if err := s.sync(); err != nil {
			return err
		}
	}
	return nil
}

// Sync commits the open write transactions: the transactions written so
// far become visible to readers and durable.
func (db *DB) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	for _, f := range db.files() {
		if err := f.sync(); err != nil {
			return err
		}
	}
	return nil
}

// abortLocked handles a write transaction SQLite gave up: it rolls it back
// and records the files whose rows it held as lost.
func (f *file) abortLocked(cause error) error {
	tx, deferred, files := f.wtx, f.wdeferred, f.wfiles
	f.wtx, f.wdeferred, f.wrows, f.wfiles, f.wvol = nil, false, 0, nil, nil
	_ = tx.Rollback()
	cause = translate(cause)
	if deferred {
		f.lost.add(files, cause)
		f.logger.Error("sqlite: a write transaction failed; the runs of its rows write them again", "path", f.path, "files", len(files), "err", cause)
	}
	return cause
}

// migrate applies the embedded migrations of dir whose number is above the
// file's user_version, each in its own transaction with the new version.
func (f *file) migrate(ctx context.Context, dir string) error {
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(names)
	// A current file (every open but the first) needs no transaction.
	var start int
	if err := f.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&start); err != nil {
		return fmt.Errorf("read the schema version of %s: %w", f.path, translate(err))
	}
	seen := map[int]string{}
	for _, name := range names {
		n, _, ok := strings.Cut(path.Base(name), "_")
		version, err := strconv.Atoi(n)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name does not start with a number", name)
		}
		// Two migrations of one number: the second would never be applied.
		if other, dup := seen[version]; dup {
			return fmt.Errorf("migrations %s and %s have the same number %d", other, name, version)
		}
		seen[version] = name
		if version <= start {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		err = f.update(ctx, "", 0, func(ctx context.Context, tx *sql.Tx) error {
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
			f.logger.Info("sqlite: applied migration", "path", f.path, "migration", path.Base(name), "version", version)
			return nil
		})
		if err != nil {
			return fmt.Errorf("apply migration %s to %s: %w", name, f.path, err)
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

// inTx runs fn in the main file's write transaction and commits it. Every
// shard's open write transaction commits first, so what fn records (a run's
// progress) is never on disk without the transactions written before it.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	if err := db.syncShards(); err != nil {
		return err
	}
	return db.main.update(ctx, "", 0, fn)
}

// inMainTx runs fn in the main file's write transaction and commits it,
// without committing the shards first: for writes that record nothing about
// transactions (a key, its usage).
func (db *DB) inMainTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return db.main.update(ctx, "", 0, fn)
}

// stmt returns the write connection's prepared statement for query.
func (f *file) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil, txpipe.Errorf(txpipe.EINTERNAL, "database %s is closed", f.path)
	}
	if s, ok := f.stmts[query]; ok {
		return s, nil
	}
	s, err := f.write.PrepareContext(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	f.stmts[query] = s
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
		case sqlite3.SQLITE_FULL:
			return &txpipe.Error{Code: txpipe.ENOSPACE, Message: "the disk of the data directory is full", Err: err}
		case sqlite3.SQLITE_IOERR:
			return txpipe.Wrap(txpipe.ETRANSIENT, err)
		}
	}
	return txpipe.Wrap(txpipe.EINTERNAL, err)
}

// openError explains a failure to open or migrate the database at path: a
// directory that cannot be written says so.
func openError(path string, err error) error {
	dir := filepath.Dir(path)
	probe, perr := os.CreateTemp(dir, ".txpipe-write-check-*")
	if perr == nil {
		probe.Close()
		os.Remove(probe.Name())
		return err
	}
	return txpipe.Errorf(txpipe.EINVALID, "the data directory %s is not writable (%v): txpipe keeps its database there; "+
		"give it a writable directory (--data-dir)", dir, unwrapPathError(perr))
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// BeginRows starts (again) the writing of a file's rows: rows of it that a
// failed commit lost before are no longer reported (the run writes them
// again). See workflow.RowsDurability.
func (db *DB) BeginRows(ctx context.Context, fileID string) error {
	db.lost.forget(fileID)
	return nil
}

// SyncRows commits the rows written so far and fails with ETRANSIENT if any
// row of the file written since BeginRows was lost by a failed commit.
func (db *DB) SyncRows(ctx context.Context, fileID string) error {
	if err := ctx.Err(); err != nil {
		return txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	if err := db.syncShards(); err != nil {
		return fmt.Errorf("commit rows of file %s: %w", fileID, err)
	}
	return db.lost.check(fileID)
}

// SettleRows copies the shards' write-ahead logs into their files (a
// passive checkpoint, as the background one every checkpointGap), so that
// queries right after a large file do not compete with that copy: at 50M
// rows stored it made a one-day page take 13-21 ms instead of 4
// (docs/performance.md, fifth round). See workflow.RowsSettler.
func (db *DB) SettleRows(ctx context.Context) error {
	for _, f := range db.allShards() {
		if _, err := f.read.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			return fmt.Errorf("checkpoint %s: %w", f.path, translate(err))
		}
	}
	return nil
}

// Ping fails if a file of the database cannot be read.
func (db *DB) Ping(ctx context.Context) error {
	for _, f := range db.files() {
		var v int
		if err := f.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read %s: %w", f.path, translate(err))
		}
	}
	return nil
}

// MinFreeBytes is the free space under which CheckWritable reports the
// disk of the data directory full.
const MinFreeBytes = 1 << 20

// CheckWritable fails while the database refuses writes, or its disk has
// less than MinFreeBytes free. A file whose last
// write failed (a full disk, an I/O error) is probed with a small write, so
// the database reports itself writable again once space is freed, whether
// or not anything else writes.
func (db *DB) CheckWritable(ctx context.Context) error {
	dir := filepath.Dir(db.path)
	if free, ok := freeBytes(dir); ok && free < MinFreeBytes {
		return txpipe.Errorf(txpipe.ENOSPACE, "the disk of the data directory %s is full (%d bytes free)", dir, free)
	}
	for _, f := range db.files() {
		f.wmu.Lock()
		failed := f.failed
		f.wmu.Unlock()
		if failed == nil {
			continue
		}
		err := f.update(ctx, "", 0, func(ctx context.Context, tx *sql.Tx) error {
			var v int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
			return err
		})
		if err != nil {
			return fmt.Errorf("%s refuses writes: %w", f.path, err)
		}
	}
	return nil
}
