package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/bulk"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
)

// runOne makes one call and prints its outcome. stop-tracking asks for
// confirmation on a terminal, and needs --yes otherwise.
func runOne(ctx context.Context, cfg *trackingConfig, stdin io.Reader, stdout, stderr io.Writer) int {
	client, err := cfg.newClient(nil)
	if err != nil {
		return usageError(stderr, cfg.command, "%v", err)
	}
	if cfg.command == "stop-tracking" && !cfg.yes {
		question := fmt.Sprintf("sending the %s to Blueshift at %s, which will permanently delete this customer's personal data", strings.Join(given(cfg.one), " and "), hostOf(client.BaseURL()))
		if code, ok := confirm(ctx, stdin, stderr, question); !ok {
			return code
		}
	}
	call := client.StartTracking
	if cfg.command == "stop-tracking" {
		call = client.StopTracking
	}
	resp, err := call(ctx, cfg.one)
	if err != nil {
		fmt.Fprintf(stderr, "blueshift %s: %s%s\n", cfg.command, bulk.ErrText(err), cfg.hint(err))
		switch {
		case ctx.Err() != nil:
			return exitInterrupted
		case errors.Is(err, blueshift.ErrUnauthorized) || errors.Is(err, blueshift.ErrForbidden):
			return exitUsage // a bad key, as for a bulk run
		case errors.Is(err, blueshift.ErrInvalidIdentifier) || errors.Is(err, blueshift.ErrMissingIdentifier):
			return exitUsage // an input error: nothing was sent
		}
		return exitFailures
	}
	fmt.Fprintf(stdout, "ok: status %d, request id %s, %d attempt(s)\n", resp.StatusCode, orNone(resp.RequestID), resp.Attempts)
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks question on a terminal, for stop-tracking without --yes;
// without a terminal it refuses. It returns false with the exit code when
// the command must not go on.
func confirm(ctx context.Context, stdin io.Reader, stderr io.Writer, question string) (int, bool) {
	const name = "stop-tracking"
	if !isTerminal(stdin) {
		return usageError(stderr, name, "this deletes personal data in Blueshift: add --yes to confirm (stdin is not a terminal to ask on)"), false
	}
	fmt.Fprintf(stderr, "blueshift stop-tracking: %s. Type yes to go on: ", question)
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
		return usageError(stderr, name, "not confirmed: nothing was sent"), false
	case <-ctx.Done():
		fmt.Fprintln(stderr)
		return exitInterrupted, false
	}
}

// given names the identifiers given for one customer, never their values.
func given(c blueshift.Customer) []string {
	var names []string
	for slot, v := range [input.NumSlots]string{c.Email, c.CustomerID, c.Cookie, c.DeviceID} {
		if strings.TrimSpace(v) != "" {
			names = append(names, input.SlotNames[slot])
		}
	}
	return names
}
