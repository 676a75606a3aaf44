// Package lock lets one command at a time change a stack. The lock is an
// exclusive flock(2) on the stack's folder itself, which is never replaced or
// removed while the stack exists: the kernel releases it when its holder
// exits, however it exits, so a killed command never leaves the stack locked,
// and nothing is left behind. The holder writes who it is into a small file
// beside, so that a command waiting for the lock can say which command holds
// it; that file is only ever read for messages.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Holder says which command holds a lock.
type Holder struct {
	Command string    `json:"command"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

func (h Holder) String() string {
	if h.Command == "" {
		return "another command"
	}
	return fmt.Sprintf("`%s` (pid %d, started %s)", h.Command, h.PID, h.Started.Local().Format("15:04:05"))
}

// ErrHeld means the lock was still held when the wait ran out.
var ErrHeld = errors.New("the stack is locked")

// Lock is a held lock.
type Lock struct {
	f         *os.File
	dir, info string
}

// pollEvery is how often a waiting command tries the lock again.
const pollEvery = 100 * time.Millisecond

// Acquire takes the lock on the folder dir for me, writing me into the file
// info, and waits up to wait while another command holds it; waiting is
// called (at most once a second) with the holder and how long it has waited.
// After the wait the error wraps ErrHeld and names the holder.
func Acquire(ctx context.Context, dir, info string, me Holder, wait time.Duration, waiting func(Holder, time.Duration)) (*Lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s to lock it: %w", dir, err)
	}
	start := time.Now()
	var told time.Time
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		holder := readHolder(info)
		waited := time.Since(start)
		if waited >= wait {
			f.Close()
			return nil, fmt.Errorf("%w by %s; waited %s: wait for it to finish, or stop it", ErrHeld, holder, wait.Round(time.Second))
		}
		if waiting != nil && time.Since(told) >= time.Second {
			waiting(holder, waited)
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	if err := writeHolder(info, me); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f: f, dir: dir, info: info}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.info)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	// The folder writeHolder may have made goes too when nothing else is in
	// it: a command that changed nothing leaves nothing behind.
	if sub := filepath.Dir(l.info); filepath.Clean(sub) != filepath.Clean(l.dir) {
		_ = os.Remove(sub)
	}
	if cerr := l.f.Close(); err == nil { // closing the folder releases the flock
		err = cerr
	}
	l.f = nil
	return err
}

// writeHolder writes me to path by rename, so that a reader never sees half.
func writeHolder(path string, me Holder) error {
	data, err := json.Marshal(me)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readHolder reads who holds the lock; a holder that has not written itself
// yet reads as the zero Holder.
func readHolder(path string) Holder {
	var h Holder
	if data, err := os.ReadFile(path); err == nil {
		json.Unmarshal(data, &h)
	}
	return h
}

// Held reports whether a command holds the lock on dir now, and which.
func Held(dir, info string) (Holder, bool) {
	f, err := os.Open(dir)
	if err != nil {
		return Holder{}, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return readHolder(info), errors.Is(err, syscall.EWOULDBLOCK)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return Holder{}, false
}
