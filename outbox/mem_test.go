package outbox

import (
	"runtime"
	"sync/atomic"
	"time"
)

// peakMemory samples the Go runtime's memory until done is closed.
type peakMemory struct{ heap, sys atomic.Uint64 }

func (p *peakMemory) sample(done <-chan struct{}) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > p.heap.Load() {
			p.heap.Store(m.HeapInuse)
		}
		if m.Sys > p.sys.Load() {
			p.sys.Store(m.Sys)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}
