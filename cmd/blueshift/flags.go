package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/bulk"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
)

// trackingConfig is what the flags of start-tracking and stop-tracking
// chose, validated before anything else happens.
type trackingConfig struct {
	command             string // "start-tracking" or "stop-tracking"
	one                 blueshift.Customer
	file, results       string
	resume, yes, dryRun bool
	concurrency, burst  int
	rate                rateFlag
	rateMax             float64 // --rate-max, for --rate auto
	region, baseURL     string
	apiKeyFile          string
	timeout             time.Duration
	progressEvery       time.Duration
	drainTimeout        time.Duration
	retryMax            int
	retryWaitMin        time.Duration
	retryWaitMax        time.Duration
	stopAfter           int // failed attempts in a row that stop a run; 0: 2 × concurrency
	delimiter           string
	columns             input.ColumnRule // --email-column etc.
	canAsk              bool             // stdin is a terminal to ask on, and not the --file
}

// bulk reports whether the command runs over a file.
func (c *trackingConfig) bulk() bool { return c.file != "" }

// keySource names where the API key comes from, for messages about it.
func (c *trackingConfig) keySource() string {
	if c.apiKeyFile != "" {
		return "--api-key-file " + c.apiKeyFile
	}
	return "BLUESHIFT_API_KEY"
}

// minAnsweredRun is the fewest failed attempts in a row that stop a run by
// default when Blueshift answers them (429, 503, ...): a few random 429s in
// a row at a low --concurrency are no outage.
const minAnsweredRun = 16

// outageLimits returns how many failed attempts in a row, across all
// workers, stop a bulk run: attempts that got no answer at all, and
// attempts of any transient kind.
func (c *trackingConfig) outageLimits() (noAnswer, any int) {
	if c.stopAfter > 0 {
		return c.stopAfter, c.stopAfter
	}
	return 2 * c.concurrency, max(2*c.concurrency, minAnsweredRun)
}

// newTrackingFlags defines the flags of start-tracking or stop-tracking on c.
func newTrackingFlags(c *trackingConfig) *flag.FlagSet {
	fs := flag.NewFlagSet(c.command, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed as one line by parseTracking
	fs.Usage = func() {}
	fs.StringVar(&c.one.Email, "email", "", "one customer: email address")
	fs.StringVar(&c.one.CustomerID, "customer-id", "", "one customer: your external customer ID")
	fs.StringVar(&c.one.Cookie, "cookie", "", "one customer: the browser cookie Blueshift knows them by")
	fs.StringVar(&c.one.DeviceID, "device-id", "", "one customer: the mobile device ID Blueshift knows them by")
	fs.StringVar(&c.file, "file", "", "bulk: CSV or NDJSON file (a pipe or FIFO works too); - for stdin")
	fs.StringVar(&c.results, "results", "", "bulk: write a header and one NDJSON result per record to this file")
	fs.BoolVar(&c.resume, "resume", false, "bulk: continue the run of --results: skip records already ok, append the rest")
	fs.IntVar(&c.concurrency, "concurrency", 4, "bulk: calls in flight at once (1-256)")
	c.rate = rateFlag{perSecond: 20}
	fs.Var(&c.rate, "rate", "bulk: requests per second at most, retries included (Blueshift suggests about 50), or auto: find Blueshift's limit, starting at 10/s")
	fs.Float64Var(&c.rateMax, "rate-max", defaultRateMax, "bulk: with --rate auto, the highest rate it may reach")
	fs.IntVar(&c.burst, "burst", 1, "bulk: requests that may go at once above a fixed --rate")
	fs.BoolVar(&c.dryRun, "dry-run", false, "bulk: read and check the input, report what would be sent; send nothing")
	fs.StringVar(&c.region, "region", "", "Blueshift region, us or eu; replaces BLUESHIFT_REGION and BLUESHIFT_BASE_URL")
	fs.StringVar(&c.baseURL, "base-url", "", "send to this base URL; replaces BLUESHIFT_REGION and BLUESHIFT_BASE_URL")
	fs.StringVar(&c.apiKeyFile, "api-key-file", "", "read the User API key from this file; replaces BLUESHIFT_API_KEY")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "longest wait for one attempt's answer")
	fs.IntVar(&c.retryMax, "retry-max", 4, "retries of a failed call after its first attempt (0-100)")
	fs.DurationVar(&c.retryWaitMin, "retry-wait-min", time.Second, "shortest wait before a retry")
	fs.DurationVar(&c.retryWaitMax, "retry-wait-max", 30*time.Second, "longest wait before a retry")
	fs.IntVar(&c.stopAfter, "stop-after-failures", 0, "bulk: stop when this many attempts in a row, across all calls, fail with a network error, timeout, 409, 429 or 5xx (0: 2 × --concurrency, and at least 16 when Blueshift answers them)")
	fs.DurationVar(&c.progressEvery, "progress-every", 5*time.Second, "bulk: how often to print a status line when stderr is not a terminal")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "bulk: on interrupt, how long calls in flight may finish")
	fs.StringVar(&c.delimiter, "delimiter", "", `bulk: CSV delimiter: ",", ";", "tab" or another character (default: detected from the header)`)
	for slot, name := range input.SlotNames {
		fs.StringVar(&c.columns.Flags[slot], input.SlotFlag(slot)[2:], "", "bulk: the CSV column (or JSON member) that holds the "+name+`, matched ignoring case, spaces, _ and -; "none": do not send it`)
	}
	fs.BoolVar(&c.yes, "yes", false, "confirm without asking (stop-tracking deletes the customers' personal data)")
	return fs
}

// parseTracking parses and validates the flags. It prints help on stdout
// (and returns exitOK) or one line on stderr (and returns exitUsage) when
// the command should not go on.
func parseTracking(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) (*trackingConfig, int, bool) {
	c := &trackingConfig{command: name}
	fs := newTrackingFlags(c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printTrackingHelp(stdout, fs, name)
			return nil, exitOK, false
		}
		return nil, usageError(stderr, name, "%v: run \"blueshift help %s\" for the flags", err, name), false
	}
	if fs.NArg() > 0 {
		return nil, usageError(stderr, name, "unexpected argument %q (the API key is never a flag: use BLUESHIFT_API_KEY or --api-key-file)", fs.Arg(0)), false
	}
	c.canAsk = isTerminal(stdin) && !readsStdin(c.file, stdin)
	if msg := c.problem(); msg != "" {
		return nil, usageError(stderr, name, "%s", msg), false
	}
	return c, exitOK, true
}

// readsStdin reports whether --file path reads stdin: "-", or a name of
// the same file (/dev/stdin, /dev/fd/0, /proc/self/fd/0, the terminal's own
// path), where a question would take a typed record line as its answer.
func readsStdin(path string, stdin io.Reader) bool {
	if path == "-" {
		return true
	}
	f, ok := stdin.(*os.File)
	if !ok || path == "" {
		return false
	}
	in, err := f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(path)
	return err == nil && os.SameFile(in, named)
}

// problem returns what is wrong with the flags, or "".
func (c *trackingConfig) problem() string {
	oneGiven := c.one != blueshift.Customer{}
	switch {
	case c.bulk() && oneGiven:
		return "use either --file or --email/--customer-id/--cookie/--device-id, not both"
	case !c.bulk() && !oneGiven:
		return "give --email, --customer-id, --cookie and/or --device-id for one customer, or --file for many"
	case !c.bulk() && (c.results != "" || c.resume || c.dryRun):
		return "--results, --resume and --dry-run go with --file"
	case c.resume && c.results == "":
		return "--resume needs --results, the file of the run to continue"
	case c.region != "" && c.baseURL != "":
		return "use --region or --base-url, not both"
	case c.command == "stop-tracking" && c.bulk() && !c.yes && !c.dryRun && !c.canAsk:
		return "stop-tracking deletes each customer's personal data in Blueshift: add --yes to confirm, or --dry-run to check the file first (stdin is not a terminal to ask on)"
	}
	return c.numberProblem()
}

// numberProblem returns what is wrong with the numeric flags, or "".
func (c *trackingConfig) numberProblem() string {
	switch {
	case c.concurrency < 1 || c.concurrency > 256:
		return "--concurrency must be between 1 and 256"
	case !c.rate.auto && (!(c.rate.perSecond >= minRate) || math.IsInf(c.rate.perSecond, 0)):
		return fmt.Sprintf("--rate must be at least %v requests a second (one every %v), or auto", minRate, time.Duration(float64(time.Second)/minRate))
	case c.rate.auto && (!(c.rateMax >= autoInitialRate) || math.IsInf(c.rateMax, 0)):
		return fmt.Sprintf("--rate-max must be a number of at least %v (where --rate auto starts)", autoInitialRate)
	case c.rate.auto && c.burst != 1:
		return "--burst applies to a fixed --rate, not to --rate auto"
	case !c.rate.auto && c.rateMax != defaultRateMax:
		return "--rate-max goes with --rate auto"
	case c.burst < 1:
		return "--burst must be at least 1"
	case c.timeout <= 0:
		return "--timeout must be above 0"
	case c.retryMax < 0 || c.retryMax > 100:
		return "--retry-max must be between 0 and 100"
	case c.retryWaitMin <= 0 || c.retryWaitMax < c.retryWaitMin:
		return "--retry-wait-min must be above 0 and --retry-wait-max at least as long"
	case c.stopAfter < 0:
		return "--stop-after-failures must be 0 (the default) or more"
	case c.progressEvery <= 0:
		return "--progress-every must be above 0"
	case c.drainTimeout < 0:
		return "--drain-timeout must not be negative"
	}
	if _, err := input.ParseDelimiter(c.delimiter); err != nil {
		return err.Error()
	}
	return c.columns.Problem()
}

// usageError prints a usage or configuration error as one line naming the
// command, and returns the exit code for it.
func usageError(stderr io.Writer, command, format string, a ...any) int {
	fmt.Fprintf(stderr, "blueshift %s: %s\n", command, fmt.Sprintf(format, a...))
	return exitUsage
}

// maxKeyFile bounds what is read of --api-key-file.
const maxKeyFile = 64 << 10

// clientOptions returns the options of the command's client. Flags go in
// as options, so that blueshift.NewClientFromEnv lets them win over the
// environment: the library's one precedence, flags then environment then
// defaults.
func (c *trackingConfig) clientOptions(transport http.RoundTripper) ([]blueshift.Option, error) {
	opts := []blueshift.Option{
		blueshift.WithUserAgent("blueshift-cli"),
		c.rate.option(c.burst, c.rateMax),
		// The rate limit already bounds the load retries add, and a bulk
		// run must not turn a failure burst into records lost for want of
		// budget: retries are bounded per call by the retry max instead.
		blueshift.WithRetryBudget(0),
		blueshift.WithMaxConnsPerHost(c.concurrency),
		blueshift.WithRetryMax(c.retryMax),
		blueshift.WithRetryWait(c.retryWaitMin, c.retryWaitMax),
		blueshift.WithTimeout(c.timeout),
	}
	if transport != nil {
		opts = append(opts, blueshift.WithHTTPClient(&http.Client{Transport: transport}))
	}
	if c.region != "" {
		r, err := blueshift.ParseRegion(c.region)
		if err != nil {
			return nil, fmt.Errorf("--region: %s", bulk.ErrText(err))
		}
		opts = append(opts, blueshift.WithRegion(r))
	}
	if c.baseURL != "" {
		opts = append(opts, blueshift.WithBaseURL(c.baseURL))
	}
	if c.apiKeyFile != "" {
		key, err := readKeyFile(c.apiKeyFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, blueshift.WithAPIKey(key))
	}
	return opts, nil
}

// readKeyFile reads the API key from path, bounded.
func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading --api-key-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return "", fmt.Errorf("reading --api-key-file: %w", err)
	}
	return string(b), nil
}

// newClient builds the client from the flags and the environment. A dry
// run needs no key: it only resolves where the calls would go.
func (c *trackingConfig) newClient(transport http.RoundTripper) (*blueshift.Client, error) {
	opts, err := c.clientOptions(transport)
	if err != nil {
		return nil, err
	}
	if c.dryRun && c.apiKeyFile == "" && strings.TrimSpace(os.Getenv("BLUESHIFT_API_KEY")) == "" {
		opts = append(opts, blueshift.WithAPIKey("dry-run-sends-nothing"))
	}
	client, err := blueshift.NewClientFromEnv(opts...)
	switch {
	case errors.Is(err, blueshift.ErrMissingAPIKey) && c.apiKeyFile != "":
		return nil, fmt.Errorf("no API key: %s is empty", c.keySource())
	case errors.Is(err, blueshift.ErrMissingAPIKey):
		return nil, errors.New("no API key: set BLUESHIFT_API_KEY or pass --api-key-file with your User API key")
	case errors.Is(err, blueshift.ErrInvalidAPIKey):
		return nil, fmt.Errorf("the API key in %s is not a Blueshift key: it contains ':', a control character or invalid UTF-8", c.keySource())
	case err != nil:
		return nil, errors.New(bulk.ErrText(err))
	}
	return client, nil
}

// hint names the fix for errors an operator can fix.
func (c *trackingConfig) hint(err error) string {
	switch {
	case errors.Is(err, blueshift.ErrUnauthorized):
		return fmt.Sprintf(" (check the key in %s, and that the region or base URL matches its account)", c.keySource())
	case errors.Is(err, blueshift.ErrForbidden):
		return fmt.Sprintf(" (the key in %s lacks permission: use a User API key, not the Event API key)", c.keySource())
	}
	return ""
}

// printTrackingHelp prints a command's usage, flags and examples on w.
func printTrackingHelp(w io.Writer, fs *flag.FlagSet, name string) {
	what := "make Blueshift track customers again, for customers who opted back in"
	yes := ""
	if name == "stop-tracking" {
		what = "make Blueshift forget customers: it permanently deletes their personal data"
		yes = " --yes"
	}
	fmt.Fprintf(w, "blueshift %s: %s\n\nUsage:\n  blueshift %s --email E | --customer-id ID | --cookie C | --device-id D\n  blueshift %s --file PATH [--results PATH [--resume]] [--rate R] [--concurrency N]\n\nFlags:\n", name, what, name, name)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, "\nExit codes: 0 every record ok; 1 some failed or invalid, an outage, or no records; 2 usage, input or key error, or a results file another run holds; 3 the results file could not be written (--resume continues); 130 interrupted\n")
	fmt.Fprintf(w, "\nExamples:\n  BLUESHIFT_API_KEY=... blueshift %s --customer-id CUST-12345%s\n  blueshift %s --api-key-file key.txt --file customers.csv --results out.ndjson --rate 50%s\n  blueshift %s --api-key-file key.txt --file customers.csv --results out.ndjson --resume%s\n", name, yes, name, yes, name, yes)
}

// minRate is the lowest --rate: below it a run would make no visible
// progress (1e-300/s waits longer than the universe has existed).
const minRate = 0.01

// autoInitialRate is where --rate auto starts, and defaultRateMax where it
// stops, in requests a second.
const (
	autoInitialRate = 10
	defaultRateMax  = 1000
)

// rateFlag is the value of --rate: a number of requests a second, or auto.
type rateFlag struct {
	perSecond float64
	auto      bool
}

// String returns the flag's value as given.
func (r *rateFlag) String() string {
	if r.auto {
		return "auto"
	}
	return strconv.FormatFloat(r.perSecond, 'g', -1, 64)
}

// Set parses "auto" or a number.
func (r *rateFlag) Set(v string) error {
	if strings.EqualFold(strings.TrimSpace(v), "auto") {
		r.auto, r.perSecond = true, 0
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return errors.New("not a number or auto")
	}
	r.auto, r.perSecond = false, f
	return nil
}

// option returns the client option for the rate: blueshift.WithAdaptiveRate
// from autoInitialRate up to rateMax for auto, blueshift.WithRateLimit
// otherwise.
func (r *rateFlag) option(burst int, rateMax float64) blueshift.Option {
	if r.auto {
		return blueshift.WithAdaptiveRate(autoInitialRate, rateMax)
	}
	return blueshift.WithRateLimit(r.perSecond, burst)
}
