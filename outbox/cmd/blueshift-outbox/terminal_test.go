//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift"
	"github.com/blueshift-go/blueshift/outbox"
)

// openPTY returns a pseudo-terminal's two ends: what is written to master
// is read from slave as typed on a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	require.NoError(t, err)
	t.Cleanup(func() { master.Close() })
	var unlock int32
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	require.Zero(t, errno)
	var n uint32
	_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	require.Zero(t, errno)
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestDiscardAsksOnATerminal: without --yes, discard asks on a terminal
// and discards only on yes.
func TestDiscardAsksOnATerminal(t *testing.T) {
	ann := blueshift.Customer{Email: "ann@example.com"}
	for _, tc := range []struct {
		answer string
		code   int
		dead   int
	}{
		{"yes\n", exitOK, 0},
		{"no\n", exitUsage, 1},
		{"\n", exitUsage, 1},
	} {
		t.Run(strings.TrimSpace(tc.answer), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			ctx := context.Background()
			ob, err := outbox.Open(ctx, mustClient(t), outbox.SQLite(path))
			require.NoError(t, err)
			defer ob.Close()
			require.NoError(t, ob.StopTracking(ctx, ann))
			markDead(t, path)

			master, slave := openPTY(t)
			_, err = master.WriteString(tc.answer)
			require.NoError(t, err)
			var stdout, stderr strings.Builder
			code := run(ctx, []string{"discard", "--sqlite", path, "--email", ann.Email}, slave, &stdout, &stderr)
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), "will be deleted and never delivered. Type yes to go on: ")
			assert.NotContains(t, stderr.String(), ann.Email)
			st, err := ob.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, tc.dead, st.Dead)
		})
	}
}
