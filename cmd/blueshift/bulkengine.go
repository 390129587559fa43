package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueshift-go/blueshift"

	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"

	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// callFunc is StartTracking or StopTracking.
type callFunc func(context.Context, blueshift.Customer) (*blueshift.Response, error)

// bulkJob is everything one bulk run needs.
type bulkJob struct {
	input        input.Reader
	call         callFunc            // nil: dry run, nothing is sent
	results      *resultsfile.Writer // nil: no results file
	resume       *resultsfile.Index  // nil: not resuming
	concurrency  int
	drainTimeout time.Duration // how long calls in flight may finish after an interrupt
	watch        *attemptWatch // nil: no outage detection
	progress     progress
}

// bulkSummary is what a bulk run did.
type bulkSummary struct {
	counts      map[string]int // outcomes recorded by this run
	resumed     int            // records skipped because an earlier run had them ok
	keptInvalid int            // records an earlier run recorded invalid, not recorded again
	elapsed     time.Duration
	// stoppedBy is the error that stopped the run early (a bad key, or an
	// *outageError), if any.
	stoppedBy error
	// readErr ended the input early (a CSV syntax error in a stream).
	readErr error
	// writeErr stopped the run: results could not be recorded.
	writeErr error
	// hardStopped is true when a second interrupt cut the calls in flight.
	hardStopped bool
	// cut counts the calls cut in flight (second interrupt, drain timeout,
	// outage): Blueshift may have applied them, and nothing records them.
	cut int
	// records counts the records read, resumed ones included.
	records int
	// notUTF8 counts the records refused for text that is not UTF-8.
	notUTF8 int
	// unrecorded counts the outcomes a results write failure left out.
	unrecorded int
	// finalRate is the client's rate limit at the end, with --rate auto
	// (blueshift.Client.Rate); 0 otherwise.
	finalRate float64
}

// errSecondInterrupt is the stop cause of a second interrupt.
var errSecondInterrupt = errors.New("interrupted twice")

// bulkRun is the state shared by the stages of one run: the reader, the
// dispatcher, the workers and the collector.
type bulkRun struct {
	job         bulkJob
	stopCtx     context.Context // ends when reading must stop
	stop        context.CancelCauseFunc
	callCtx     context.Context // ends when calls in flight must be cut
	cancelCalls context.CancelFunc
	results     chan resultsfile.Result
	sum         bulkSummary
	wg          sync.WaitGroup
	hardStopped atomic.Bool
	cutCalls    atomic.Int64 // calls cut in flight
}

// runBulk streams the input through job.concurrency workers. When ctx ends
// it stops reading at once, lets calls in flight finish for up to
// drainTimeout and records them; when the context from hardStopFrom(ctx)
// ends, or an outage is noticed, it cuts the calls in flight and leaves
// them out of the results, for --resume to send again. A 401 or 403 stops
// the run too: every other record would fail the same way.
func runBulk(ctx context.Context, job bulkJob) bulkSummary {
	start := time.Now()
	r := &bulkRun{job: job, results: make(chan resultsfile.Result, job.concurrency), sum: bulkSummary{counts: map[string]int{}}}
	r.stopCtx, r.stop = context.WithCancelCause(ctx)
	defer r.stop(nil)
	r.callCtx, r.cancelCalls = context.WithCancel(context.WithoutCancel(ctx))
	defer r.cancelCalls()
	go r.watchStops(hardStopFrom(ctx))
	if job.watch != nil {
		job.watch.mu.Lock()
		job.watch.onOutage = r.outage
		job.watch.mu.Unlock()
	}

	jobs := make(chan input.Record)
	r.wg.Add(1 + job.concurrency)
	go r.dispatch(r.read(), jobs)
	for range job.concurrency {
		go r.work(jobs)
	}
	go func() {
		r.wg.Wait()
		close(r.results)
	}()
	r.collect()
	r.sum.elapsed = time.Since(start)
	r.sum.hardStopped, r.sum.cut = r.hardStopped.Load(), int(r.cutCalls.Load())
	cause := context.Cause(r.stopCtx)
	if cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errSecondInterrupt) && cause != r.sum.writeErr && ctx.Err() == nil {
		r.sum.stoppedBy = cause
	}
	return r.sum
}

// watchStops cuts the calls in flight at a second interrupt, or once the
// drain timeout has passed after the run stopped reading.
func (r *bulkRun) watchStops(hard context.Context) {
	select {
	case <-r.stopCtx.Done():
	case <-r.callCtx.Done():
		return
	}
	t := time.NewTimer(r.job.drainTimeout)
	defer t.Stop()
	select {
	case <-hard.Done():
		r.hardStopped.Store(true)
		r.stop(errSecondInterrupt)
		r.cut()
	case <-t.C:
		r.cut()
	case <-r.callCtx.Done():
	}
}

// cut cancels the calls in flight.
func (r *bulkRun) cut() {
	if r.job.watch != nil {
		r.job.watch.silence()
	}
	r.cancelCalls()
}

// outage stops the run and cuts its calls: they are all waiting on a
// Blueshift that does not answer.
func (r *bulkRun) outage(err error) {
	r.stop(err)
	r.cut()
}

// item is what the reader yields: a record or the error that ended the input.
type item struct {
	rec input.Record
	err error
}

// read runs the input reader in its own goroutine, so that the run can stop
// at once even while a pipe is quiet and the reader is blocked in a read.
func (r *bulkRun) read() <-chan item {
	items := make(chan item)
	go func() {
		defer close(items)
		for {
			rec, err := r.job.input.Next()
			select {
			case items <- item{rec, err}:
			case <-r.stopCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return items
}

// dispatch hands records to the workers: it skips those an earlier run had
// ok, records invalid ones (unless an earlier run already did), and stops at
// once when the run stops.
func (r *bulkRun) dispatch(items <-chan item, jobs chan<- input.Record) {
	defer r.wg.Done()
	defer close(jobs)
	resume := r.job.resume.CursorOrNil()
	for {
		var it item
		select {
		case it = <-items:
		case <-r.stopCtx.Done():
			return
		}
		switch {
		case errors.Is(it.err, io.EOF):
			return
		case it.err != nil:
			r.sum.readErr = it.err // read by collect only after wg.Wait
			return
		}
		rec := it.rec
		r.sum.records++ // read by collect only after wg.Wait
		if rec.NotUTF8() {
			r.sum.notUTF8++
		}
		switch resume.Skip(rec) {
		case resultsfile.OutcomeOK:
			r.sum.resumed++
			continue
		case resultsfile.OutcomeInvalid:
			r.sum.keptInvalid++
			continue
		}
		if rec.Invalid != "" {
			r.results <- resultsfile.NewResult(rec, resultsfile.OutcomeInvalid, rec.Invalid)
			continue
		}
		select {
		case jobs <- rec:
		case <-r.stopCtx.Done():
			return
		}
	}
}

// work sends records until there are none left; one the run stopped before
// it started is left for --resume.
func (r *bulkRun) work(jobs <-chan input.Record) {
	defer r.wg.Done()
	for rec := range jobs {
		if r.stopCtx.Err() != nil {
			continue
		}
		if res, keep := r.send(rec); keep {
			r.results <- res
		}
	}
}

// send makes one call and turns its outcome into a result. A call the run
// cut is not kept: nobody knows whether it was applied. A 401 or 403 stops
// the run.
func (r *bulkRun) send(rec input.Record) (resultsfile.Result, bool) {
	if r.job.call == nil {
		return resultsfile.NewResult(rec, resultsfile.OutcomeSkipped, "dry run: not sent"), true
	}
	resp, err := r.job.call(r.callCtx, rec.Customer)
	if err == nil {
		res := resultsfile.NewResult(rec, resultsfile.OutcomeOK, resp.Status)
		res.Status, res.RequestID, res.Attempts = resp.StatusCode, resp.RequestID, resp.Attempts
		return res, true
	}
	if r.callCtx.Err() != nil && errors.Is(err, context.Canceled) {
		r.cutCalls.Add(1)
		return resultsfile.Result{}, false
	}
	res := resultsfile.NewResult(rec, resultsfile.OutcomeFailed, errText(err))
	var apiErr *blueshift.APIError
	var reqErr *blueshift.RequestError
	switch {
	case errors.As(err, &reqErr):
		res.Attempts = reqErr.Attempts
		if reqErr.Last != nil {
			res.Status, res.RequestID = reqErr.Last.StatusCode, reqErr.Last.RequestID
		}
	case errors.As(err, &apiErr):
		res.Status, res.RequestID, res.Attempts = apiErr.StatusCode, apiErr.RequestID, apiErr.Attempts
		res.Message = resultsfile.StoredText(apiErr.Message, resultsfile.MaxMessage)
	}
	if errors.Is(err, blueshift.ErrUnauthorized) || errors.Is(err, blueshift.ErrForbidden) {
		r.stop(err)
	}
	return res, true
}

// collect writes each result as it comes, counts it once it is recorded,
// and reports progress. A write error stops the run: results that cannot
// be recorded would be sent again by --resume.
func (r *bulkRun) collect() {
	for res := range r.results {
		if w := r.job.results; w != nil {
			if r.sum.writeErr != nil {
				r.sum.unrecorded++
				continue
			}
			if err := w.Append(res); err != nil {
				r.sum.writeErr = err
				r.sum.unrecorded++
				r.stop(err)
				continue
			}
		}
		r.sum.counts[res.Outcome]++
		r.job.progress.add()
	}
	r.job.progress.finish()
}
