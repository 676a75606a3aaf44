// Package wait is how SwiftDeploy waits: for a condition, polled with
// visible progress, or for a pause that ends early when the command is
// cancelled. Every wait takes a context, so that a limit or a Ctrl+C ends it.
package wait

import (
	"context"
	"fmt"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Check is one look at what a wait waits for: done, or a status to show
// while it is not, or an error that ends the wait for good.
type Check func(context.Context) (done bool, status string, err error)

// For polls check every interval until it reports done, ctx ends, or it
// fails for good, showing progress for what on out. It returns how long it
// waited.
func For(ctx context.Context, out *ui.Printer, what string, interval time.Duration, check Check) (time.Duration, error) {
	progress := out.Progress(what)
	defer progress.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done, status, err := check(ctx)
		if err != nil {
			return progress.Elapsed(), err
		}
		if done {
			return progress.Elapsed(), nil
		}
		progress.Update(status)
		select {
		case <-ctx.Done():
			return progress.Elapsed(), fmt.Errorf("gave up waiting for %s after %s: %s", what, progress.Elapsed().Round(time.Second), status)
		case <-ticker.C:
		}
	}
}

// Sleep waits d, or less when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Countdown is a Check that is done once deadline has passed, showing the
// seconds left.
func Countdown(deadline time.Time) Check {
	return func(context.Context) (bool, string, error) {
		left := time.Until(deadline)
		return left <= 0, fmt.Sprintf("(%ds left)", int(left.Seconds()+0.999)), nil
	}
}
