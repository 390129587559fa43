//go:build unix

package outbox

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errLocked means another open file description holds the lock.
var errLocked = errors.New("outbox: locked")

// lockFile takes an exclusive flock on path without waiting. flock locks
// belong to an open file description, so a second Open in the same
// process conflicts too, and the kernel drops the lock when the process
// dies.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: sqlite: deliverer lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("outbox: sqlite: deliverer lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
