package outbox

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// peakMemory samples the Go runtime's memory and the process's resident
// set (which also counts the pure-Go SQLite's own allocations, made
// outside the Go heap) until done is closed.
type peakMemory struct{ heap, sys, rss atomic.Uint64 }

func (p *peakMemory) sample(done <-chan struct{}) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		raise(&p.heap, m.HeapInuse)
		raise(&p.sys, m.Sys)
		raise(&p.rss, residentBytes())
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func raise(peak *atomic.Uint64, v uint64) {
	if v > peak.Load() {
		peak.Store(v)
	}
}

// residentBytes reads VmRSS from /proc/self/status; 0 where there is none.
func residentBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			return kb << 10
		}
	}
	return 0
}
