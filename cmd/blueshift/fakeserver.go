package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// fakeConfig is what the flags of fake-server chose.
type fakeConfig struct {
	listen, apiKey      string
	failRate, rateLimit float64
	delay               time.Duration
	log                 bool
}

// parseFakeServer parses and checks the flags. It returns false, with the
// exit code, when the command should not go on (help included).
func parseFakeServer(args []string, stderr io.Writer) (fakeConfig, int, bool) {
	var c fakeConfig
	fs := flag.NewFlagSet("fake-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "loopback address to listen on")
	fs.StringVar(&c.apiKey, "api-key", blueshifttest.DefaultAPIKey, "the API key the fake accepts (a test key, never a real one)")
	fs.Float64Var(&c.failRate, "fail-rate", 0, "fraction of requests answered with 429 or 503, from 0 to 1")
	fs.DurationVar(&c.delay, "delay", 0, "wait this long before answering each request")
	fs.Float64Var(&c.rateLimit, "rate-limit", 0, "answer 429 to requests above this many a second (a token bucket with a tenth of a second's burst); 0: no limit")
	fs.BoolVar(&c.log, "log", false, "print one line per request on stdout: time, method, path, status, and which identifiers it held (never their values); a summary is printed on exit in any case")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "blueshift fake-server: serve a fake Blueshift (customer tracking endpoints) on loopback\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nExample:\n  blueshift fake-server --fail-rate 0.1 --log &\n  blueshift fake-server --rate-limit 50 &\n  BLUESHIFT_API_KEY=test-api-key blueshift start-tracking --base-url http://127.0.0.1:8080 --file customers.csv\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, exitOK, false
		}
		return c, exitUsage, false
	}
	fail := func(format string, a ...any) (fakeConfig, int, bool) {
		return c, usageError(stderr, "fake-server", format, a...), false
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case c.failRate < 0 || c.failRate > 1:
		return fail("--fail-rate must be between 0 and 1")
	case c.delay < 0:
		return fail("--delay must not be negative")
	case !(c.rateLimit >= 0) || math.IsInf(c.rateLimit, 0):
		return fail("--rate-limit must be a number of requests per second, 0 or more")
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fail("--listen %q: %v", c.listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fail("--listen must be a loopback address such as 127.0.0.1:8080: the fake is for local testing only")
	}
	return c, exitOK, true
}

// runFakeServer serves package blueshifttest's fake on --listen until ctx
// ends, for other processes and languages, and to rehearse bulk runs;
// then it prints what it saw (see fakeLog).
func runFakeServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, code, ok := parseFakeServer(args, stderr)
	if !ok {
		return code
	}
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return usageError(stderr, "fake-server", "cannot listen on %s: %v", c.listen, err)
	}
	// Record nothing: a fake serving a million-record rehearsal must not
	// keep a million requests in memory. The fake's own listener goes
	// unused: l serves it through fakeLog.
	fake := blueshifttest.NewServer(blueshifttest.WithAPIKey(c.apiKey), blueshifttest.WithRecordLimit(0), blueshifttest.WithRateLimit(c.rateLimit, 0))
	defer fake.Close()
	fake.FailRandomly(c.failRate)
	fake.SetDelay(c.delay)
	var logTo io.Writer
	if c.log {
		logTo = stdout
	}
	seen := newFakeLog(fake, logTo)
	srv := &http.Server{Handler: seen, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	fmt.Fprintf(stdout, "fake Blueshift listening on http://%s (API key %q); stop with Ctrl-C\n", l.Addr(), fake.APIKey)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(shutdown) != nil {
		srv.Close()
	}
	fmt.Fprintln(stdout, seen.summary())
	return exitOK
}
