// Package bulk is the engine of a bulk run of the blueshift command: it
// streams the records of an input.Reader through a number of workers that
// call Blueshift, writes each outcome to the results file as it comes,
// skips what an earlier run recorded ok, stops on an interrupt, a bad key
// or an outage (outage.go), and reports progress (progress.go).
package bulk

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// CallFunc is StartTracking or StopTracking.
type CallFunc func(context.Context, blueshift.Customer) (*blueshift.Response, error)

// Job is everything one bulk run needs.
type Job struct {
	Input   input.Reader
	Call    CallFunc            // nil: dry run, nothing is sent
	Results *resultsfile.Writer // nil: no results file
	// HardStop ends at a second interrupt: the calls in flight are cut.
	// nil: never.
	HardStop     context.Context
	Resume       *resultsfile.Index // nil: not resuming
	Concurrency  int
	DrainTimeout time.Duration // how long calls in flight may finish after an interrupt
	Watch        *AttemptWatch // nil: no outage detection
	Progress     Progress
}

// Summary is what a bulk run did.
type Summary struct {
	Counts      map[string]int // outcomes recorded by this run
	Resumed     int            // records skipped because an earlier run had them ok
	KeptInvalid int            // records an earlier run recorded invalid, not recorded again
	Elapsed     time.Duration
	// StoppedBy is the error that stopped the run early (a bad key, or an
	// *OutageError), if any.
	StoppedBy error
	// ReadErr ended the input early (a CSV syntax error in a stream).
	ReadErr error
	// WriteErr stopped the run: results could not be recorded.
	WriteErr error
	// HardStopped is true when a second interrupt cut the calls in flight.
	HardStopped bool
	// Cut counts the calls cut in flight (second interrupt, drain timeout,
	// outage): Blueshift may have applied them, and nothing records them.
	Cut int
	// Records counts the records read, resumed ones included.
	Records int
	// NotUTF8 counts the records refused for text that is not UTF-8.
	NotUTF8 int
	// Unrecorded counts the outcomes a results write failure left out.
	Unrecorded int
	// FinalRate is the client's rate limit at the end, with --rate auto
	// (blueshift.Client.Rate); 0 otherwise.
	FinalRate float64
}

// errSecondInterrupt is the stop cause of a second interrupt.
var errSecondInterrupt = errors.New("interrupted twice")

// bulkRun is the state shared by the stages of one run: the reader, the
// dispatcher, the workers and the collector.
type bulkRun struct {
	job         Job
	stopCtx     context.Context // ends when reading must stop
	stop        context.CancelCauseFunc
	callCtx     context.Context // ends when calls in flight must be cut
	cancelCalls context.CancelFunc
	outcomes    chan resultsfile.Result
	sum         Summary
	wg          sync.WaitGroup
	hardStopped atomic.Bool
	cutCalls    atomic.Int64 // calls cut in flight
}

// Run streams the input through job.concurrency workers. When ctx ends
// it stops reading at once, lets calls in flight finish for up to
// DrainTimeout and records them; when job.HardStop ends, or an outage is noticed, it cuts the calls in flight and leaves
// them out of the results, for --resume to send again. A 401 or 403 stops
// the run too: every other record would fail the same way.
func Run(ctx context.Context, job Job) Summary {
	start := time.Now()
	r := &bulkRun{job: job, outcomes: make(chan resultsfile.Result, job.Concurrency), sum: Summary{Counts: map[string]int{}}}
	r.stopCtx, r.stop = context.WithCancelCause(ctx)
	defer r.stop(nil)
	r.callCtx, r.cancelCalls = context.WithCancel(context.WithoutCancel(ctx))
	defer r.cancelCalls()
	hard := job.HardStop
	if hard == nil {
		hard = context.Background()
	}
	go r.watchStops(hard)
	if job.Watch != nil {
		job.Watch.mu.Lock()
		job.Watch.onOutage = r.outage
		job.Watch.mu.Unlock()
	}

	jobs := make(chan input.Record)
	r.wg.Add(1 + job.Concurrency)
	go r.dispatch(r.read(), jobs)
	for range job.Concurrency {
		go r.work(jobs)
	}
	go func() {
		r.wg.Wait()
		close(r.outcomes)
	}()
	r.collect()
	r.sum.Elapsed = time.Since(start)
	r.sum.HardStopped, r.sum.Cut = r.hardStopped.Load(), int(r.cutCalls.Load())
	cause := context.Cause(r.stopCtx)
	if cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errSecondInterrupt) && cause != r.sum.WriteErr && ctx.Err() == nil {
		r.sum.StoppedBy = cause
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
	t := time.NewTimer(r.job.DrainTimeout)
	defer t.Stop()
	select {
	case <-hard.Done():
		r.hardStopped.Store(true)
		r.stop(errSecondInterrupt)
		r.cancelInFlight()
	case <-t.C:
		r.cancelInFlight()
	case <-r.callCtx.Done():
	}
}

// cancelInFlight cancels the calls in flight.
func (r *bulkRun) cancelInFlight() {
	if r.job.Watch != nil {
		r.job.Watch.silence()
	}
	r.cancelCalls()
}

// outage stops the run and cuts its calls: they are all waiting on a
// Blueshift that does not answer.
func (r *bulkRun) outage(err error) {
	r.stop(err)
	r.cancelInFlight()
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
			rec, err := r.job.Input.Next()
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
	resume := r.job.Resume.CursorOrNil()
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
			r.sum.ReadErr = it.err // read by collect only after wg.Wait
			return
		}
		rec := it.rec
		r.sum.Records++ // read by collect only after wg.Wait
		if rec.NotUTF8() {
			r.sum.NotUTF8++
		}
		switch resume.Skip(rec) {
		case resultsfile.OutcomeOK:
			r.sum.Resumed++
			continue
		case resultsfile.OutcomeInvalid:
			r.sum.KeptInvalid++
			continue
		}
		if rec.Invalid != "" {
			r.outcomes <- resultsfile.NewResult(rec, resultsfile.OutcomeInvalid, rec.Invalid)
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
			r.outcomes <- res
		}
	}
}

// send makes one call and turns its outcome into a result. A call the run
// cut is not kept: nobody knows whether it was applied. A 401 or 403 stops
// the run.
func (r *bulkRun) send(rec input.Record) (resultsfile.Result, bool) {
	if r.job.Call == nil {
		return resultsfile.NewResult(rec, resultsfile.OutcomeSkipped, "dry run: not sent"), true
	}
	resp, err := r.job.Call(r.callCtx, rec.Customer)
	if err == nil {
		res := resultsfile.NewResult(rec, resultsfile.OutcomeOK, resp.Status)
		res.Status, res.RequestID, res.Attempts = resp.StatusCode, resp.RequestID, resp.Attempts
		return res, true
	}
	if r.callCtx.Err() != nil && errors.Is(err, context.Canceled) {
		r.cutCalls.Add(1)
		return resultsfile.Result{}, false
	}
	res := resultsfile.NewResult(rec, resultsfile.OutcomeFailed, ErrText(err))
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
	for res := range r.outcomes {
		if w := r.job.Results; w != nil {
			if r.sum.WriteErr != nil {
				r.sum.Unrecorded++
				continue
			}
			if err := w.Append(res); err != nil {
				r.sum.WriteErr = err
				r.sum.Unrecorded++
				r.stop(err)
				continue
			}
		}
		r.sum.Counts[res.Outcome]++
		r.job.Progress.add()
	}
	r.job.Progress.finish()
}

// ErrText is an error's message without the library's "blueshift: "
// prefixes, for messages that carry the command's own prefix.
func ErrText(err error) string {
	return strings.ReplaceAll(err.Error(), "blueshift: ", "")
}
