package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirmDiscard asks on a terminal whether to discard one customer's
// dead entry; without a terminal it refuses, since --yes was not given.
// It returns false with the exit code when the command must not go on.
func confirmDiscard(ctx context.Context, stdin io.Reader, stderr io.Writer) (int, bool) {
	const name = "discard"
	if !isTerminal(stdin) {
		return usageError(stderr, name, "this deletes the customer's dead entry, which is then never delivered: add --yes to confirm (stdin is not a terminal to ask on)"), false
	}
	fmt.Fprint(stderr, "blueshift-outbox discard: the customer's dead entry will be deleted and never delivered. Type yes to go on: ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(stdin, 256)).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case a := <-answer:
		if a == "yes" || a == "y" {
			return exitOK, true
		}
		return usageError(stderr, name, "not confirmed: nothing was discarded"), false
	case <-ctx.Done():
		fmt.Fprintln(stderr)
		return exitInterrupted, false
	}
}
