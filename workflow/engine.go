package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/txpipe/txpipe"
)

// StepRunner runs one step of a run; *Tasks is the pipeline's.
type StepRunner interface {
	Run(ctx context.Context, in StepInput) (RunState, error)
}

// Observer is told what the engine does, for metrics.
type Observer interface {
	StepFinished(step string, d time.Duration, err error)
	StepRetried(step string)
	RunFinished(status string, c txpipe.Counts)
}

// EngineOptions tune the local engine.
type EngineOptions struct {
	Workers  int           // jobs run at once; 2 if 0
	Poll     time.Duration // how often idle workers look for due jobs; 1 s if 0
	Lease    time.Duration // how long a claimed job is held; 15 min if 0 (longer than any step)
	Observer Observer      // may be nil
	Logger   *slog.Logger  // may be nil
	Now      Clock         // time.Now if nil
	Tracer   Tracer        // a span per step attempt; none if nil
	// Uploads, if set, is swept every SweepEvery (1 min if 0): declared
	// uploads whose URL expired become EXPIRED.
	Uploads    UploadExpirer
	SweepEvery time.Duration
}

// Tracer traces step attempts (telemetry.Tracing is one, over
// OpenTelemetry). StartStep returns the context for the step and a func
// that ends the span with the step's error.
type Tracer interface {
	StartStep(ctx context.Context, step, fileID string, attempt int) (context.Context, func(err error))
}

// Engine is the local, durable workflow engine: it runs a Definition's
// steps for each job of a JobQueue, saving the job after every attempt, so
// a restarted server resumes each unfinished run at the step where it
// stopped. Steps are idempotent, so repeating the interrupted one is safe.
type Engine struct {
	def   Definition
	steps StepRunner
	jobs  JobQueue
	opts  EngineOptions
	wake  chan struct{}
}

// NewEngine returns an engine running def's steps with steps over jobs.
func NewEngine(def Definition, steps StepRunner, jobs JobQueue, opts EngineOptions) *Engine {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 15 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Engine{def: def, steps: steps, jobs: jobs, opts: opts, wake: make(chan struct{}, opts.Workers)}
}

// StartRun records a job for the run; a worker picks it up. It implements
// Starter.
func (e *Engine) StartRun(ctx context.Context, st RunState) error {
	err := e.jobs.EnqueueJob(ctx, Job{FileID: st.FileID, Phase: PhaseRun, State: st, DueAt: e.opts.Now().UTC()})
	if err != nil {
		return fmt.Errorf("enqueue run of file %s: %w", st.FileID, err)
	}
	e.poke()
	return nil
}

// StatusJobWriter is a JobQueue that can record a file's status record and
// enqueue its job in one transaction (see RunRecorder).
type StatusJobWriter interface {
	// CreateStatusWithJob creates st, or replaces a record whose status is
	// one of from, and enqueues j, atomically; otherwise it changes nothing
	// and returns the stored record with created=false.
	CreateStatusWithJob(ctx context.Context, st *txpipe.FileStatus, j Job, from ...string) (*txpipe.FileStatus, bool, error)
}

// RecordAndStart records st and starts its run in one write, when the
// engine's JobQueue is a StatusJobWriter; it implements RunRecorder. Over
// another queue it returns an EUNSUPPORTED error.
func (e *Engine) RecordAndStart(ctx context.Context, st *txpipe.FileStatus, run RunState, from ...string) (*txpipe.FileStatus, bool, error) {
	w, ok := e.jobs.(StatusJobWriter)
	if !ok {
		return nil, false, txpipe.Errorf(txpipe.EUNSUPPORTED, "the job queue cannot record a status with its job")
	}
	rec, created, err := w.CreateStatusWithJob(ctx, st, Job{FileID: run.FileID, Phase: PhaseRun, State: run, DueAt: e.opts.Now().UTC()}, from...)
	if err != nil {
		return nil, false, fmt.Errorf("record file %s and enqueue its run: %w", run.FileID, err)
	}
	if created {
		e.poke()
	}
	return rec, created, nil
}

// Redrive starts a failed run again from its first step, with the state it
// had when it failed (less the error).
func (e *Engine) Redrive(ctx context.Context, st RunState) error {
	st.Error = nil
	st.Counts = nil
	return e.StartRun(ctx, st)
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works on jobs until ctx is done, then waits for the steps in flight
// to end (they see the cancelled context; their jobs are saved or left
// leased, and are resumed on the next start).
func (e *Engine) Run(ctx context.Context) error {
	if err := e.jobs.ReleaseLeases(ctx); err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	var wg sync.WaitGroup
	for range e.opts.Workers {
		wg.Go(func() { e.work(ctx) })
	}
	if e.opts.Uploads != nil {
		wg.Go(func() { e.sweep(ctx) })
	}
	wg.Wait()
	return nil
}

// sweep expires declared uploads whose bytes never came, until ctx is done.
func (e *Engine) sweep(ctx context.Context) {
	every := e.opts.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := e.opts.Uploads.ExpireUploads(ctx, e.opts.Now().UTC())
		switch {
		case err != nil && ctx.Err() == nil:
			e.opts.Logger.ErrorContext(ctx, "expire uploads", "err", err)
		case n > 0:
			e.opts.Logger.InfoContext(ctx, "uploads expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) work(ctx context.Context) {
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		job, err := e.jobs.ClaimJob(ctx, e.opts.Now().UTC(), e.opts.Lease)
		if err != nil && ctx.Err() == nil {
			e.opts.Logger.ErrorContext(ctx, "claim job", "err", err)
		}
		if job == nil {
			select {
			case <-ctx.Done():
			case <-e.wake:
			case <-t.C:
			}
			continue
		}
		e.step(ctx, job)
		e.poke() // the job may be due again at once
	}
}

// step runs one attempt of the job's current step and saves the outcome.
func (e *Engine) step(ctx context.Context, j *Job) {
	list := e.def.Steps
	if j.Phase == PhaseFail {
		list = e.def.OnFailure
	}
	if j.Step >= len(list) {
		e.finish(ctx, j, list)
		return
	}
	step := list[j.Step]
	log := e.opts.Logger.With("file_id", j.FileID, "step", step.Name, "attempt", j.Attempt+1)

	// Step.Timeout is AWS's limit; locally a step takes what it needs.
	stepCtx, endSpan := ctx, func(error) {}
	if e.opts.Tracer != nil {
		stepCtx, endSpan = e.opts.Tracer.StartStep(ctx, step.Name, j.FileID, j.Attempt+1)
	}
	start := time.Now()
	var out RunState
	var err error
	if step.Map != nil {
		out, err = e.runMap(stepCtx, step, *j)
	} else {
		out, err = e.steps.Run(stepCtx, StepInput{Step: step.Name, State: j.State})
	}
	endSpan(err)
	if ctx.Err() != nil {
		// Shutting down: leave the job as it was; it is resumed on restart.
		log.InfoContext(ctx, "step interrupted by shutdown")
		return
	}
	if e.opts.Observer != nil {
		e.opts.Observer.StepFinished(step.Name, time.Since(start), err)
	}
	j.Attempt++
	switch {
	case err == nil:
		log.InfoContext(ctx, "step done", "seconds", time.Since(start).Seconds())
		j.State, j.Step, j.Attempt = out, j.Step+1, 0
		j.DueAt = e.opts.Now().UTC()
		if j.Step == len(list) || (step.EndIfRejected && out.Rejected) {
			e.finish(ctx, j, list)
			return
		}
	case txpipe.IsTransient(err) && ((step.Map == nil && j.Attempt < step.Retry.MaxAttempts) || j.Phase == PhaseFail):
		// A map step's chunks were retried by its policy already (on AWS
		// the Map state has no Retry of its own either).
		// The failure path retries until it gets through: it is what keeps
		// the run from being lost.
		delay := step.Retry.Delay(j.Attempt + 1)
		log.WarnContext(ctx, "step failed, will retry", "err", err, "retry_in", delay.String())
		if e.opts.Observer != nil {
			e.opts.Observer.StepRetried(step.Name)
		}
		j.DueAt = e.opts.Now().UTC().Add(delay)
	case j.Phase == PhaseRun:
		log.ErrorContext(ctx, "step failed", "err", err)
		j.State.Error = &StepError{Error: ErrorName(err), Cause: err.Error()}
		j.Phase, j.Step, j.Attempt = PhaseFail, 0, 0
		j.DueAt = e.opts.Now().UTC()
	default:
		// A failure step failed for good (not a transient error): try again
		// later rather than drop the run.
		log.ErrorContext(ctx, "failure step failed", "err", err)
		j.DueAt = e.opts.Now().UTC().Add(max(step.Retry.MaxDelay, time.Minute))
	}
	e.save(ctx, j, log)
}

// save records the job's progress. A store that cannot write (a full disk)
// is retried with back-off while the worker keeps the job: left leased,
// the run would wait for its lease to run out (minutes) after the store
// recovered.
func (e *Engine) save(ctx context.Context, j *Job, log *slog.Logger) {
	delay := 50 * time.Millisecond
	for {
		err := e.jobs.SaveJob(ctx, *j)
		if err == nil || !txpipe.IsTransient(err) || ctx.Err() != nil {
			if err != nil {
				log.ErrorContext(ctx, "save job", "err", err)
			}
			return
		}
		log.WarnContext(ctx, "save job failed, will retry", "err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// runMap runs a map step: its function once per chunk of j's state across
// the engine's workers, each retried by the step's policy; the first error
// that remains stops the others. Over a JobCheckpointer each finished
// chunk's result is recorded, so a resumed map writes only the chunks
// without one (docs/workflow.md).
func (e *Engine) runMap(ctx context.Context, step Step, j Job) (RunState, error) {
	st := j.State
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]ChunkResult, len(st.Chunks))
	var todo []int
	var (
		resumed     int
		resumedRows int64
		done        txpipe.Counts // counts so far, for the PROCESSING record
	)
	for i := range st.Chunks {
		if len(st.ChunkResults) == len(st.Chunks) && st.ChunkResults[i].Counts != nil {
			results[i] = st.ChunkResults[i]
			resumed++
			resumedRows += results[i].Rows
			done = done.Add(*results[i].Counts)
			continue
		}
		todo = append(todo, i)
	}
	log := e.opts.Logger.With("file_id", st.FileID, "step", step.Name)
	if resumed > 0 {
		log.InfoContext(ctx, "map resumed", "chunks_done", resumed, "chunks_left", len(todo), "rows_done", resumedRows, "rows_left", st.Rows-resumedRows)
	}
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		ckMu     sync.Mutex // one checkpoint written at a time, in order
	)
	cp, _ := e.jobs.(JobCheckpointer)
	checkpoint := func() {
		ckMu.Lock()
		defer ckMu.Unlock()
		mu.Lock()
		snap := j
		snap.State.ChunkResults = slices.Clone(results)
		mu.Unlock()
		// Recorded even while shutting down: the chunk is written.
		if err := cp.CheckpointJob(context.WithoutCancel(ctx), snap); err != nil {
			// Only a crash before the next checkpoint costs the chunk again.
			log.WarnContext(ctx, "checkpoint of finished chunks failed", "err", err)
		}
	}
	child := RunState{FileID: st.FileID, FileKey: st.FileKey, HeaderEnd: st.HeaderEnd, Format: st.Format}
	// Counts so far on the PROCESSING record as chunks write (for --wait).
	lastProgress := time.Now()
	if pr, ok := e.steps.(progressRecorder); ok {
		every := pr.ProgressInterval()
		ctx = context.WithValue(ctx, chunkProgressKey{}, func(delta txpipe.Counts) {
			mu.Lock()
			done = done.Add(delta)
			report := every >= 0 && time.Since(lastProgress) >= every
			if report {
				lastProgress = time.Now()
			}
			sofar := done
			mu.Unlock()
			if report {
				pr.RecordProgress(ctx, st.FileID, sofar)
			}
		})
	}
	for range min(e.opts.Workers, max(len(todo), 1)) {
		wg.Go(func() {
			for i := range next {
				c := st.Chunks[i]
				err := step.Retry.Do(ctx, func(ctx context.Context) error {
					out, err := e.steps.Run(ctx, StepInput{Step: step.Name, State: child, Chunk: &c})
					if err == nil {
						mu.Lock()
						results[i] = ChunkResult{Rows: out.Rows, Counts: out.Counts}
						mu.Unlock()
					}
					return err
				}, func(int, error) {
					if e.opts.Observer != nil {
						e.opts.Observer.StepRetried(step.Name)
					}
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				if cp != nil {
					checkpoint()
				}
			}
		})
	}
feed:
	for _, i := range todo {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return st, txpipe.Wrap(txpipe.ETRANSIENT, err)
	}
	st.ChunkResults = results
	return st, nil
}

// progressRecorder is a StepRunner that records a run's counts so far
// (*Tasks is one).
type progressRecorder interface {
	ProgressInterval() time.Duration
	RecordProgress(ctx context.Context, fileID string, c txpipe.Counts)
}

// chunkProgressKey carries, in a map step's context, the func a chunk
// tells the counts of each batch it writes.
type chunkProgressKey struct{}

func (e *Engine) finish(ctx context.Context, j *Job, list []Step) {
	if err := e.jobs.DeleteJob(ctx, j.FileID); err != nil {
		e.opts.Logger.ErrorContext(ctx, "delete finished job", "file_id", j.FileID, "err", err)
		return
	}
	status := txpipe.StatusCompleted
	switch {
	case j.Phase == PhaseFail:
		status = txpipe.StatusFailed
	case j.State.Rejected:
		status = txpipe.StatusRejected
	}
	var c txpipe.Counts
	if j.State.Counts != nil {
		c = *j.State.Counts
	}
	e.opts.Logger.InfoContext(ctx, "run finished", "file_id", j.FileID, "status", status)
	if e.opts.Observer != nil {
		e.opts.Observer.RunFinished(status, c)
	}
}

// ErrorName is the name a step's error has in the workflow: the one the
// retry policy matches (TransientError), or txpipe.<code> for the others.
func ErrorName(err error) string {
	var te *TransientError
	if txpipe.IsTransient(err) || errors.As(err, &te) {
		return TransientErrorName
	}
	return "txpipe." + txpipe.ErrorCode(err)
}

// TransientError marks an error a Lambda function returns so that Step
// Functions retries it: the runtime names the error by its Go type, which
// is the name DefaultRetry.RetryOn lists.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }
