package httpapi_test

import (
	"context"
	"sync"

	"github.com/txpipe/txpipe/workflow"
)

// runs records the runs the intake starts (the engine is not needed to
// answer the API).
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

func (r *runs) last() workflow.RunState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[len(r.states)-1]
}
