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
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blueshift-go/blueshift/blueshifttest"
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

// answerOnTerminal runs the command against a new fake with stdin a
// pseudo-terminal on which answer was already typed, and returns the fake,
// the exit code and what was written to stderr.
func answerOnTerminal(t *testing.T, answer string, args ...string) (*blueshifttest.Server, int, string) {
	t.Helper()
	fake := blueshifttest.NewServer()
	t.Cleanup(fake.Close)
	t.Setenv("BLUESHIFT_API_KEY", fake.APIKey)
	t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
	master, slave := openPTY(t)
	_, err := master.WriteString(answer)
	require.NoError(t, err)
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, slave, &stdout, &stderr)
	return fake, code, stderr.String()
}

// terminalAnswers are the answers typed at the stop-tracking question,
// and whether each one confirms.
var terminalAnswers = []struct {
	answer  string
	confirm bool
}{
	{"yes\n", true},
	{"no\n", false},
	{"\n", false},
}

// confirmed is the exit code and the requests sent for an answer that
// confirms or not, with n customers to send.
func confirmed(yes bool, n int) (code, sent int) {
	if yes {
		return exitOK, n
	}
	return exitUsage, 0
}

func TestOneCustomerStopTrackingAsksOnATerminal(t *testing.T) {
	for _, tc := range terminalAnswers {
		t.Run(strings.TrimSpace(tc.answer), func(t *testing.T) {
			fake, code, stderr := answerOnTerminal(t, tc.answer, "stop-tracking", "--email", email(1))
			wantCode, wantSent := confirmed(tc.confirm, 1)
			assert.Equal(t, wantCode, code, stderr)
			assert.Contains(t, stderr, "permanently delete this customer's personal data. Type yes to go on: ")
			assert.Len(t, fake.Requests(), wantSent)
		})
	}
}

// Bulk stop-tracking on a terminal asks, naming the count, the columns
// and the host, as the one-customer command does; --yes is for scripts.
func TestBulkStopTrackingAsksOnATerminal(t *testing.T) {
	for _, tc := range terminalAnswers {
		t.Run(strings.TrimSpace(tc.answer), func(t *testing.T) {
			path := writeFile(t, "c.csv", "Email,Name\na@example.com,A\nb@example.com,B\n")
			results := path + ".results"
			fake, code, stderr := answerOnTerminal(t, tc.answer, "stop-tracking", "--file", path, "--results", results, "--rate", "1000")
			wantCode, wantSent := confirmed(tc.confirm, 2)
			assert.Equal(t, wantCode, code, stderr)
			assert.Contains(t, stderr, `identifiers: email from column "Email", customer_id none, cookie none, device_id none`+"\n")
			assert.Contains(t, stderr, "blueshift stop-tracking: Blueshift at "+strings.TrimPrefix(fake.URL, "http://")+
				" will permanently delete the personal data of the customer of each of 2 records, read from the columns above. Type yes to go on: ")
			assert.Len(t, fake.Requests(), wantSent)
			if !tc.confirm {
				assert.NoFileExists(t, results, "nothing is created before the answer")
				assert.Contains(t, stderr, "not confirmed: nothing was sent")
			}
		})
	}
}

// A --file that is stdin's terminal under another name is read as stdin:
// bulk stop-tracking refuses to ask there (a typed record line would be
// taken as the answer) and wants --yes, as with --file -. /dev/stdin
// names the process's own stdin, so that case runs in a child process.
func TestBulkStopTrackingWillNotAskOnTheTerminalItReads(t *testing.T) {
	_, slave := openPTY(t)
	for _, tc := range []struct {
		path  string
		child bool
	}{
		{"-", false},
		{slave.Name(), false},
		{fmt.Sprintf("/dev/fd/%d", slave.Fd()), false},
		{fmt.Sprintf("/proc/self/fd/%d", slave.Fd()), false},
		{"/dev/stdin", true},
		{"/dev/fd/0", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			fake := blueshifttest.NewServer()
			defer fake.Close()
			t.Setenv("BLUESHIFT_API_KEY", fake.APIKey)
			t.Setenv("BLUESHIFT_BASE_URL", fake.URL)
			results := filepath.Join(t.TempDir(), "r.ndjson")
			code, stderr := runOnTerminal(t, fake, slave, tc.child, "stop-tracking", "--file", tc.path, "--results", results)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Equal(t, "blueshift stop-tracking: stop-tracking deletes each customer's personal data in Blueshift: add --yes to confirm, or --dry-run to check the file first (stdin is not a terminal to ask on)\n", stderr)
			assert.Empty(t, fake.Requests())
			assert.NoFileExists(t, results)
		})
	}
}

// runOnTerminal runs the command with tty as its stdin, in this process or
// in a child, for at most a few seconds (a command that reads the terminal
// would wait for typing), and returns its exit code and stderr.
func runOnTerminal(t *testing.T, fake *blueshifttest.Server, tty *os.File, inChild bool, args ...string) (int, string) {
	t.Helper()
	const limit = 3 * time.Second
	if !inChild {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		var stdout, stderr strings.Builder
		return run(ctx, args, tty, &stdout, &stderr), stderr.String()
	}
	c := startChild(t, fake, tty, args...)
	select {
	case <-c.done:
	case <-time.After(limit):
		require.NoError(t, c.cmd.Process.Kill())
		<-c.done
		t.Errorf("still running after %v", limit)
	}
	return c.code, c.stderr.String()
}
