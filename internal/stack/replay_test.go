package stack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// replayStack is a stack folder whose history is internal/replay's fixture
// (a good release and an aborted one from the end-to-end tests) and whose
// manifest overrides the release policy with policy.
func replayStack(t *testing.T, policy string) (*Stack, *bytes.Buffer) {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, PoliciesDir), os.DirFS(filepath.Join("..", "..", PoliciesDir))); err != nil {
		t.Fatal(err)
	}
	m := readFile(t, filepath.Join("testdata", "manifest.yaml")) + policy
	if err := os.WriteFile(filepath.Join(root, ManifestFile), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	history := readFile(t, filepath.Join("..", "replay", "testdata", "releases.jsonl"))
	if err := os.WriteFile(filepath.Join(root, HistoryFile), []byte(history), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	return &Stack{Root: root, Project: "swiftdeploy-unit", Out: ui.New(&out), Now: time.Now}, &out
}

func TestReplayUnderTheShippedPoliciesSaysEveryVerdictIsAsItWas(t *testing.T) {
	s, out := replayStack(t, "")
	if err := s.Replay(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"release 2.0.0 → 2.1.0, started ", ": completed then",
		"step 1 at 10%, decided at the step's end: promote then, promote now",
		"step 4 at 100%, decided at the step's end: promote then, promote now",
		": aborted at step 1 (10%) then",
		"step 1 at 10%, decided at look 6: abort then, abort now",
		"now: as then",
		"2 releases, 5 steps re-judged: every verdict as it was",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay printed\n%s\nwant %q", out, want)
		}
	}
	if h := readFile(t, s.path(HistoryFile)); !strings.Contains(h, `"event":"replay","changed":0,"releases":2,"result":"ok","steps":5`) {
		t.Errorf("history does not record the replay:\n%s", h[strings.LastIndex(h[:len(h)-1], "\n")+1:])
	}
}

func TestReplayUnderAStricterThresholdTurnsAPastPromoteIntoAnAbortAndSaysSo(t *testing.T) {
	s, out := replayStack(t, "  release:\n    max_p99_latency_ms: 10\n")
	if err := s.Replay(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"step 1 at 10%, decided at the step's end: promote then, abort now",
		"✘ p99_latency: canary P99 latency 23.00 ms (as clients saw it at nginx) exceeds the 10.00 ms limit",
		"now: aborted at step 1 (10%), look 4",
		"2 releases, 5 steps re-judged: 4 verdicts change under the policies as they are now",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay printed\n%s\nwant %q", out, want)
		}
	}
}
