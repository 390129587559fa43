package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// hardStopGrace is how long a second interrupt lets the run tidy up (write
// what finished, print the summary) before the process exits regardless.
const hardStopGrace = 800 * time.Millisecond

// interrupts returns a context that ends at the first Ctrl-C or SIGTERM
// (stop reading, let calls in flight finish) and one that ends at the
// second (cut calls in flight). After the second the process exits with
// 130 within hardStopGrace whatever it is doing.
func interrupts() (soft, hard context.Context) {
	soft, stopSoft := context.WithCancel(context.Background())
	hard, stopHard := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	// A closed stdout or stderr pipe ("… 2>&1 | head -1") must not end a
	// run by SIGPIPE before its results are recorded: with SIGPIPE
	// notified, a write to it fails with EPIPE instead, and the run goes on.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		<-signals
		stopSoft()
		<-signals
		stopHard()
		time.AfterFunc(hardStopGrace, func() { os.Exit(exitInterrupted) })
	}()
	return soft, hard
}

// hardStopKey carries the second-interrupt context inside the first's.
type hardStopKey struct{}

// withHardStop attaches hard, the context that a second interrupt ends, to ctx.
func withHardStop(ctx, hard context.Context) context.Context {
	return context.WithValue(ctx, hardStopKey{}, hard)
}

// hardStopFrom returns the context a second interrupt ends; one that never
// ends if there is none.
func hardStopFrom(ctx context.Context) context.Context {
	if hard, ok := ctx.Value(hardStopKey{}).(context.Context); ok {
		return hard
	}
	return context.Background()
}
