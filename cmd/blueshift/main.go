// Command blueshift starts or stops Blueshift tracking for one customer or
// for a whole file of them, rate-limited, with progress and resumable
// results, and serves a fake Blueshift for rehearsals.
//
//	blueshift start-tracking --email ann@example.com
//	blueshift start-tracking --file customers.csv --results results.ndjson --rate 50
//	blueshift start-tracking --file customers.csv --results results.ndjson --resume
//	blueshift stop-tracking --file forget.ndjson --results forget-results.ndjson --yes
//	blueshift fake-server --listen 127.0.0.1:8080 --fail-rate 0.1
//
// The API key comes from BLUESHIFT_API_KEY or --api-key-file, never from a
// flag value (which would land in shell history and ps output).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/blueshift-go/blueshift"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailures    = 1 // some records failed or were invalid
	exitUsage       = 2 // usage or configuration error
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `blueshift: start or stop Blueshift tracking of customers

Usage:
  blueshift start-tracking [flags]   make Blueshift track customers again (they opted back in)
  blueshift stop-tracking [flags]    make Blueshift forget customers (deletes their personal data)
  blueshift fake-server [flags]      serve a fake Blueshift on loopback for rehearsals and tests
  blueshift version                  print the version

Run "blueshift <command> --help" for a command's flags and examples.
The API key is read from BLUESHIFT_API_KEY or --api-key-file.
`

// run is the whole command, testable in-process: it reads args and the
// standard streams, and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "start-tracking":
		return runTracking(ctx, "start-tracking", args[1:], stdin, stdout, stderr)
	case "stop-tracking":
		return runTracking(ctx, "stop-tracking", args[1:], stdin, stdout, stderr)
	case "fake-server":
		return runFakeServer(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "blueshift", blueshift.Version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "blueshift: unknown command %q: run \"blueshift --help\" for the list\n", args[0])
	return exitUsage
}

// trackingFlags are the flags of start-tracking and stop-tracking.
type trackingFlags struct {
	email, customerID   string
	file, results       string
	resume, yes, dryRun bool
	concurrency, burst  int
	rate                float64
	region, baseURL     string
	apiKeyFile          string
	progressEvery       time.Duration
	drainTimeout        time.Duration
	retryMax            int
	retryWaitMin        time.Duration
	retryWaitMax        time.Duration
	maxOutageRun        int
}

func runTracking(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f trackingFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.email, "email", "", "one customer: email address")
	fs.StringVar(&f.customerID, "customer-id", "", "one customer: your external customer ID")
	fs.StringVar(&f.file, "file", "", "bulk: CSV (header with email and/or customer_id) or NDJSON file; - for stdin")
	fs.StringVar(&f.results, "results", "", "bulk: write one NDJSON result per record to this file")
	fs.BoolVar(&f.resume, "resume", false, "bulk: skip records already ok in --results and append the rest")
	fs.IntVar(&f.concurrency, "concurrency", 4, "bulk: calls in flight at once")
	fs.Float64Var(&f.rate, "rate", 20, "bulk: requests per second at most, retries included (Blueshift suggests about 50)")
	fs.IntVar(&f.burst, "burst", 1, "bulk: requests that may go at once above --rate")
	fs.BoolVar(&f.dryRun, "dry-run", false, "bulk: validate the input and report what would be sent; send nothing")
	fs.StringVar(&f.region, "region", "", "Blueshift region: us or eu (default: BLUESHIFT_REGION, else us)")
	fs.StringVar(&f.baseURL, "base-url", "", "send to this base URL instead of the region's (default: BLUESHIFT_BASE_URL)")
	fs.StringVar(&f.apiKeyFile, "api-key-file", "", "read the User API key from this file instead of BLUESHIFT_API_KEY")
	fs.IntVar(&f.retryMax, "retry-max", 4, "retries of a failed call after its first attempt")
	fs.DurationVar(&f.retryWaitMin, "retry-wait-min", time.Second, "shortest wait before a retry")
	fs.DurationVar(&f.retryWaitMax, "retry-wait-max", 30*time.Second, "longest wait before a retry")
	fs.IntVar(&f.maxOutageRun, "stop-after-failures", 20, "bulk: stop when this many records in a row fail with network errors, 409, 429 or 5xx despite retries (0: never)")
	fs.DurationVar(&f.progressEvery, "progress-every", 5*time.Second, "bulk: how often to print a status line when stderr is not a terminal")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "bulk: on interrupt, how long in-flight calls may finish")
	if name == "stop-tracking" {
		fs.BoolVar(&f.yes, "yes", false, "bulk: confirm that Blueshift should delete these customers' personal data")
	}
	fs.Usage = func() { printTrackingHelp(fs, name) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int { return usageError(stderr, name, format, a...) }
	bulk := f.file != ""
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q (the API key is never a flag: use BLUESHIFT_API_KEY or --api-key-file)", fs.Arg(0))
	case bulk && (f.email != "" || f.customerID != ""):
		return fail("use either --file or --email/--customer-id, not both")
	case !bulk && f.email == "" && f.customerID == "":
		return fail("give --email and/or --customer-id for one customer, or --file for many")
	case !bulk && (f.results != "" || f.resume || f.dryRun || f.yes):
		return fail("--results, --resume, --dry-run and --yes go with --file")
	case f.resume && f.results == "":
		return fail("--resume needs --results, the file of the run to continue")
	case f.concurrency < 1 || f.concurrency > 256:
		return fail("--concurrency must be between 1 and 256")
	case !(f.rate > 0):
		return fail("--rate must be above 0")
	case f.maxOutageRun < 0:
		return fail("--stop-after-failures must be 0 or more")
	case f.burst < 1:
		return fail("--burst must be at least 1")
	case name == "stop-tracking" && bulk && !f.yes && !f.dryRun:
		return fail("stop-tracking deletes each customer's personal data in Blueshift: add --yes to confirm, or --dry-run to check the file first")
	}

	var call callFunc
	if !f.dryRun {
		client, err := newClient(f)
		if err != nil {
			return fail("%v", err)
		}
		call = client.StartTracking
		if name == "stop-tracking" {
			call = client.StopTracking
		}
	}
	if !bulk {
		return runOne(ctx, name, call, blueshift.Customer{Email: f.email, CustomerID: f.customerID}, stdout, stderr)
	}
	return runFile(ctx, name, f, call, stdin, stderr)
}

// usageError prints a usage or configuration error as one line naming the
// command, and returns the exit code for it.
func usageError(stderr io.Writer, command, format string, a ...any) int {
	fmt.Fprintf(stderr, "blueshift %s: %s\n", command, fmt.Sprintf(format, a...))
	return exitUsage
}

// newClient builds the SDK client from the flags and the environment
// (BLUESHIFT_API_KEY, BLUESHIFT_REGION, BLUESHIFT_BASE_URL); flags win.
func newClient(f trackingFlags) (*blueshift.Client, error) {
	key := os.Getenv("BLUESHIFT_API_KEY")
	if f.apiKeyFile != "" {
		b, err := os.ReadFile(f.apiKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading --api-key-file: %w", err)
		}
		key = string(b)
	}
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("no API key: set BLUESHIFT_API_KEY or pass --api-key-file with your User API key")
	}
	opts := []blueshift.Option{
		blueshift.WithUserAgent("blueshift-cli"),
		blueshift.WithRateLimit(f.rate, f.burst),
		// The rate limit already bounds the load retries add, and a bulk
		// run must not turn a failure burst into records lost for want of
		// budget: retries are bounded per call by the retry max instead.
		blueshift.WithRetryBudget(0),
		blueshift.WithMaxConnsPerHost(f.concurrency),
		blueshift.WithRetryMax(f.retryMax),
		blueshift.WithRetryWait(f.retryWaitMin, f.retryWaitMax),
	}
	if f.region == "" {
		f.region = os.Getenv("BLUESHIFT_REGION")
	}
	if f.baseURL == "" {
		f.baseURL = os.Getenv("BLUESHIFT_BASE_URL")
	}
	if f.region != "" {
		r, err := blueshift.ParseRegion(f.region)
		if err != nil {
			return nil, err
		}
		opts = append(opts, blueshift.WithRegion(r))
	}
	if f.baseURL != "" {
		opts = append(opts, blueshift.WithBaseURL(f.baseURL))
	}
	return blueshift.NewClient(key, opts...)
}

// runOne makes one call and prints its outcome.
func runOne(ctx context.Context, name string, call callFunc, c blueshift.Customer, stdout, stderr io.Writer) int {
	resp, err := call(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "blueshift %s: %v%s\n", name, err, hint(err))
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailures
	}
	fmt.Fprintf(stdout, "ok: status %d, request id %s, %d attempt(s)\n", resp.StatusCode, orNone(resp.RequestID), resp.Attempts)
	return exitOK
}

// hint names the fix for errors an operator can fix.
func hint(err error) string {
	switch {
	case errors.Is(err, blueshift.ErrUnauthorized):
		return " (check the key in BLUESHIFT_API_KEY and that --region matches its account)"
	case errors.Is(err, blueshift.ErrForbidden):
		return " (use a User API key: the Event API key cannot call customer endpoints)"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// runFile runs a bulk job over --file and prints its summary.
func runFile(ctx context.Context, name string, f trackingFlags, call callFunc, stdin io.Reader, stderr io.Writer) int {
	fail := func(format string, a ...any) int { return usageError(stderr, name, format, a...) }
	var in io.Reader = stdin
	total := -1
	if f.file != "-" {
		file, err := os.Open(f.file)
		if err != nil {
			return fail("cannot read --file: %v", err)
		}
		defer file.Close()
		if total, err = countLines(file); err != nil {
			return fail("cannot read --file: %v", err)
		}
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return fail("cannot read --file: %v", err)
		}
		in = file
	}
	input, err := newRecordReader(f.file, in)
	if err != nil {
		return fail("%s: %v", f.file, err)
	}
	if _, isCSV := input.(*csvReader); isCSV && total > 0 {
		total-- // the header row
	}

	job := bulkJob{input: input, call: call, results: io.Discard, concurrency: f.concurrency, drainTimeout: f.drainTimeout, maxOutageRun: f.maxOutageRun}
	if f.results != "" {
		if f.resume {
			if job.done, err = readDone(f.results); err != nil {
				return fail("reading --results for --resume: %v", err)
			}
			fmt.Fprintf(stderr, "resume: %d records already ok in %s will be skipped\n", len(job.done), f.results)
		}
		out, err := openResults(f.results, f.resume)
		if err != nil {
			return fail("%v", err)
		}
		defer out.Close()
		job.results = out
	}
	if total > 0 && len(job.done) > 0 {
		total -= len(job.done)
	}
	job.progress = newProgress(stderr, total, f.progressEvery)

	sum, err := runBulk(ctx, job)
	printSummary(stderr, name, f.dryRun, sum)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "blueshift %s: %v\n", name, err)
		return exitUsage
	case errors.As(sum.stoppedBy, new(*outageError)):
		fmt.Fprintf(stderr, "blueshift %s: stopped early: %v; run the same command with --resume once it recovers\n", name, sum.stoppedBy)
		return exitFailures
	case sum.stoppedBy != nil:
		fmt.Fprintf(stderr, "blueshift %s: stopped early, every other record would fail the same way: %v%s\n", name, sum.stoppedBy, hint(sum.stoppedBy))
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "blueshift %s: interrupted; run the same command with --resume to finish the rest\n", name)
		return exitInterrupted
	case sum.counts[outcomeFailed] > 0 || sum.counts[outcomeInvalid] > 0:
		return exitFailures
	}
	return exitOK
}

func printSummary(w io.Writer, name string, dryRun bool, s bulkSummary) {
	processed := s.counts[outcomeOK] + s.counts[outcomeFailed]
	rate := 0.0
	if secs := s.elapsed.Seconds(); secs > 0 {
		rate = float64(processed) / secs
	}
	verb := "sent"
	if dryRun {
		verb = "would send"
		processed = s.counts[outcomeSkipped]
	}
	fmt.Fprintf(w, "%s summary: %d ok, %d failed, %d invalid, %d skipped (%d already ok from an earlier run); %s %d in %s (%.1f records/s)\n",
		name, s.counts[outcomeOK], s.counts[outcomeFailed], s.counts[outcomeInvalid], s.counts[outcomeSkipped]+s.resumed, s.resumed,
		verb, processed, s.elapsed.Round(time.Millisecond), rate)
}

func printTrackingHelp(fs *flag.FlagSet, name string) {
	w := fs.Output()
	what := "make Blueshift track customers again, for customers who opted back in"
	if name == "stop-tracking" {
		what = "make Blueshift forget customers: it permanently deletes their personal data"
	}
	fmt.Fprintf(w, "blueshift %s: %s\n\nUsage:\n  blueshift %s --email E | --customer-id ID\n  blueshift %s --file PATH [--results PATH [--resume]] [--rate R] [--concurrency N]\n\nFlags:\n", name, what, name, name)
	fs.PrintDefaults()
	yes := ""
	if name == "stop-tracking" {
		yes = " --yes"
	}
	fmt.Fprintf(w, "\nExamples:\n  BLUESHIFT_API_KEY=... blueshift %s --customer-id CUST-12345\n  blueshift %s --api-key-file key.txt --file customers.csv --results out.ndjson --rate 50%s\n  blueshift %s --api-key-file key.txt --file customers.csv --results out.ndjson --resume%s\n", name, name, yes, name, yes)
}
