//go:build unix

package outbox

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockHolderEnv makes TestLockHolderProcess hold the deliverer lock of
// the file it names, for TestDelivererLockAcrossProcesses.
const lockHolderEnv = "BLUESHIFT_OUTBOX_TEST_HOLD_LOCK"

// TestLockHolderProcess is the helper process: it runs Run on the SQLite
// file (so it holds the deliverer lock) against a Blueshift that never
// answers, says so, and waits to be killed.
func TestLockHolderProcess(t *testing.T) {
	path := os.Getenv(lockHolderEnv)
	if path == "" {
		return // not the helper: nothing to do
	}
	fake := newFake(t)
	fake.SetDelay(time.Hour)
	ob, err := Open(context.Background(), newClient(t, fake), SQLite(path), fastOptions()...)
	require.NoError(t, err)
	go ob.Run(context.Background()) //nolint:errcheck // killed before it returns
	for {
		if _, err := os.Stat(path + "-deliver.lock"); err == nil {
			if _, err := lockFile(path + "-deliver.lock"); err == errLocked {
				break // Run holds it
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Stdout.WriteString("holding\n")
	time.Sleep(time.Minute)
}

// TestDelivererLockAcrossProcesses (issue 15, item 5): while another
// process runs Run on a SQLite file, a Run here waits and takes no lease;
// once that process, holding a lease on a call that never ends, is
// SIGKILLed, the kernel drops its lock and the Run here takes the lease
// over at once, well before it expires, and delivers.
func TestDelivererLockAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "holding\n", line)

	fake := newFake(t)
	ob := openOutbox(t, newClient(t, fake), SQLite(path))
	require.NoError(t, ob.StopTracking(ctx, ann))
	startRun(t, ob)
	eventually(t, 5*time.Second, "the other process to lease the customer", func() bool {
		var n int
		return ob.db.QueryRow(`SELECT count(*) FROM blueshift_outbox WHERE lease_owner <> ''`).Scan(&n) == nil && n == 1
	})
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, fake.Requests(), "this Run waits for the other process's")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	eventually(t, 5*time.Second, "delivery here", func() bool { return len(fake.Requests()) == 1 })
	assert.Less(t, time.Since(killed), 2*time.Second, "taken over before the 2 s lease expired")
	assert.Equal(t, []string{stopPath}, paths(fake))
}
