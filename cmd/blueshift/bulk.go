package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sync"
	"time"

	"github.com/blueshift-go/blueshift"
)

// Outcomes of a record in the results file.
const (
	outcomeOK      = "ok"
	outcomeFailed  = "failed"
	outcomeInvalid = "invalid"
	outcomeSkipped = "skipped"
)

// result is one line of the results file.
type result struct {
	Line       int    `json:"line"`
	Email      string `json:"email"`
	CustomerID string `json:"customer_id"`
	Outcome    string `json:"outcome"`
	Status     int    `json:"status"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	Attempts   int    `json:"attempts"`
}

// callFunc is StartTracking or StopTracking.
type callFunc func(context.Context, blueshift.Customer) (*blueshift.Response, error)

// bulkJob is everything one bulk run needs.
type bulkJob struct {
	input        recordReader
	call         callFunc // nil: dry run, nothing is sent
	results      io.Writer
	done         map[int]uint64 // resume: line → identity of records already ok
	concurrency  int
	drainTimeout time.Duration // how long in-flight calls may finish after an interrupt
	// maxOutageRun stops the run after this many consecutive records failed
	// with transient errors (network, 409, 429, 5xx) despite their retries:
	// Blueshift is down, and the rest would only fail slowly. 0: never.
	maxOutageRun int
	progress     progress
}

// bulkSummary is what a bulk run did.
type bulkSummary struct {
	counts  map[string]int
	resumed int // records skipped because an earlier run had them ok
	elapsed time.Duration
	// stoppedBy is the error that stopped the run early (a bad key, or an
	// *outageError), if any.
	stoppedBy error
}

// identity hashes a record's identifiers, so that --resume skips a line
// only if it still holds the same customer.
func identity(email, customerID string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, email)
	_, _ = h.Write([]byte{0})
	_, _ = io.WriteString(h, customerID)
	return h.Sum64()
}

// runBulk streams the input through concurrency workers. When ctx ends it
// stops reading, lets in-flight calls finish for up to drainTimeout, and
// returns with every finished record written to results. A 401 or 403
// stops the run the same way: every other record would fail too.
func runBulk(ctx context.Context, job bulkJob) (bulkSummary, error) {
	start := time.Now()
	sum := bulkSummary{counts: map[string]int{}}

	stopCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	// Calls outlive an interrupt by up to drainTimeout, so that a record
	// being sent is finished and recorded rather than left in doubt.
	callCtx, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()
	go func() {
		select {
		case <-stopCtx.Done():
		case <-callCtx.Done():
			return
		}
		t := time.NewTimer(job.drainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelCalls()
		case <-callCtx.Done():
		}
	}()

	jobs := make(chan record)
	results := make(chan result, job.concurrency)
	var readErr error
	var producers sync.WaitGroup

	producers.Add(1)
	go func() { // reader
		defer producers.Done()
		defer close(jobs)
		for stopCtx.Err() == nil {
			rec, err := job.input.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
			if id, ok := job.done[rec.Line]; ok && id == identity(rec.Email, rec.CustomerID) {
				sum.resumed++
				continue
			}
			if rec.Invalid != "" {
				results <- newResult(rec, outcomeInvalid, rec.Invalid)
				continue
			}
			select {
			case jobs <- rec:
			case <-stopCtx.Done():
				return
			}
		}
	}()
	for range job.concurrency {
		producers.Add(1)
		go func() { // worker
			defer producers.Done()
			for rec := range jobs {
				if stopCtx.Err() != nil {
					continue // not started: a --resume run sends it
				}
				results <- send(callCtx, job.call, rec, stop)
			}
		}()
	}
	go func() {
		producers.Wait()
		close(results)
	}()

	var writeErr error
	enc := json.NewEncoder(job.results)
	enc.SetEscapeHTML(false)
	outageRun := 0
	for res := range results {
		sum.counts[res.Outcome]++
		switch {
		case res.Outcome == outcomeFailed && (res.Status == 0 || (&blueshift.APIError{StatusCode: res.Status}).Retryable()):
			outageRun++
			if job.maxOutageRun > 0 && outageRun == job.maxOutageRun {
				stop(&outageError{records: outageRun, last: res.Message})
			}
		case res.Outcome == outcomeOK:
			outageRun = 0
		}
		job.progress.add()
		// One write per line: a crash loses at most the line being written.
		if err := enc.Encode(res); err != nil && writeErr == nil {
			writeErr = err
			stop(err)
		}
	}
	job.progress.finish()
	sum.elapsed = time.Since(start)
	if cause := context.Cause(stopCtx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
		sum.stoppedBy = cause
	}
	if writeErr != nil {
		return sum, fmt.Errorf("writing results: %w", writeErr)
	}
	if readErr != nil {
		return sum, fmt.Errorf("reading input: %w", readErr)
	}
	return sum, nil
}

// outageError stops a run in which many records in a row failed with
// transient errors despite their retries.
type outageError struct {
	records int
	last    string
}

func (e *outageError) Error() string {
	return fmt.Sprintf("the last %d records all failed after their retries (last: %s): Blueshift looks unreachable or overloaded", e.records, e.last)
}

// send makes one call and turns its outcome into a result. A 401 or 403
// stops the run.
func send(ctx context.Context, call callFunc, rec record, stop context.CancelCauseFunc) result {
	if call == nil {
		return newResult(rec, outcomeSkipped, "dry run: not sent")
	}
	resp, err := call(ctx, blueshift.Customer{Email: rec.Email, CustomerID: rec.CustomerID})
	if err == nil {
		res := newResult(rec, outcomeOK, resp.Status)
		res.Status, res.RequestID, res.Attempts = resp.StatusCode, resp.RequestID, resp.Attempts
		return res
	}
	res := newResult(rec, outcomeFailed, err.Error())
	var apiErr *blueshift.APIError
	if errors.As(err, &apiErr) {
		res.Status, res.RequestID, res.Attempts = apiErr.StatusCode, apiErr.RequestID, apiErr.Attempts
		res.Message = apiErr.Message
	}
	if errors.Is(err, blueshift.ErrUnauthorized) || errors.Is(err, blueshift.ErrForbidden) {
		stop(err)
	}
	return res
}

func newResult(rec record, outcome, message string) result {
	return result{Line: rec.Line, Email: rec.Email, CustomerID: rec.CustomerID, Outcome: outcome, Message: message}
}

// readDone reads an earlier results file for --resume: the lines whose
// last entry is ok, with the identity of their record. A torn last line
// (from a crash) is ignored.
func readDone(path string) (map[int]uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	done := map[int]uint64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Line <= 0 {
			continue
		}
		if r.Outcome == outcomeOK {
			done[r.Line] = identity(r.Email, r.CustomerID)
		} else {
			delete(done, r.Line) // a later failure of the same line wins
		}
	}
	return done, sc.Err()
}

// openResults opens the results file: a new file (refusing to overwrite
// one, which would lose the record of what was done), or with resume the
// existing one for appending, starting on a fresh line.
func openResults(path string, resume bool) (*os.File, error) {
	if !resume {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("results file %s exists: pass --resume to continue that run, or remove the file", path)
		}
		return f, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if info, err := f.Stat(); err == nil && info.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, info.Size()-1); err == nil && last[0] != '\n' {
			_, _ = f.Write([]byte("\n"))
		}
	}
	return f, nil
}
