package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/blueshift-go/blueshift/outbox"
)

// withOutbox opens the outbox, runs f on it and closes it; a failure to
// open is an input error (exit 2) when the flags were wrong, else exit 1.
func withOutbox(ctx context.Context, c *config, stderr io.Writer, f func(*outbox.Outbox) int) int {
	ob, closeAll, err := c.open(ctx)
	if err != nil {
		if errors.Is(err, errInput) {
			return usageError(stderr, c.command, "%s", strings.TrimPrefix(errText(err), errInput.Error()+": "))
		}
		return failed(ctx, stderr, c.command, err)
	}
	defer closeAll()
	return f(ob)
}

// statsJSON is the object stats --json prints.
type statsJSON struct {
	Pending              int     `json:"pending"`
	Settling             int     `json:"settling"`
	Dead                 int     `json:"dead"`
	OldestPendingSeconds float64 `json:"oldest_pending_seconds"`
}

func runStats(ctx context.Context, c *config, _ io.Reader, stdout, stderr io.Writer) int {
	return withOutbox(ctx, c, stderr, func(ob *outbox.Outbox) int {
		st, err := ob.Stats(ctx)
		if err != nil {
			return failed(ctx, stderr, c.command, err)
		}
		if c.json {
			b, _ := json.Marshal(statsJSON{st.Pending, st.Settling, st.Dead, st.OldestPending.Seconds()})
			fmt.Fprintf(stdout, "%s\n", b)
			return exitOK
		}
		fmt.Fprintf(stdout, "pending:        %d\nsettling:       %d\ndead:           %d\noldest pending: %v\n",
			st.Pending, st.Settling, st.Dead, roundAge(st.OldestPending))
		return exitOK
	})
}

// roundAge rounds an age for the text of stats: to the millisecond under
// a second (so that a fresh pending change does not show as 0s), else to
// the second.
func roundAge(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// entryJSON is one line of dead --json; identifiers that are not set are
// left out.
type entryJSON struct {
	Email      string    `json:"email,omitempty"`
	CustomerID string    `json:"customer_id,omitempty"`
	Cookie     string    `json:"cookie,omitempty"`
	DeviceID   string    `json:"device_id,omitempty"`
	Tracked    bool      `json:"tracked"`
	Version    int64     `json:"version"`
	Attempts   int       `json:"attempts"`
	Since      time.Time `json:"since"`
	LastError  string    `json:"last_error"`
}

// deadFlush is how many entries dead prints between flushes (the text
// table aligns its columns within each such page).
const deadFlush = 100

// runDead prints the dead entries, oldest first, as they are read (in
// pages: memory stays bounded however many there are). Identifiers are
// printed here, and only here: this command exists to show them.
func runDead(ctx context.Context, c *config, _ io.Reader, stdout, stderr io.Writer) int {
	return withOutbox(ctx, c, stderr, func(ob *outbox.Outbox) int {
		buf := bufio.NewWriter(stdout)
		defer buf.Flush()
		tw := tabwriter.NewWriter(buf, 0, 4, 2, ' ', 0)
		if !c.json {
			fmt.Fprintln(tw, "SINCE\tSTATE\tATTEMPTS\tIDENTIFIERS\tLAST ERROR")
		}
		n := 0
		for e, err := range ob.Dead(ctx) {
			if err != nil {
				tw.Flush()
				buf.Flush()
				return failed(ctx, stderr, c.command, err)
			}
			if c.json {
				writeEntryJSON(buf, e)
			} else {
				writeEntryText(tw, e)
			}
			if n++; n%deadFlush == 0 {
				tw.Flush()
				buf.Flush()
			}
			if n == c.limit {
				break
			}
		}
		tw.Flush()
		if !c.json {
			fmt.Fprintf(buf, "%d dead %s\n", n, plural(n, "entry", "entries"))
		}
		return exitOK
	})
}

func writeEntryJSON(w io.Writer, e outbox.Entry) {
	b, _ := json.Marshal(entryJSON{e.Customer.Email, e.Customer.CustomerID, e.Customer.Cookie, e.Customer.DeviceID,
		e.Tracked, e.Version, e.Attempts, e.Since.UTC(), e.LastError})
	fmt.Fprintf(w, "%s\n", b)
}

func writeEntryText(w io.Writer, e outbox.Entry) {
	state := "forget"
	if e.Tracked {
		state = "track"
	}
	var ids []string
	for _, id := range []struct{ name, value string }{{"email", e.Customer.Email}, {"customer_id", e.Customer.CustomerID},
		{"cookie", e.Customer.Cookie}, {"device_id", e.Customer.DeviceID}} {
		if id.value != "" {
			ids = append(ids, id.name+"="+id.value)
		}
	}
	lastError := strings.Join(strings.Fields(e.LastError), " ") // one line, whatever it holds
	fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", e.Since.UTC().Format(time.RFC3339), state, e.Attempts, strings.Join(ids, " "), lastError)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func runRetry(ctx context.Context, c *config, _ io.Reader, stdout, stderr io.Writer) int {
	return withOutbox(ctx, c, stderr, func(ob *outbox.Outbox) int {
		if c.all {
			n, err := ob.RetryAll(ctx)
			if err != nil {
				return failed(ctx, stderr, c.command, err)
			}
			fmt.Fprintf(stdout, "ok: %d dead %s pending again\n", n, plural(n, "entry is", "entries are"))
			return exitOK
		}
		if err := ob.Retry(ctx, c.customer); err != nil {
			return failed(ctx, stderr, c.command, err)
		}
		fmt.Fprintln(stdout, "ok: the customer's dead entry is pending again; a running Run delivers it")
		return exitOK
	})
}

func runDiscard(ctx context.Context, c *config, stdin io.Reader, stdout, stderr io.Writer) int {
	if !c.yes {
		if code, ok := confirmDiscard(ctx, stdin, stderr); !ok {
			return code
		}
	}
	return withOutbox(ctx, c, stderr, func(ob *outbox.Outbox) int {
		if err := ob.Discard(ctx, c.customer); err != nil {
			return failed(ctx, stderr, c.command, err)
		}
		fmt.Fprintln(stdout, "ok: the customer's dead entry and identifiers are deleted; nothing was sent")
		return exitOK
	})
}
