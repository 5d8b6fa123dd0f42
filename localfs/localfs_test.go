package localfs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/localfs"
	"github.com/txpipe/txpipe/storetest"
	"github.com/txpipe/txpipe/workflow"
)

func open(t *testing.T) *localfs.Store {
	t.Helper()
	s, err := localfs.Open(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFileStore(t *testing.T) {
	storetest.TestFileStore(t, func(t *testing.T) workflow.FileStore { return open(t) })
}

func sum(b string) string {
	h := sha256.Sum256([]byte(b))
	return hex.EncodeToString(h[:])
}

func read(t *testing.T, s *localfs.Store, key string) string {
	t.Helper()
	rc, err := s.OpenFile(t.Context(), key)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeysCannotEscape(t *testing.T) {
	s := open(t)
	for _, key := range []string{"", "../x", "..", "/etc/passwd", "ab/cd", "ABCD", "abc\x00", "zz", strings.Repeat("a", 200)} {
		if err := s.PutFile(t.Context(), key, strings.NewReader("x")); txpipe.ErrorCode(err) != txpipe.EINVALID {
			t.Errorf("PutFile(%q): error %v, want EINVALID", key, err)
		}
		if _, err := s.OpenFile(t.Context(), key); txpipe.ErrorCode(err) != txpipe.EINVALID {
			t.Errorf("OpenFile(%q): error %v, want EINVALID", key, err)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(s.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("files next to the store: %v", entries)
	}
}

func TestPutFileFromPath(t *testing.T) {
	s := open(t)
	const body = "transaction_id,amount\n1,2.00\n"
	key := sum(body)

	// Same file system: moved into place.
	src := filepath.Join(filepath.Dir(s.Dir()), "spool.csv")
	if err := os.WriteFile(src, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFileFromPath(t.Context(), key, src); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, key); got != body {
		t.Errorf("stored %q, want %q", got, body)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source still there after the move: %v", err)
	}

	// A missing source fails and stores nothing.
	other := sum("other")
	if err := s.PutFileFromPath(t.Context(), other, src); err == nil {
		t.Error("PutFileFromPath of a missing file: no error")
	}
	if _, err := s.OpenFile(t.Context(), other); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("OpenFile after a failed move: %v, want ENOTFOUND", err)
	}
}

func TestOpenRemovesLeftoverTemporaryFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "files")
	s, err := localfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := sum("kept")
	if err := s.PutFile(t.Context(), key, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of a write leaves.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-"+key+"-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = localfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != key {
		t.Errorf("directory after reopen: %v, want only %s", entries, key)
	}
	if got := read(t, s, key); got != "kept" {
		t.Errorf("stored %q, want %q", got, "kept")
	}
}

// OpenRange reads a chunk of a file without the bytes before it.
func TestOpenRange(t *testing.T) {
	s, err := localfs.Open(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("0123456789", 1000)
	sum := sha256.Sum256([]byte(data))
	key := hex.EncodeToString(sum[:])
	if err := s.PutFile(t.Context(), key, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int64 }{{0, 10}, {5, 7}, {9990, 10}, {9995, 100}, {10000, 5}} {
		r, err := s.OpenRange(t.Context(), key, c.off, c.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		want := data[min(c.off, int64(len(data))):min(c.off+c.n, int64(len(data)))]
		if err != nil || string(got) != want {
			t.Errorf("OpenRange(%d, %d) = %q, %v; want %q", c.off, c.n, got, err, want)
		}
	}
	if _, err := s.OpenRange(t.Context(), strings.Repeat("ab", 32), 0, 1); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Errorf("OpenRange of a missing file: %v, want not found", err)
	}
}
