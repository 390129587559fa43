package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/bulk"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/input"
	"github.com/blueshift-go/blueshift/cmd/blueshift/internal/resultsfile"
)

// exitCode prints why the run ended, if not plainly, and returns its exit
// code: that of the final outcome of every record, earlier runs included.
func (fr *fileRun) exitCode(ctx context.Context, sum bulk.Summary) int {
	name := fr.cfg.command
	switch {
	case sum.WriteErr != nil:
		fmt.Fprintf(fr.stderr, "blueshift %s: writing results to %s failed: %v; the summary counts only what it holds, and %s made since are not recorded: %s\n",
			name, fr.cfg.results, sum.WriteErr, plural(sum.Unrecorded, "call", "calls"), fr.cfg.rerunAdvice("make room and ", ", which sends them again"))
		return exitResults
	case sum.HardStopped || ctx.Err() != nil:
		fmt.Fprintf(fr.stderr, "blueshift %s: interrupted; %s\n", name, fr.cfg.rerunAdvice("", " to finish the rest"))
		return exitInterrupted
	case sum.ReadErr != nil:
		sent := "every record before it was sent and recorded: "
		if fr.cfg.results == "" {
			sent = "every record before it was sent; "
		}
		return fr.fail("%s: %s; %s%s", fr.cfg.file, input.DescribeError(sum.ReadErr), sent, fr.cfg.rerunAdvice("fix the input and ", ""))
	case errors.As(sum.StoppedBy, new(*bulk.OutageError)):
		fmt.Fprintf(fr.stderr, "blueshift %s: stopped early: %v; %s\n", name, sum.StoppedBy, fr.cfg.rerunAdvice("", " once it recovers"))
		return exitFailures
	case sum.StoppedBy != nil:
		return fr.fail("stopped early, every other record would fail the same way: %s%s", bulk.ErrText(sum.StoppedBy), fr.cfg.hint(sum.StoppedBy))
	case sum.Records == 0:
		fmt.Fprintf(fr.stderr, "blueshift %s: no records in %s: nothing was sent (is there a header line only?)\n", name, fr.cfg.file)
		return exitFailures
	case sum.Counts[resultsfile.OutcomeFailed] > 0 || sum.Counts[resultsfile.OutcomeInvalid] > 0 || sum.KeptInvalid > 0:
		return exitFailures
	}
	return exitOK
}

// rerunAdvice says how to finish a run that ended early: before + "run
// the same command with --resume" + after when --results records the run,
// and, without --results, that nothing records what was sent, for then
// --resume would only be refused.
func (c *trackingConfig) rerunAdvice(before, after string) string {
	if c.results == "" {
		return "without --results nothing records what was sent"
	}
	return before + "run the same command with --resume" + after
}

// printSummary prints the counts of a run, earlier runs' included, the
// calls an interrupt cut, and a hint for text that is not UTF-8.
func printSummary(w io.Writer, name string, dryRun, recorded bool, s bulk.Summary) {
	verb, processed := "sent", s.Counts[resultsfile.OutcomeOK]+s.Counts[resultsfile.OutcomeFailed]
	if dryRun {
		verb, processed = "would send", s.Counts[resultsfile.OutcomeSkipped]
	}
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(processed) / secs
	}
	auto := ""
	if s.FinalRate > 0 {
		auto = fmt.Sprintf("; --rate auto: achieved %.1f/s, final rate %.1f/s", rate, s.FinalRate)
	}
	fmt.Fprintf(w, "%s summary: %d ok, %d failed, %d invalid, %d skipped (%d already ok from an earlier run); %s %d in %s (%.1f records/s)%s\n",
		name, s.Counts[resultsfile.OutcomeOK], s.Counts[resultsfile.OutcomeFailed], s.Counts[resultsfile.OutcomeInvalid]+s.KeptInvalid, s.Counts[resultsfile.OutcomeSkipped]+s.Resumed, s.Resumed,
		verb, processed, s.Elapsed.Round(time.Millisecond), rate, auto)
	if s.Cut > 0 {
		again := "--resume sends them again"
		if !recorded {
			again = "without --results nothing records them"
		}
		fmt.Fprintf(w, "%s summary: %s cut; Blueshift may have applied them; %s\n", name, plural(s.Cut, "call was", "calls were"), again)
	}
	if s.NotUTF8 > 0 {
		fmt.Fprintf(w, "%s summary: %s text that is not valid UTF-8: if the file is in another encoding (such as Windows-1252), save it as UTF-8 and run again\n",
			name, plural(s.NotUTF8, "record holds", "records hold"))
	}
}
