package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
)

// LockWaitEnv names the environment variable that bounds how long a command
// waits for another one changing the same stack (a Go duration; default
// DefaultLockWait).
const LockWaitEnv = "SWIFTDEPLOY_LOCK_WAIT"

// DefaultLockWait covers a promote measuring its 30 s window and switching.
const DefaultLockWait = 2 * time.Minute

// lockInfo says which command holds the stack's lock (the lock itself is on
// the project folder).
var lockInfo = filepath.Join(StateDir, "lock.json")

// exclusive runs do while holding the stack's lock, so that two commands never
// change the stack at once; a second one waits up to the lock wait, printing
// whom it waits for, then fails naming the holder. status and audit change
// nothing and take no lock.
func (s *Stack) exclusive(ctx context.Context, command string, do func() error) error {
	wait := DefaultLockWait
	if v := os.Getenv(LockWaitEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%w: %s=%q is not a duration like 30s", fail.ErrInvalid, LockWaitEnv, v)
		}
		wait = d
	}
	me := lock.Holder{Command: command, PID: os.Getpid(), Started: s.Now().UTC()}
	progress := s.Out.Progress("waiting for another command to finish with the stack " + s.Project)
	l, err := lock.Acquire(ctx, s.Root, s.path(lockInfo), me, wait, func(h lock.Holder, _ time.Duration) {
		progress.Update("(" + h.String() + ")")
	})
	progress.Done()
	if err != nil {
		err = fmt.Errorf("%s: %w", command, err)
		event, _, _ := strings.Cut(command, " ")
		s.record(event, history.Outcome{Result: resultOf(err), Error: err.Error()})
		return err
	}
	defer l.Release()
	return do()
}
