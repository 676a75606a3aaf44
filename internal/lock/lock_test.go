package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var first = Holder{Command: "promote canary", PID: 4242, Started: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}

func TestASecondCommandWaitsThenNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "state", "lock.json")
	held, err := Acquire(context.Background(), dir, info, first, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		held.Release()
		if _, err := os.Stat(filepath.Dir(info)); !os.IsNotExist(err) {
			t.Errorf("the empty folder of the holder note is left after release: %v", err)
		}
	}()
	var told []Holder
	_, err = Acquire(context.Background(), dir, info, Holder{Command: "promote stable"}, 300*time.Millisecond, func(h Holder, _ time.Duration) { told = append(told, h) })
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: %v, want ErrHeld", err)
	}
	for _, want := range []string{"`promote canary`", "pid 4242"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name the holder (%s)", err, want)
		}
	}
	if len(told) == 0 || told[0].PID != 4242 {
		t.Errorf("waiting was told %v, want the holder", told)
	}
}

func TestALockIsFreeAgainOnceReleased(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "state", "lock.json")
	held, err := Acquire(context.Background(), dir, info, first, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		l, err := Acquire(context.Background(), dir, info, Holder{Command: "deploy"}, 5*time.Second, nil)
		if err == nil {
			err = l.Release()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting command did not get the lock: %v", err)
	}
}

// The kernel releases a flock when its holder dies, so a killed command never
// leaves the stack locked. The holder here is a child process killed with
// SIGKILL while it holds the lock.
func TestAKilledHolderLeavesTheLockFree(t *testing.T) {
	if dir := os.Getenv("LOCK_TEST_HOLD"); dir != "" {
		if _, err := Acquire(context.Background(), dir, filepath.Join(dir, "lock.json"), first, time.Second, nil); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	info := filepath.Join(dir, "lock.json")
	child := exec.Command(os.Args[0], "-test.run", "^TestAKilledHolderLeavesTheLockFree$")
	child.Env = append(os.Environ(), "LOCK_TEST_HOLD="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("the child did not take the lock: %q %v", buf, err)
	}
	if _, err := Acquire(context.Background(), dir, info, Holder{}, 200*time.Millisecond, nil); !errors.Is(err, ErrHeld) {
		t.Fatalf("while the child holds it: %v, want ErrHeld", err)
	}
	child.Process.Kill()
	child.Wait()
	l, err := Acquire(context.Background(), dir, info, Holder{Command: "rollback"}, 2*time.Second, nil)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}

func TestHeldSaysWhoHoldsTheLockWithoutTakingIt(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, "lock.json")
	if _, held := Held(dir, info); held {
		t.Fatal("a lock never taken is held")
	}
	l, err := Acquire(context.Background(), dir, info, first, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, held := Held(dir, info); !held || h.PID != first.PID {
		t.Errorf("Held = %v, %v; want the holder", h, held)
	}
	l.Release()
	if _, held := Held(dir, info); held {
		t.Error("a released lock is held")
	}
	if _, err := os.Stat(info); !os.IsNotExist(err) {
		t.Errorf("the holder file is left after release: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("releasing removed the locked folder: %v", err)
	}
}
