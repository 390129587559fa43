package outbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blueshift-go/blueshift"
)

// ErrClosed is returned by an Outbox's methods after Close.
var ErrClosed = errors.New("outbox: closed")

// ErrRunning is returned by Run when another Run of the same Outbox is
// still running.
var ErrRunning = errors.New("outbox: Run is already running")

// Outbox records customers' tracking changes durably and delivers them
// to Blueshift. Its methods are safe for concurrent use.
type Outbox struct {
	client *blueshift.Client
	db     *sql.DB
	d      *dialect
	owned  bool
	s      settings
	owner  string // this Outbox's prefix of lease owners

	wakeCh    chan struct{}
	freed     chan struct{} // a delivery slot was given back
	mech      mechanisms
	claimHook func() // tests: runs just before each claim statement
	// checkpointEvery and ckpt pace Run's checkpoints (SQLite; tests
	// shorten the interval); ckpt is used by the running Run only.
	checkpointEvery time.Duration
	ckpt            struct {
		delivered int64
		at        time.Time
	}
	running   atomic.Bool
	closed    atomic.Bool
	delivered atomic.Int64
	claims    atomic.Int64
	compacted atomic.Int64 // when the counts were last compacted, Unix ns
	m         *metrics     // nil without WithMeterProvider

	mu          sync.Mutex
	pausedUntil time.Time          // delivery paused by a configuration problem until then
	stopRun     context.CancelFunc // ends the running Run, for Close
	runDone     chan struct{}      // closed when the running Run has returned
}

// Open prepares an Outbox that delivers with client and keeps its table in
// store, creating or migrating the table. It refuses a table with a newer
// schema (ErrSchemaTooNew) or a corrupted one (ErrSchemaCorrupt), a lease
// too short for the client (ErrLeaseTooShort), and invalid options. Open
// never takes over a lease: a second Open beside a live Run is safe.
func Open(ctx context.Context, client *blueshift.Client, store Store, opts ...Option) (*Outbox, error) {
	if client == nil {
		return nil, errors.New("outbox: nil *blueshift.Client")
	}
	if store == nil {
		return nil, errors.New("outbox: nil Store")
	}
	s := defaultSettings()
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	db, d, owned, err := store.open(ctx)
	if err != nil {
		return nil, err
	}
	o := &Outbox{client: client, db: db, d: d, owned: owned, s: s, owner: newOwnerID(), wakeCh: make(chan struct{}, 1), freed: make(chan struct{}, 1), checkpointEvery: checkpointEvery}
	err = o.prepare(ctx)
	if err == nil {
		o.m, err = newMetrics(o, s.meterProvider)
	}
	if err != nil {
		if owned {
			db.Close()
		}
		return nil, err
	}
	return o, nil
}

// prepare migrates the table.
func (o *Outbox) prepare(ctx context.Context) error {
	return migrate(ctx, o.db, o.d)
}

// newOwnerID names this Outbox in lease_owner, unique across processes.
func newOwnerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close stops a running Run (as if its context had ended: calls in flight
// are cancelled, their leases released, and Run returns ErrClosed), waits
// for it to return, and releases the Outbox's resources: the database file
// for SQLite (a handle given to SQLiteDB or Postgres stays open), after
// moving the WAL into the file and truncating it, so that the file keeps
// no delivered customer's identifiers even while other handles have it
// open (unless one of them is inside a transaction: see docs/outbox.md). What
// Close interrupts is delivered later. Every method returns ErrClosed
// afterwards.
func (o *Outbox) Close() error {
	if o.closed.Swap(true) {
		return nil
	}
	o.mu.Lock()
	stop, done := o.stopRun, o.runDone
	o.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	o.m.close()
	if !o.owned {
		return nil
	}
	o.checkpoint(context.Background())
	return o.db.Close()
}

// StartTracking records that Blueshift should track the customer, for
// Run to deliver. It validates the customer as the client does and returns
// the client's error (ErrMissingIdentifier, ErrInvalidIdentifier) without
// storing anything; otherwise the change is durable once it returns nil.
func (o *Outbox) StartTracking(ctx context.Context, customer blueshift.Customer) error {
	return o.record(ctx, o.db, customer, true)
}

// StopTracking records that Blueshift should forget the customer; see
// StartTracking.
func (o *Outbox) StopTracking(ctx context.Context, customer blueshift.Customer) error {
	return o.record(ctx, o.db, customer, false)
}

// StartTrackingTx is StartTracking inside the caller's transaction on the
// store's database, so that the change commits, or rolls back, with the
// caller's own writes. tx must belong to the handle given to SQLiteDB or
// Postgres.
func (o *Outbox) StartTrackingTx(ctx context.Context, tx *sql.Tx, customer blueshift.Customer) error {
	return o.recordTx(ctx, tx, customer, true)
}

// StopTrackingTx is StopTracking inside the caller's transaction; see
// StartTrackingTx.
func (o *Outbox) StopTrackingTx(ctx context.Context, tx *sql.Tx, customer blueshift.Customer) error {
	return o.recordTx(ctx, tx, customer, false)
}

func (o *Outbox) recordTx(ctx context.Context, tx *sql.Tx, customer blueshift.Customer, tracked bool) error {
	if tx == nil {
		return errors.New("outbox: nil *sql.Tx")
	}
	return o.record(ctx, tx, customer, tracked)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// record upserts the customer's desired state, bumping its version.
func (o *Outbox) record(ctx context.Context, ex execer, customer blueshift.Customer, tracked bool) error {
	if err := customer.Validate(); err != nil {
		return err
	}
	if o.closed.Load() {
		return ErrClosed
	}
	c := customer.Trimmed()
	if _, err := ex.ExecContext(ctx, o.d.q.upsert, identityKey(c), c.Email, c.CustomerID, c.Cookie, c.DeviceID, stateValue(tracked)); err != nil {
		return fmt.Errorf("outbox: record change: %w", err)
	}
	o.wake()
	return nil
}

// wake tells an idle Run that there may be work.
func (o *Outbox) wake() {
	select {
	case o.wakeCh <- struct{}{}:
	default:
	}
}

func stateValue(tracked bool) int {
	if tracked {
		return 1
	}
	return 0
}
