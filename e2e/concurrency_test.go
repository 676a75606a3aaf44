package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStatusRefreshingWhilePromoteAndChaosRunLosesNoHistoryLine runs the live
// status dashboard, which appends a status_scrape every second, while promote
// and chaos append their own events from other processes: every line must come
// out whole, in the shape the history promises, and none may be lost.
func TestStatusRefreshingWhilePromoteAndChaosRunLosesNoHistoryLine(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.must("deploy")
	status := p.start(3*time.Minute, nil, "status", "-interval=1s")

	for _, args := range [][]string{
		{"promote", "canary"},
		{"chaos", "error", "-rate=0.5"},
		{"chaos", "recover"},
		{"chaos", "slow", "-duration=1"},
		{"chaos", "recover"},
		{"promote", "stable"},
	} {
		p.must(args...)
	}
	if status.finished() {
		t.Fatal("status -interval=1s exited by itself")
	}
	if err := status.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if out, code := status.wait(); code != 0 {
		t.Errorf("status after Ctrl+C exited %d, want 0:\n%s", code, lastLine(out))
	}

	history := p.read("history.jsonl")
	if !strings.HasSuffix(history, "\n") {
		t.Error("history.jsonl does not end with a newline: its last line is cut")
	}
	counts := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(history, "\n"), "\n") {
		event, err := checkHistoryLine(line)
		if err != "" {
			t.Errorf("history.jsonl line %d %s: %.200s", i+1, err, line)
			continue
		}
		counts[event]++
	}
	t.Logf("events: %v", counts)
	if counts["promote"] != 2 || counts["chaos"] != 4 || counts["status_scrape"] < 3 {
		t.Errorf("history.jsonl holds %d promote, %d chaos and %d status_scrape events, want 2, 4 and at least 3",
			counts["promote"], counts["chaos"], counts["status_scrape"])
	}
}

// checkHistoryLine returns the event of one history line, or what is wrong with
// it: not one JSON object, two run together, or timestamp and event not first.
func checkHistoryLine(line string) (event, problem string) {
	const prefix = `{"timestamp":"`
	if !strings.HasPrefix(line, prefix) {
		return "", "does not start with " + prefix
	}
	dec := json.NewDecoder(strings.NewReader(line))
	var head struct{ Timestamp, Event string }
	if err := dec.Decode(&head); err != nil {
		return "", "is not JSON: " + err.Error()
	}
	if dec.More() {
		return "", "holds more than one object"
	}
	if _, err := time.Parse(time.RFC3339, head.Timestamp); err != nil || !strings.HasSuffix(head.Timestamp, "Z") {
		return "", "has a timestamp that is not RFC 3339 UTC"
	}
	// The event key follows the timestamp's value directly.
	rest := line[len(prefix)+len(head.Timestamp)+1:]
	if !bytes.HasPrefix([]byte(rest), []byte(`,"event":"`+head.Event+`"`)) {
		return "", "does not have event second"
	}
	return head.Event, ""
}

// TestTwoPromotesStartedTogetherChangeTheStackOneAfterTheOther starts two
// `promote canary` 0.3 s apart: the second waits for the first and then finds
// nothing to do, instead of running a second switch "from stable". With a short
// lock wait, a command that cannot get the lock exits 1 naming the holder.
func TestTwoPromotesStartedTogetherChangeTheStackOneAfterTheOther(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.must("deploy")
	first := p.start(3*time.Minute, nil, "promote", "canary")
	time.Sleep(300 * time.Millisecond)
	out, code := p.run("promote", "canary")
	firstOut, firstCode := first.wait()
	if firstCode != 0 || !strings.Contains(firstOut, "stable → canary") {
		t.Fatalf("the first promote exited %d:\n%s", firstCode, firstOut)
	}
	if code != 0 || !strings.Contains(out, "waiting for another command") || !strings.Contains(out, "(`promote canary` (pid") || !strings.Contains(out, "already in canary mode") {
		t.Errorf("the second promote exited %d and did not wait for the first, then find nothing to do:\n%s", code, out)
	}
	if apps := p.containers("app"); len(apps) != 1 {
		t.Errorf("%d app containers after two promotes, want 1", len(apps))
	}

	slow := p.start(3*time.Minute, nil, "promote", "stable")
	time.Sleep(300 * time.Millisecond)
	cmd := exec.Command(targets, "chaos", "recover")
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "SWIFTDEPLOY_PROJECT="+p.name, "NO_COLOR=1", "SWIFTDEPLOY_LOCK_WAIT=1s")
	refused, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !bytes.Contains(refused, []byte("locked by `promote stable` (pid")) {
		t.Errorf("chaos while promote holds the lock exited %d, want 1 naming the holder:\n%s", cmd.ProcessState.ExitCode(), refused)
	}
	if out, code := slow.wait(); code != 0 {
		t.Errorf("promote stable exited %d:\n%s", code, out)
	}
}
