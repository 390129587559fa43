package bulk

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports a bulk run's advance on stderr.
type Progress interface {
	add()    // one record finished
	finish() // the run is over
}

// NewProgress returns a live bar when w is a terminal, and otherwise a
// plain status line every interval. total is -1 when unknown (stdin).
func NewProgress(w io.Writer, total int, interval time.Duration) Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{bar: progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("records"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rec"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)}
	}
	p := &lineProgress{w: w, total: total, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop(interval)
	return p
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b *barProgress) add()    { _ = b.bar.Add(1) }
func (b *barProgress) finish() { _ = b.bar.Finish() }

// lineProgress prints "progress: done/total (pct), rate/s, ETA" lines, for
// logs and pipes where a redrawn bar would be noise.
type lineProgress struct {
	w       io.Writer
	total   int
	start   time.Time
	done    atomic.Int64
	stop    chan struct{}
	stopped chan struct{}
}

func (p *lineProgress) add() { p.done.Add(1) }

func (p *lineProgress) loop(interval time.Duration) {
	defer close(p.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.print()
		case <-p.stop:
			return
		}
	}
}

func (p *lineProgress) print() {
	done := p.done.Load()
	elapsed := time.Since(p.start)
	rate := float64(done) / elapsed.Seconds()
	line := fmt.Sprintf("progress: %d", done)
	if p.total > 0 {
		line += fmt.Sprintf("/%d (%.0f%%)", p.total, 100*float64(done)/float64(p.total))
	}
	line += fmt.Sprintf(", %.1f records/s", rate)
	if p.total > 0 && rate > 0 && int(done) < p.total {
		eta := time.Duration(float64(p.total-int(done)) / rate * float64(time.Second))
		line += ", ETA " + eta.Round(time.Second).String()
	}
	fmt.Fprintln(p.w, line)
}

func (p *lineProgress) finish() {
	close(p.stop)
	<-p.stopped
}
