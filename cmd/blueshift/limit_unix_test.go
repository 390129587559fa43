//go:build unix

package main

import (
	"os/signal"
	"syscall"
)

// limitFileSize makes writes past n bytes of any file fail with EFBIG, as
// "ulimit -f" or a full disk does, instead of killing the process.
func limitFileSize(n uint64) {
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		panic(err)
	}
}
