package httpapi_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// These small in-memory stores stand in for the sqlite and localfs
// adapters until they land; the transactions query runs on real SQLite.

type memStatuses struct {
	mu sync.Mutex
	m  map[string]txpipe.FileStatus
}

func (s *memStatuses) CreateStatus(ctx context.Context, st *txpipe.FileStatus) (*txpipe.FileStatus, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]txpipe.FileStatus{}
	}
	if old, ok := s.m[st.FileID]; ok {
		return &old, false, nil
	}
	s.m[st.FileID] = *st
	return st, true, nil
}

func (s *memStatuses) GetStatus(ctx context.Context, fileID string) (*txpipe.FileStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[fileID]
	if !ok {
		return nil, txpipe.Errorf(txpipe.ENOTFOUND, "file %s not found", fileID)
	}
	return &st, nil
}

func (s *memStatuses) UpdateStatus(ctx context.Context, st *txpipe.FileStatus, from ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[st.FileID] = *st
	return nil
}

// dirFiles keeps files in a directory.
type dirFiles struct{ dir string }

func (d dirFiles) PutFile(ctx context.Context, key string, r io.Reader) error {
	f, err := os.Create(filepath.Join(d.dir, key))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (d dirFiles) OpenFile(ctx context.Context, key string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.dir, key))
}

// runs records the runs the intake starts.
type runs struct {
	mu     sync.Mutex
	states []workflow.RunState
}

func (r *runs) StartRun(ctx context.Context, st workflow.RunState) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, st)
	return nil
}

func (r *runs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

type memKeys struct {
	mu     sync.Mutex
	keys   map[string]txpipe.APIKey // by hash
	counts map[string]int64         // by key id + day
}

func (k *memKeys) CreateKey(ctx context.Context, key txpipe.APIKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]txpipe.APIKey{}
	}
	k.keys[key.Hash] = key
	return nil
}

func (k *memKeys) LookupKey(ctx context.Context, hash string) (txpipe.APIKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[hash]
	if !ok {
		return txpipe.APIKey{}, txpipe.Errorf(txpipe.ENOTFOUND, "no such key")
	}
	return key, nil
}

func (k *memKeys) CountRequest(ctx context.Context, keyID, day string) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.counts == nil {
		k.counts = map[string]int64{}
	}
	k.counts[keyID+" "+day]++
	return k.counts[keyID+" "+day], nil
}
