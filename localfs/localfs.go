// Package localfs implements workflow.FileStore on a local directory: each
// file is stored under its key (the hex SHA-256 of its bytes), written to a
// temporary name in the same directory, synced and renamed into place, so a
// file is either whole under its name or absent, even after a crash.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

var _ workflow.FileStore = (*Store)(nil)

// tempPrefix starts the names of files being written; Open removes the
// ones a crash left behind.
const tempPrefix = ".tmp-"

// Store is a directory of files named by key.
type Store struct {
	dir string
}

// Open returns the store in dir, creating the directory if needed, and
// removes temporary files left by an interrupted write.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open file store %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open file store %s: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// checkKey accepts keys of lower-case hex digits only (a SHA-256 has 64),
// so a key can never name a path outside the directory.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > 128 || strings.ToLower(key) != key {
		return txpipe.Errorf(txpipe.EINVALID, "file key %q is not lower-case hex", key)
	}
	if _, err := hex.DecodeString(key); err != nil {
		return txpipe.Errorf(txpipe.EINVALID, "file key %q is not lower-case hex", key)
	}
	return nil
}

// Path is where the file of key is stored.
func (s *Store) Path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, key), nil
}

// ctxReader stops a copy when its context is canceled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// PutFile stores the bytes of r under key: written to a temporary file,
// synced, renamed into place, and the directory synced. Putting a key that
// exists replaces it.
func (s *Store) PutFile(ctx context.Context, key string, r io.Reader) error {
	dst, err := s.Path(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, tempPrefix+key+"-*")
	if err != nil {
		return fmt.Errorf("put file %s: %w", key, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		tmp.Close()
		return fmt.Errorf("put file %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("put file %s: sync: %w", key, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put file %s: %w", key, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	return s.commit(key, tmp.Name(), dst)
}

// commit renames the synced file src to dst and syncs the directory.
func (s *Store) commit(key, src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("put file %s: %w", key, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("put file %s: sync directory: %w", key, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// PutFileFromPath stores the file at path under key, moving it: it is
// renamed into place when it is on the same file system as the store (the
// fast path for an upload spooled to the data dir), and copied then removed
// otherwise. The caller must not use path afterwards.
func (s *Store) PutFileFromPath(ctx context.Context, key, path string) error {
	dst, err := s.Path(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("put file %s from %s: %w", key, path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("put file %s from %s: sync: %w", key, path, txpipe.Wrap(txpipe.ETRANSIENT, err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put file %s from %s: %w", key, path, err)
	}
	// Rename to a temporary name in the store first: if that fails (another
	// file system), copy.
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	tmp := filepath.Join(s.dir, tempPrefix+key+"-"+hex.EncodeToString(suffix))
	if err := os.Rename(path, tmp); err == nil {
		return s.commit(key, tmp, dst)
	}
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("put file %s from %s: %w", key, path, err)
	}
	defer src.Close()
	if err := s.PutFile(ctx, key, src); err != nil {
		return err
	}
	src.Close()
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("put file %s from %s: remove the source: %w", key, path, err)
	}
	return nil
}

// OpenFile returns the bytes stored under key, or an ENOTFOUND error.
func (s *Store) OpenFile(ctx context.Context, key string) (io.ReadCloser, error) {
	path, err := s.Path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("open file %s: %w", key, err)
	}
	return f, nil
}

var _ workflow.RangeOpener = (*Store)(nil)

// OpenRange returns the n bytes of the file from offset off (a chunk of a
// run), without reading the bytes before them.
func (s *Store) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := s.OpenFile(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek to byte %d of file %s: %w", off, key, err)
	}
	return rangeReader{io.LimitReader(f, n), f}, nil
}

type rangeReader struct {
	io.Reader
	io.Closer
}
