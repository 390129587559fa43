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
//
// How a bulk run flows, and where each step lives: main.go dispatches and
// signals.go turns Ctrl-C and SIGTERM into contexts; flags.go holds the
// flags and how they combine with the environment; onecustomer.go calls
// for a single customer. A bulk run (bulkcommand.go) reads its input
// through package internal/input (CSV or JSON, one Record per customer),
// holds its results file locked and reads it back for --resume through
// package internal/resultsfile, then runs the engine, package
// internal/bulk; summary.go prints the outcome and picks the exit code. fakeserver.go and
// fakeserverlog.go serve and watch the fake.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/blueshift-go/blueshift"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailures    = 1 // some records failed or were invalid
	exitUsage       = 2 // usage or configuration error
	exitResults     = 3 // the results file could not be written: --resume continues
	exitInterrupted = 130
)

func main() {
	ctx, hard := interrupts()
	os.Exit(run(withHardStop(ctx, hard), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `blueshift: start or stop Blueshift tracking of customers

Usage:
  blueshift start-tracking [flags]   make Blueshift track customers again (they opted back in)
  blueshift stop-tracking [flags]    make Blueshift forget customers (deletes their personal data)
  blueshift fake-server [flags]      serve a fake Blueshift on loopback for rehearsals and tests
  blueshift version                  print the version
  blueshift help [command]           print this, or a command's flags and examples

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
	case "start-tracking", "stop-tracking":
		return runTracking(ctx, args[0], args[1:], stdin, stdout, stderr)
	case "fake-server":
		if wantsHelp(args[1:]) {
			stderr = stdout // its flag set prints help on its error stream
		}
		return runFakeServer(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "blueshift", blueshift.Version)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && (args[1] == "start-tracking" || args[1] == "stop-tracking" || args[1] == "fake-server") {
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "blueshift: unknown command %q: run \"blueshift help\" for the list\n", args[0])
	return exitUsage
}

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "-h=true", "--help=true":
			return true
		case "--", "-":
			return false
		}
	}
	return false
}

// runTracking runs start-tracking or stop-tracking, for one customer or a file.
func runTracking(ctx context.Context, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, code, ok := parseTracking(name, args, stdin, stdout, stderr)
	if !ok {
		return code
	}
	if cfg.bulk() {
		return runFile(ctx, cfg, stdin, stderr)
	}
	return runOne(ctx, cfg, stdin, stdout, stderr)
}
