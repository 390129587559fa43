package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/bulk"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// fileRun is one bulk command. Everything is checked (flags, input,
// results file, and for a regular file every record) before the results
// file is created or anything is sent.
type fileRun struct {
	cfg     *trackingConfig
	stdin   io.Reader
	stderr  io.Writer
	input   *os.File // nil for stdin
	stream  bool     // a pipe, FIFO or stdin: read once, no pre-pass
	client  *blueshift.Client
	watch   *bulk.AttemptWatch
	header  resultsfile.Header
	resume  *resultsfile.Index
	results *resultsfile.File // nil: no --results, or not opened yet
	total   int               // records to process, -1 when unknown
	toSend  int               // of those, records with an identifier: what is sent
}

// runFile runs a bulk job over --file and prints its summary.
func runFile(ctx context.Context, cfg *trackingConfig, stdin io.Reader, stderr io.Writer) int {
	fr := &fileRun{cfg: cfg, stdin: stdin, stderr: stderr, total: -1}
	defer fr.close()
	if code := fr.prepare(ctx); code != exitOK {
		return code
	}
	rr, code := fr.records(ctx)
	if code != exitOK {
		return code
	}
	if code := fr.announce(ctx, rr); code != exitOK {
		return code
	}
	job := bulk.Job{Input: rr, Resume: fr.resume, Concurrency: cfg.concurrency, DrainTimeout: cfg.drainTimeout, Watch: fr.watch, HardStop: hardStopFrom(ctx)}
	if !cfg.dryRun {
		job.Call = fr.client.StartTracking
		if cfg.command == "stop-tracking" {
			job.Call = fr.client.StopTracking
		}
	}
	if cfg.results != "" {
		if job.Results, code = fr.startResults(); code != exitOK {
			return code
		}
	}
	job.Progress = bulk.NewProgress(stderr, fr.total, cfg.progressEvery)
	sum := bulk.Run(ctx, job)
	if cfg.rate.auto && !cfg.dryRun {
		sum.FinalRate = fr.client.Rate()
	}
	printSummary(stderr, cfg.command, cfg.dryRun, cfg.results != "", sum)
	return fr.exitCode(ctx, sum)
}

// announce prints, before anything is sent, where each identifier is read
// from, that a run without --results cannot be resumed, and for
// stop-tracking what will be deleted where: confirmed by --yes, or else
// asked on the terminal (parseTracking refused a run with neither).
func (fr *fileRun) announce(ctx context.Context, rr input.Reader) int {
	name := fr.cfg.command
	fmt.Fprintf(fr.stderr, "blueshift %s: %s\n", name, rr.Identifiers())
	if fr.cfg.dryRun {
		return exitOK
	}
	if fr.cfg.results == "" {
		fmt.Fprintf(fr.stderr, "blueshift %s: without --results this run cannot be resumed: nothing records what was sent\n", name)
	}
	if name != "stop-tracking" {
		return exitOK
	}
	if fr.cfg.yes {
		fmt.Fprintf(fr.stderr, "blueshift %s: Blueshift at %s will delete the personal data of %s (confirmed by --yes)\n", name, hostOf(fr.client.BaseURL()), fr.deletions())
		return exitOK
	}
	code, _ := confirm(ctx, fr.stdin, fr.stderr, fmt.Sprintf("Blueshift at %s will permanently delete the personal data of %s, read from the columns above", hostOf(fr.client.BaseURL()), fr.deletions()))
	return code
}

// deletions words whose data a bulk stop-tracking deletes: the customer of
// each record it sends, counted by the prescan of a regular file. Blank
// lines and invalid records are never sent, so they are not counted.
func (fr *fileRun) deletions() string {
	if fr.total < 0 {
		return "every customer read from the stream"
	}
	what := fmt.Sprintf("the customer of each of %d records", fr.toSend)
	if fr.toSend == 1 {
		what = "the customer of 1 record"
	}
	switch invalid := fr.total - fr.toSend; invalid {
	case 0:
		return what
	case 1:
		return what + " (1 invalid record is not sent)"
	default:
		return fmt.Sprintf("%s (%d invalid records are not sent)", what, invalid)
	}
}

// hostOf returns the host of a base URL, for messages.
func hostOf(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		return u.Host
	}
	return baseURL
}

// plural words a count: "1 customer", "2 customers".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// startResults readies the results file: created with its header, or the
// file found (and locked) by prepare, readied for appending.
func (fr *fileRun) startResults() (*resultsfile.Writer, int) {
	if fr.results == nil {
		rf, err := resultsfile.Create(fr.cfg.results)
		if err != nil {
			return nil, fr.fail("%v", err)
		}
		fr.results = rf
	}
	w, err := fr.results.Start(fr.header)
	if err != nil {
		fmt.Fprintf(fr.stderr, "blueshift %s: writing results to %s failed: %v; nothing was sent\n", fr.cfg.command, fr.cfg.results, err)
		return nil, exitResults
	}
	return w, exitOK
}

// fail prints a one-line error and returns exitUsage.
func (fr *fileRun) fail(format string, a ...any) int {
	return usageError(fr.stderr, fr.cfg.command, format, a...)
}

func (fr *fileRun) close() {
	if fr.input != nil {
		fr.input.Close()
	}
	if fr.results != nil {
		fr.results.Close()
	}
}

// prepare opens the input, refuses a results file that is the input, builds
// the client and reads the results file of the run to resume.
func (fr *fileRun) prepare(ctx context.Context) int {
	cfg := fr.cfg
	inInfo, err := fr.openInput(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fr.interrupted("opening --file")
		}
		return fr.fail("cannot read --file: %v", err)
	}
	if resInfo, err := os.Stat(cfg.results); err == nil && inInfo != nil && os.SameFile(inInfo, resInfo) {
		return fr.fail("--results %s is the input file itself: its results would be read back as input; name another file", cfg.results)
	}
	var transport http.RoundTripper
	if !cfg.dryRun {
		noAnswer, any := cfg.outageLimits()
		fr.watch = bulk.NewAttemptWatch(noAnswer, any, cfg.concurrency, cfg.timeout)
		transport = fr.watch
	}
	if fr.client, err = cfg.newClient(transport); err != nil {
		return fr.fail("%v", err)
	}
	fr.header = resultsfile.Header{Version: resultsfile.Version, Command: cfg.command, BaseURL: fr.client.BaseURL()}
	if cfg.results == "" {
		return exitOK
	}
	if fr.results, err = resultsfile.OpenExisting(cfg.results); err != nil {
		return fr.fail("--results: %v", err)
	}
	switch {
	case fr.results == nil || fr.results.Fresh:
		return exitOK // a fresh run
	case !cfg.resume:
		return fr.fail("results file %s exists: pass --resume to continue that run, or remove the file", cfg.results)
	}
	return fr.readResume(ctx)
}

// openInput opens --file (waiting for a FIFO's writer no longer than ctx)
// and returns what it is, for the same-file check; stdin's too when it is
// a file.
func (fr *fileRun) openInput(ctx context.Context) (os.FileInfo, error) {
	if fr.cfg.file == "-" {
		fr.stream = true
		if f, ok := fr.stdin.(*os.File); ok {
			info, _ := f.Stat()
			return info, nil
		}
		return nil, nil
	}
	f, err := cancelable(ctx, func() (*os.File, error) { return os.Open(fr.cfg.file) }, func(f *os.File) { f.Close() })
	if err != nil {
		return nil, err
	}
	fr.input = f
	info, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case info.IsDir():
		return nil, fmt.Errorf("%s is a directory", fr.cfg.file)
	}
	fr.stream = !info.Mode().IsRegular()
	return info, nil
}

// readResume reads the results file to continue, and refuses one that
// another command, or a run against another endpoint, wrote. It reads no
// more than the file held when it was opened, and stops at an interrupt.
func (fr *fileRun) readResume(ctx context.Context) int {
	path := fr.cfg.results
	h, ix, err := fr.results.ReadResume(ctx)
	if ctx.Err() != nil {
		return fr.interrupted("reading --results")
	}
	switch {
	case errors.Is(err, resultsfile.ErrNoHeader):
		return fr.fail("cannot --resume from %s: %v", path, err)
	case err != nil:
		return fr.fail("reading --results for --resume: %v", err)
	case h.Version != resultsfile.Version:
		return fr.fail("cannot --resume from %s: its layout is version %d, and this command reads version %d", path, h.Version, resultsfile.Version)
	case h.Command != fr.header.Command:
		return fr.fail("cannot --resume: %s records a %s run, and this is %s; its ok records were not sent by this command", path, h.Command, fr.header.Command)
	case !sameBaseURL(h.BaseURL, fr.header.BaseURL):
		return fr.fail("cannot --resume: %s records a run against %s, and this run would send to %s; records ok there were never sent here", path, h.BaseURL, fr.header.BaseURL)
	}
	fr.resume = ix
	return exitOK
}

// interrupted says what an interrupt stopped before anything was sent.
func (fr *fileRun) interrupted(while string) int {
	fmt.Fprintf(fr.stderr, "blueshift %s: interrupted while %s; nothing was sent\n", fr.cfg.command, while)
	return exitInterrupted
}

// sameBaseURL compares base URLs with their scheme and host in lower case
// and no trailing slash.
func sameBaseURL(a, b string) bool {
	return normalizeBaseURL(a) == normalizeBaseURL(b)
}

func normalizeBaseURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return u.String()
}

// reader is the input stream.
func (fr *fileRun) reader() io.Reader {
	if fr.input != nil {
		return fr.input
	}
	return fr.stdin
}

// inputOptions returns the flags that shape reading.
func (fr *fileRun) inputOptions() input.Options {
	d, _ := input.ParseDelimiter(fr.cfg.delimiter) // validated with the flags
	return input.Options{Delimiter: d, Columns: fr.cfg.columns}
}

// records opens the record reader; for a regular file it first reads the
// whole file once, so that a CSV syntax error stops the run before anything
// is sent, and counts the records for the progress and --resume.
func (fr *fileRun) records(ctx context.Context) (input.Reader, int) {
	if !fr.stream {
		if code := fr.prescan(ctx); code != exitOK {
			return nil, code
		}
	}
	rr, err := openRecordReader(ctx, fr.cfg.file, fr.reader(), fr.inputOptions())
	if err != nil {
		if ctx.Err() != nil {
			return nil, fr.interrupted("reading the header")
		}
		return nil, fr.fail("%s: %v", fr.cfg.file, err)
	}
	return rr, exitOK
}

// openRecordReader is input.NewReader, given up on when ctx ends: a pipe
// may stay quiet before its header.
func openRecordReader(ctx context.Context, name string, r io.Reader, opt input.Options) (input.Reader, error) {
	return cancelable(ctx, func() (input.Reader, error) {
		rr, _, err := input.NewReader(name, r, opt)
		return rr, err
	}, nil)
}

// cancelable runs f in its own goroutine, and returns its result, or
// ctx's error as soon as ctx ends: opening a FIFO, or reading a pipe's
// header, may wait for ever. A result that comes after is given to drop.
func cancelable[T any](ctx context.Context, f func() (T, error), drop func(T)) (T, error) {
	type out struct {
		v   T
		err error
	}
	done := make(chan out, 1)
	go func() {
		v, err := f()
		done <- out{v, err}
	}()
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		if drop != nil {
			go func() {
				if o := <-done; o.err == nil {
					drop(o.v)
				}
			}()
		}
		var zero T
		return zero, ctx.Err()
	}
}

// prescan reads a regular input file through once: it refuses a CSV syntax
// error, and counts the records to send and those --resume skips.
func (fr *fileRun) prescan(ctx context.Context) int {
	f, err := os.Open(fr.cfg.file)
	if err != nil {
		return fr.fail("cannot read --file: %v", err)
	}
	defer f.Close()
	rr, _, err := input.NewReader(fr.cfg.file, f, fr.inputOptions())
	if err != nil {
		return fr.fail("%s: %v", fr.cfg.file, err)
	}
	var records, ok, invalid int
	resume := fr.resume.CursorOrNil()
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if records%4096 == 0 && ctx.Err() != nil {
			return fr.interrupted("checking the file")
		}
		if err != nil {
			return fr.fail("%s: %s; nothing was sent", fr.cfg.file, input.DescribeError(err))
		}
		records++
		switch resume.Skip(rec) {
		case resultsfile.OutcomeOK:
			ok++
		case resultsfile.OutcomeInvalid:
			invalid++
		default:
			if rec.Invalid == "" {
				fr.toSend++
			}
		}
	}
	fr.total = records - ok - invalid
	if fr.cfg.resume {
		fmt.Fprintf(fr.stderr, "resume: %s already ok in %s will be skipped; %s already recorded will not be recorded again; %d of %s to go\n",
			plural(ok, "record", "records"), fr.cfg.results, plural(invalid, "invalid record", "invalid records"), fr.total, plural(records, "record", "records"))
	}
	return exitOK
}
