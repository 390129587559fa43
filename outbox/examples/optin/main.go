// Command optin is the consent service of examples/optin, made durable with
// package outbox: it records each consent change in its own table and in
// the outbox in one database transaction, answers at once, and lets the
// outbox deliver the change to Blueshift, through outages and restarts.
//
//	POST /consent  {"email": "...", "customer_id": "...", "consent": true}
//
// 204 once the change is committed (Blueshift is told later), 400 for a
// bad request or identifiers Blueshift would refuse, 500 if the database
// fails. The database is SQLite (the file in CONSENT_DB, default
// consent.db) unless DATABASE_URL names a Postgres database. Without
// BLUESHIFT_API_KEY it talks to the in-process fake Blueshift. The
// outbox's OpenTelemetry metrics (backlog, deliveries by outcome, delay)
// are printed as JSON on stdout every METRICS_INTERVAL (default 1m); logs
// go to stderr.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/blueshifttest"
	"github.com/blueshift-go/blueshift/outbox"
)

// consentTable is the application's own table; the same SQL suits SQLite
// and Postgres.
const consentTable = `CREATE TABLE IF NOT EXISTS consent (
	email TEXT NOT NULL,
	customer_id TEXT NOT NULL,
	granted BOOLEAN NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (email, customer_id))`

const upsertConsent = `INSERT INTO consent (email, customer_id, granted, updated_at) VALUES ($1, $2, $3, $4)
	ON CONFLICT (email, customer_id) DO UPDATE SET granted = excluded.granted, updated_at = excluded.updated_at`

type consentRequest struct {
	Email      string `json:"email"`
	CustomerID string `json:"customer_id"`
	Consent    *bool  `json:"consent"`
}

// consentHandler serves POST /consent, recording the change in db and ob
// in one transaction.
func consentHandler(db *sql.DB, ob *outbox.Outbox, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		var req consentRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil || req.Consent == nil || dec.More() {
			http.Error(w, `body must be {"email": ..., "customer_id": ..., "consent": true|false}`, http.StatusBadRequest)
			return
		}
		customer := blueshift.Customer{Email: req.Email, CustomerID: req.CustomerID}
		err := recordConsent(r.Context(), db, ob, customer, *req.Consent)
		switch {
		case errors.Is(err, blueshift.ErrMissingIdentifier), errors.Is(err, blueshift.ErrInvalidIdentifier):
			http.Error(w, "an email or a customer_id is required, without control characters, at most 512 bytes", http.StatusBadRequest)
		case err != nil:
			log.Error("recording consent", "error", err) // never holds an identifier
			http.Error(w, "could not record the consent, try again", http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// recordConsent writes the consent row and the outbox entry atomically.
func recordConsent(ctx context.Context, db *sql.DB, ob *outbox.Outbox, c blueshift.Customer, consent bool) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.Trimmed()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, upsertConsent, c.Email, c.CustomerID, consent, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return err
	}
	record := ob.StopTrackingTx
	if consent {
		record = ob.StartTrackingTx
	}
	if err := record(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// openDatabase opens Postgres when DATABASE_URL is set, else SQLite, and
// creates the consent table.
func openDatabase(ctx context.Context) (*sql.DB, outbox.Store, error) {
	var db *sql.DB
	var store func(*sql.DB) outbox.Store
	var err error
	if url := os.Getenv("DATABASE_URL"); url != "" {
		db, err = sql.Open("pgx", url)
		store = outbox.Postgres
	} else {
		path := os.Getenv("CONSENT_DB")
		if path == "" {
			path = "consent.db"
		}
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
		store = outbox.SQLiteDB
	}
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.ExecContext(ctx, consentTable); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, store(db), nil
}

// newClient talks to Blueshift, or to the in-process fake without a key.
func newClient(log *slog.Logger) (*blueshift.Client, func(), error) {
	if os.Getenv("BLUESHIFT_API_KEY") != "" {
		c, err := blueshift.NewClientFromEnv(blueshift.WithUserAgent("optin-outbox-example"), blueshift.WithRateLimit(50, 10))
		return c, func() {}, err
	}
	fake := blueshifttest.NewServer()
	log.Info("BLUESHIFT_API_KEY is not set: using the in-process fake Blueshift", "url", fake.URL)
	c, err := blueshift.NewClient(fake.APIKey, blueshift.WithBaseURL(fake.URL))
	return c, fake.Close, err
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("optin", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, closeFake, err := newClient(log)
	if err != nil {
		return err
	}
	defer closeFake()
	db, store, err := openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	every, err := metricsInterval()
	if err != nil {
		return err
	}
	mp, err := newMeterProvider(os.Stdout, every)
	if err != nil {
		return err
	}
	defer mp.Shutdown(context.Background()) //nolint:errcheck // the last export, best effort
	ob, err := outbox.Open(ctx, client, store, outbox.WithLogger(log), outbox.WithMeterProvider(mp))
	if err != nil {
		return err
	}
	defer ob.Close()
	delivered := make(chan error, 1)
	go func() { delivered <- ob.Run(ctx) }()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	mux := http.NewServeMux()
	mux.Handle("/consent", consentHandler(db, ob, log))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-delivered
}
