package outbox

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
)

// TestPostgresUnreachable: while the database cannot be reached, record
// calls return an error and Run keeps retrying; once it is back, what was
// recorded before is delivered.
func TestPostgresUnreachable(t *testing.T) {
	_, dsn := freshPostgres(t, postgresDSN(t, true))
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	network := "tcp"
	if len(cfg.Host) > 0 && cfg.Host[0] == '/' { // a unix socket directory
		network, target = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	proxy := startProxy(t, network, target)
	cfg.Host, cfg.Port = "127.0.0.1", proxy.port
	cfg.ConnectTimeout = 2 * time.Second
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	fake := newFake(t)
	ob := openOutbox(t, newClient(t, fake), Postgres(db))
	ctx := context.Background()
	require.NoError(t, ob.StartTracking(ctx, ann))

	proxy.cut()
	bob := blueshift.Customer{Email: "bob@example.com"}
	assert.ErrorContains(t, ob.StartTracking(ctx, bob), "outbox: record change")
	_, err = ob.Stats(ctx)
	assert.Error(t, err)
	startRun(t, ob)
	time.Sleep(200 * time.Millisecond) // Run's claims fail meanwhile
	assert.Empty(t, fake.Requests())

	proxy.restore()
	drained(t, ob)
	assert.True(t, fake.IsTracked(ann))
	assert.False(t, fake.IsTracked(bob), "the refused change was not stored")
}

// proxy forwards loopback TCP connections to a database, and can be cut.
type proxy struct {
	t               *testing.T
	network, target string
	port            uint16

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, network, target string) *proxy {
	p := &proxy{t: t, network: network, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.port = ln, uint16(ln.Addr().(*net.TCPAddr).Port)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

// forward pipes c to a new connection to the target.
func (p *proxy) forward(c net.Conn) {
	up, err := net.Dial(p.network, p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	for _, pair := range [][2]net.Conn{{c, up}, {up, c}} {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(pair[0], pair[1])
			pair[0].Close()
			pair[1].Close()
		}()
	}
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same port.
func (p *proxy) restore() {
	p.listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p.port))))
}
