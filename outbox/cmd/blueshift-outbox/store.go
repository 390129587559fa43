package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/outbox"
)

// config is what the flags of a command chose.
type config struct {
	command  string
	sqlite   string
	postgres string
	customer blueshift.Customer
	all      bool
	yes      bool
	json     bool
	limit    int
}

// examples are each command's examples, printed by its --help.
var examples = map[string]string{
	"stats":   "blueshift-outbox stats --sqlite outbox.db\n  DATABASE_URL=postgres://... blueshift-outbox stats --json",
	"dead":    "blueshift-outbox dead --sqlite outbox.db | less\n  blueshift-outbox dead --postgres \"$DSN\" --json > dead.ndjson",
	"retry":   "blueshift-outbox retry --sqlite outbox.db --email ann@example.com\n  blueshift-outbox retry --sqlite outbox.db --all",
	"discard": "blueshift-outbox discard --sqlite outbox.db --customer-id 42\n  blueshift-outbox discard --sqlite outbox.db --customer-id 42 --yes   (no terminal to ask on)",
}

// newFlags declares the flags of command into c.
func newFlags(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("blueshift-outbox "+c.command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.sqlite, "sqlite", "", "the outbox's SQLite file (it must exist)")
	fs.StringVar(&c.postgres, "postgres", "", "the outbox's Postgres DSN (default: DATABASE_URL; prefer it for a password)")
	switch c.command {
	case "stats":
		fs.BoolVar(&c.json, "json", false, "print one JSON object")
	case "dead":
		fs.BoolVar(&c.json, "json", false, "print NDJSON, one entry per line, for scripts")
		fs.IntVar(&c.limit, "limit", 0, "stop after this many entries (0: all)")
	case "retry", "discard":
		fs.StringVar(&c.customer.Email, "email", "", "the customer's email")
		fs.StringVar(&c.customer.CustomerID, "customer-id", "", "the customer's ID")
		fs.StringVar(&c.customer.Cookie, "cookie", "", "the customer's cookie")
		fs.StringVar(&c.customer.DeviceID, "device-id", "", "the customer's device ID")
		if c.command == "retry" {
			fs.BoolVar(&c.all, "all", false, "retry every dead entry")
		} else {
			fs.BoolVar(&c.yes, "yes", false, "confirm without asking (the entry is deleted and never delivered)")
		}
	}
	return fs
}

// parse parses and checks the flags of command. It prints help on stdout
// (and returns exitOK) or one line on stderr (and returns exitUsage) when
// the command should not go on.
func parse(command string, args []string, stdout, stderr io.Writer) (*config, int, bool) {
	c := &config{command: command}
	fs := newFlags(c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: blueshift-outbox %s [flags]\n\nFlags:\n", command)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprintf(stdout, "\nExamples:\n  %s\n", examples[command])
			return nil, exitOK, false
		}
		return nil, usageError(stderr, command, "%v: run \"blueshift-outbox help %s\" for the flags", err, command), false
	}
	if fs.NArg() > 0 {
		return nil, usageError(stderr, command, "unexpected argument %q", fs.Arg(0)), false
	}
	if c.postgres == "" && c.sqlite == "" {
		c.postgres = os.Getenv("DATABASE_URL")
	}
	if msg := c.problem(); msg != "" {
		return nil, usageError(stderr, command, "%s", msg), false
	}
	return c, exitOK, true
}

// problem returns what is wrong with the flags, or "".
func (c *config) problem() string {
	one := c.customer != blueshift.Customer{}
	switch {
	case c.sqlite != "" && c.postgres != "":
		return "use either --sqlite or --postgres, not both"
	case c.sqlite == "" && c.postgres == "":
		return "give the outbox: --sqlite PATH or --postgres DSN (or set DATABASE_URL)"
	case c.limit < 0:
		return "--limit must be 0 (all) or more"
	case c.command == "retry" && one && c.all:
		return "use either --all or --email/--customer-id/--cookie/--device-id, not both"
	case c.command == "retry" && !one && !c.all:
		return "give --email, --customer-id, --cookie and/or --device-id for one customer, or --all"
	case c.command == "discard" && !one:
		return "give --email, --customer-id, --cookie and/or --device-id: discard takes one customer"
	}
	if one {
		if err := c.customer.Validate(); err != nil {
			return strings.ReplaceAll(err.Error(), "blueshift: ", "")
		}
	}
	return ""
}

// open opens the outbox without delivering, after checking that the
// database holds one (outbox.Open would create it). The client is never
// used (nothing is delivered), so its key is a placeholder.
func (c *config) open(ctx context.Context) (*outbox.Outbox, func(), error) {
	client, err := blueshift.NewClient("blueshift-outbox-sends-nothing")
	if err != nil {
		return nil, nil, err
	}
	var store outbox.Store
	var db *sql.DB
	if c.sqlite != "" {
		// outbox.SQLite creates a missing file: a mistyped path must not
		// show an empty outbox.
		if _, err := os.Stat(c.sqlite); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errInput, err)
		}
		if err := checkSQLite(ctx, c.sqlite); err != nil {
			return nil, nil, err
		}
		store = outbox.SQLite(c.sqlite)
	} else {
		// sql.Open defers parsing to the first connection, whose error
		// would read as a failed operation (exit 1). pgx's message
		// masks a password.
		if _, err := pgx.ParseConfig(c.postgres); err != nil {
			return nil, nil, fmt.Errorf("%w: --postgres: %w", errInput, err)
		}
		if db, err = sql.Open("pgx", c.postgres); err != nil {
			return nil, nil, fmt.Errorf("%w: --postgres: %w", errInput, err)
		}
		if err := checkPostgres(ctx, db); err != nil {
			db.Close()
			return nil, nil, err
		}
		store = outbox.Postgres(db)
	}
	ob, err := outbox.Open(ctx, client, store)
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, nil, err
	}
	return ob, func() {
		ob.Close()
		if db != nil {
			db.Close()
		}
	}, nil
}

// errInput marks an error of the command's input (exit 2).
var errInput = errors.New("input error")
