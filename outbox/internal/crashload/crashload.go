// Package crashload is the workload the outbox's crash and scale-out
// tests share with their worker process (internal/testworker).
package crashload

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/blueshift-go/blueshift"
)

// ConfigEnv holds a worker's Config as JSON.
const ConfigEnv = "BLUESHIFT_OUTBOX_TEST_WORKER"

// Config is what a worker process needs.
type Config struct {
	Store     string // "sqlite" or "postgres"
	Target    string // SQLite path or Postgres DSN
	FakeURL   string
	APIKey    string
	Seed      uint64
	Changes   int
	Customers int
	Worker    int // this worker records the customers with k % Workers == Worker
	Workers   int
	From      int // first change index to record
	// LateApplyWindow, if set, is the worker's WithLateApplyWindow; the
	// worker then also logs lease-lost and unsent calls (Warn and Info).
	LateApplyWindow time.Duration
}

// Change is one change of a workload: customer K tracked or forgotten.
type Change struct {
	K       int
	Tracked bool
}

// Workload is the deterministic list of changes for a seed.
func Workload(seed uint64, changes, customers int) []Change {
	rng := rand.New(rand.NewPCG(seed, 0x6f7574626f78))
	out := make([]Change, changes)
	for i := range out {
		out[i] = Change{K: rng.IntN(customers), Tracked: rng.IntN(2) == 0}
	}
	return out
}

// Customer is customer k of a workload.
func Customer(k int) blueshift.Customer {
	return blueshift.Customer{Email: fmt.Sprintf("crash-%d@example.com", k)}
}
