// Command blueshift-outbox shows and repairs a durable outbox (package
// github.com/blueshift-go/blueshift/outbox) from a shell: its counts, its
// dead entries, and retrying or discarding them. It never delivers, and is
// safe to run beside live Runs: it opens the store as any second Open does,
// which takes over no lease.
//
//	blueshift-outbox stats --sqlite /var/lib/app/outbox.db
//	blueshift-outbox dead --postgres "$DSN" --json > dead.ndjson
//	blueshift-outbox retry --sqlite outbox.db --email ann@example.com
//	blueshift-outbox retry --sqlite outbox.db --all
//	blueshift-outbox discard --sqlite outbox.db --customer-id 42 --yes
//
// Install it with
//
//	go install github.com/blueshift-go/blueshift/outbox/cmd/blueshift-outbox@latest
//
// The files of this command: main.go dispatches; store.go holds the flags
// shared by the commands and opens the outbox; commands.go runs each
// command; confirm.go asks before a discard.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/blueshift-go/blueshift"
)

// Exit codes, as for the blueshift command.
const (
	exitOK          = 0
	exitFailed      = 1 // the operation failed (a database error, no dead entry)
	exitUsage       = 2 // usage or input error
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `blueshift-outbox: inspect and repair a Blueshift outbox (it never delivers)

Usage:
  blueshift-outbox stats [flags]     print the counts: pending, settling, dead, oldest pending
  blueshift-outbox dead [flags]      list the dead entries, oldest first (--json: NDJSON)
  blueshift-outbox retry [flags]     make one customer's dead entry pending again, or --all
  blueshift-outbox discard [flags]   delete one customer's dead entry without delivering it
  blueshift-outbox version           print the version
  blueshift-outbox help [command]    print this, or a command's flags and examples

The outbox is --sqlite PATH or --postgres DSN (or DATABASE_URL). Running it
beside live Runs is safe: it takes over no lease and sends nothing.
`

// commands are the commands that take flags.
var commands = map[string]func(context.Context, *config, io.Reader, io.Writer, io.Writer) int{
	"stats":   runStats,
	"dead":    runDead,
	"retry":   runRetry,
	"discard": runDiscard,
}

// run is the whole command, testable in-process: it reads args and the
// standard streams, and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name := args[0]
	if cmd, ok := commands[name]; ok {
		cfg, code, ok := parse(name, args[1:], stdout, stderr)
		if !ok {
			return code
		}
		return cmd(ctx, cfg, stdin, stdout, stderr)
	}
	switch name {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "blueshift-outbox", blueshift.Version)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && commands[args[1]] != nil {
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "blueshift-outbox: unknown command %q: run \"blueshift-outbox help\" for the list\n", name)
	return exitUsage
}

// errText is an error's message without the libraries' "outbox: " and
// "blueshift: " prefixes, for messages that carry the command's own.
func errText(err error) string {
	return strings.NewReplacer("outbox: ", "", "blueshift: ", "").Replace(err.Error())
}

// usageError prints a usage or input error as one line naming the
// command, and returns exitUsage.
func usageError(stderr io.Writer, command, format string, a ...any) int {
	fmt.Fprintf(stderr, "blueshift-outbox %s: %s\n", command, fmt.Sprintf(format, a...))
	return exitUsage
}

// failed prints a failed operation as one line naming the command, and
// returns exitFailed, or exitInterrupted if ctx ended.
func failed(ctx context.Context, stderr io.Writer, command string, err error) int {
	fmt.Fprintf(stderr, "blueshift-outbox %s: %s\n", command, errText(err))
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitFailed
}
