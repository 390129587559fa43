package outbox

import "time"

// pause stops all delivery for the probe delay: err is a configuration
// problem that every entry would hit.
func (o *Outbox) pause(err error) {
	d := o.s.probeDelay()
	o.mu.Lock()
	o.pausedUntil = time.Now().Add(d)
	o.mu.Unlock()
	o.s.logger.Error("outbox: delivery paused: Blueshift refused the client's configuration; fix it (API key, region, base URL, certificates)",
		"probe_in", d, "error", err)
}

// resume ends a pause after a delivery succeeded.
func (o *Outbox) resume() {
	o.mu.Lock()
	was := !o.pausedUntil.IsZero()
	o.pausedUntil = time.Time{}
	o.mu.Unlock()
	if was {
		o.s.logger.Info("outbox: delivery resumed")
	}
}

// pauseLeft is how long delivery stays paused; 0 when it is not paused
// or a probe is due.
func (o *Outbox) pauseLeft() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pausedUntil.IsZero() {
		return 0
	}
	return max(time.Until(o.pausedUntil), 0)
}

// probing reports whether delivery is paused and a probe is due: Run then
// delivers one entry to see whether the problem is fixed.
func (o *Outbox) probing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.pausedUntil.IsZero() && !time.Now().Before(o.pausedUntil)
}
