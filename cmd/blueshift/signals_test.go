package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/blueshift-go/blueshift/blueshifttest"
)

// childEnv makes the test binary run the command itself (see TestMain), so
// that signal tests send real signals to a real process.
const childEnv = "BLUESHIFT_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv(childEnv+"_ARGS")), &args); err != nil {
			panic(err)
		}
		if n, err := strconv.ParseUint(os.Getenv(childEnv+"_FSIZE"), 10, 64); err == nil {
			limitFileSize(n) // as "ulimit -f": writes past n bytes fail
		}
		ctx, hard := interrupts()
		os.Exit(run(withHardStop(ctx, hard), args, os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// child is the command running in another process.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startChild starts the command with args against fake.
func startChild(t *testing.T, fake *blueshifttest.Server, stdin io.Reader, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan struct{})}
	encoded, err := json.Marshal(args)
	require.NoError(t, err)
	c.cmd.Env = append(os.Environ(), childEnv+"=1", childEnv+"_ARGS="+string(encoded),
		"BLUESHIFT_API_KEY="+fake.APIKey, "BLUESHIFT_BASE_URL="+fake.URL, "BLUESHIFT_REGION=")
	c.cmd.Stdin, c.cmd.Stderr = stdin, &c.stderr
	require.NoError(t, c.cmd.Start())
	go func() {
		err := c.cmd.Wait()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			c.code = exitErr.ExitCode()
		}
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

// signal sends sig to the child.
func (c *child) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Signal(sig))
}

// wait returns the exit code, or fails the test if the child has not
// exited within limit.
func (c *child) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(limit):
		t.Fatalf("the command did not exit within %v; stderr:\n%s", limit, c.stderr.String())
		return -1
	}
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineCount counts the complete lines of a file, 0 if it does not exist.
func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

func TestFirstInterruptStopsReadingAQuietPipe(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	results := filepath.Join(t.TempDir(), "r.ndjson")
	pr, pw, err := os.Pipe() // a real pipe: exec.Cmd.Wait would wait for an io.Pipe's copying
	require.NoError(t, err)
	defer pw.Close()
	c := startChild(t, fake, pr, "start-tracking", "--file", "-", "--results", results, "--rate", "1000", "--progress-every", "1h")
	pr.Close()                                           // the child has its own copy
	_, err = io.WriteString(pw, "email\n"+email(0)+"\n") // then the pipe stays quiet
	require.NoError(t, err)
	eventually(t, "the first record recorded", func() bool { return lineCount(results) == 2 })

	c.signal(t, os.Interrupt)
	assert.Equal(t, exitInterrupted, c.wait(t, 5*time.Second), c.stderr.String())
	assert.Contains(t, c.stderr.String(), "interrupted; run the same command with --resume")
	assert.Equal(t, 2, lineCount(results))
	assert.Len(t, fake.Requests(), 1)
}

func TestSecondInterruptCutsTheDrainAtOnce(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour) // calls in flight never finish by themselves
	input := writeFile(t, "c.csv", customersCSV(10))
	results := filepath.Join(t.TempDir(), "r.ndjson")
	args := []string{"start-tracking", "--file", input, "--results", results, "--rate", "1000", "--concurrency", "2", "--drain-timeout", "1m", "--progress-every", "1h"}
	c := startChild(t, fake, nil, args...)
	eventually(t, "two calls in flight", func() bool { return len(fake.Requests()) == 2 })

	c.signal(t, syscall.SIGTERM)
	select {
	case <-c.done:
		t.Fatalf("the first signal must let calls in flight finish; stderr:\n%s", c.stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	c.signal(t, os.Interrupt)
	start := time.Now()
	code := c.wait(t, 10*time.Second)
	assert.Less(t, time.Since(start), time.Second, "the second signal ends the run within a second")
	assert.Equal(t, exitInterrupted, code, c.stderr.String())
	assert.Equal(t, 1, lineCount(results), "only the header: the calls cut are left out")
	assert.Len(t, fake.Requests(), 2)

	// --resume sends them again, and the rest.
	fake.SetDelay(0)
	code, _, stderr := cli(t, context.Background(), fake, "", append(args, "--resume")...)
	assert.Equal(t, exitOK, code, stderr)
	_, last := resultsOf(t, results)
	assert.Len(t, last, 10)
	sent := map[string]bool{}
	for _, b := range bodies(fake) {
		sent[b] = true
	}
	for i := range 10 {
		assert.True(t, sent[fmt.Sprintf(`{"email":"%s","customer_id":"C%d"}`, email(i), i)], "record %d sent", i)
	}
}

func TestDrainTimeoutCutsCallsAndLeavesThemOut(t *testing.T) {
	fake := blueshifttest.NewServer()
	defer fake.Close()
	fake.SetDelay(time.Hour)
	results := filepath.Join(t.TempDir(), "r.ndjson")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // interrupt once two calls are in flight
		for deadline := time.Now().Add(10 * time.Second); len(fake.Requests()) < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	code, _, stderr := cli(t, ctx, fake, "", "start-tracking", "--file", writeFile(t, "c.csv", customersCSV(10)), "--results", results,
		"--rate", "1000", "--concurrency", "2", "--drain-timeout", "50ms")
	assert.Equal(t, exitInterrupted, code, stderr)
	assert.Equal(t, 1, lineCount(results), "only the header")
	assert.Contains(t, stderr, "0 ok, 0 failed")
}
