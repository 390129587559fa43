// Command testworker is the worker process of the outbox's crash and
// scale-out tests: it records its share of a workload (see crashload),
// writing "B i" to stdout before and "A i" after each change is
// acknowledged (StartTracking or StopTracking returned nil), while Run
// delivers; once all are recorded it waits for the outbox to drain and
// exits 0. The tests SIGKILL it at random moments.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/outbox"
	"github.com/blueshift-go/blueshift/outbox/internal/crashload"
)

func main() {
	var cfg crashload.Config
	if err := json.Unmarshal([]byte(os.Getenv(crashload.ConfigEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "testworker: bad config:", err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "testworker:", err)
		os.Exit(1)
	}
}

func run(cfg crashload.Config) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ob, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer ob.Close()
	done := make(chan error, 1)
	go func() { done <- ob.Run(ctx) }()
	for i, c := range crashload.Workload(cfg.Seed, cfg.Changes, cfg.Customers) {
		if i < cfg.From || c.K%cfg.Workers != cfg.Worker {
			continue
		}
		if _, err := io.WriteString(os.Stdout, "B "+strconv.Itoa(i)+"\n"); err != nil {
			return err
		}
		record := ob.StopTracking
		if c.Tracked {
			record = ob.StartTracking
		}
		if err := record(ctx, crashload.Customer(c.K)); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		if _, err := io.WriteString(os.Stdout, "A "+strconv.Itoa(i)+"\n"); err != nil {
			return err
		}
	}
	if err := drain(ctx, ob); err != nil {
		return err
	}
	cancel()
	return <-done
}

// drain waits until nothing is pending or settling.
func drain(ctx context.Context, ob *outbox.Outbox) error {
	for {
		st, err := ob.Stats(ctx)
		if err != nil || st.Pending == 0 && st.Settling == 0 {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open opens the worker's outbox with short backoffs and leases.
func open(ctx context.Context, cfg crashload.Config) (*outbox.Outbox, error) {
	client, err := blueshift.NewClient(cfg.APIKey, blueshift.WithBaseURL(cfg.FakeURL),
		blueshift.WithRetryMax(1), blueshift.WithRetryWait(time.Millisecond, 5*time.Millisecond),
		blueshift.WithTimeout(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	store := outbox.SQLite(cfg.Target)
	if cfg.Store == "postgres" {
		db, err := sql.Open("pgx", cfg.Target)
		if err != nil {
			return nil, err
		}
		store = outbox.Postgres(db)
	}
	level, window := slog.LevelError, 10*time.Minute
	if cfg.LateApplyWindow > 0 {
		level, window = slog.LevelInfo, cfg.LateApplyWindow
	}
	return outbox.Open(ctx, client, store, outbox.WithConcurrency(8),
		outbox.WithBackoff(5*time.Millisecond, 100*time.Millisecond), outbox.WithLease(2*time.Second),
		outbox.WithClientTimeout(500*time.Millisecond), outbox.WithPollInterval(20*time.Millisecond),
		outbox.WithLateApplyWindow(window),
		outbox.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
}
