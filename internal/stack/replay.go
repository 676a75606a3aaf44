package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/replay"
)

// Replay re-judges every release step history.jsonl recorded under the
// policies and thresholds as they are now (policies/, with the manifest's
// overrides) and prints, release by release, what was decided then and
// what would be decided now. It changes nothing but the history's record
// of itself.
func (s *Stack) Replay(ctx context.Context) (err error) {
	var totals replay.Totals
	defer func() {
		event := history.Replay{Result: resultOf(err), Releases: totals.Releases, Steps: totals.Steps, Changed: totals.Changed, Unjudged: totals.Unjudged}
		if err != nil {
			event.Error = err.Error()
		}
		s.record(history.EventReplay, event)
	}()
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	eng, err := s.loadPolicies(m)
	if err != nil {
		return err
	}
	f, err := os.Open(s.path(HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		s.Out.OK("no %s yet: nothing to replay", HistoryFile)
		return nil
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	s.Out.Info("re-judging the release steps of %s under policies/ and %s's policy section as they are now", HistoryFile, ManifestFile)
	totals, err = replay.Run(ctx, f, eng, func(r replay.Release) error {
		s.printReplayed(r)
		return nil
	})
	if err != nil {
		if errors.Is(err, fail.ErrInvalid) {
			return err
		}
		return fmt.Errorf("replay: %w", err)
	}
	if totals.Skipped > 0 {
		s.Out.Warn("%d malformed lines of %s skipped", totals.Skipped, HistoryFile)
	}
	switch {
	case totals.Steps == 0:
		s.Out.OK("%s records no release step", HistoryFile)
	case totals.Changed == 0:
		s.Out.OK("%d releases, %d steps re-judged: every verdict as it was%s", totals.Releases, totals.Steps, unjudged(totals))
	default:
		s.Out.Warn("%d releases, %d steps re-judged: %d verdicts change under the policies as they are now%s", totals.Releases, totals.Steps, totals.Changed, unjudged(totals))
	}
	return nil
}

func unjudged(t replay.Totals) string {
	if t.Unjudged == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d recorded before the judge kept its evidence, not re-judged)", t.Unjudged)
}

// printReplayed shows one release then and now, step by step.
func (s *Stack) printReplayed(r replay.Release) {
	e := r.Event
	then := e.Result
	switch e.Result {
	case history.ReleaseStarted, "":
		then = "unfinished"
	case history.ReleaseAborted:
		then = fmt.Sprintf("aborted at step %d (%d%%)", e.Step, e.Weight)
	}
	s.Out.Step("release %s → %s, started %s UTC: %s then", e.FromVersion, e.ToVersion, r.Started.UTC().Format("2006-01-02 15:04:05"), then)
	for _, j := range r.Steps {
		st := j.Step
		where := fmt.Sprintf("step %d at %d%%", st.Step, st.Weight)
		if st.Extension > 0 {
			where += fmt.Sprintf(" (extension %d)", st.Extension)
		}
		if j.Unjudged != "" {
			s.Out.Info("%s: %s then; not re-judged: %s", where, st.Verdict, j.Unjudged)
			continue
		}
		at := "the step's end"
		if !st.Final {
			at = fmt.Sprintf("look %d", lookOf(st))
		}
		now := j.Now.Verdict
		if j.Now.Verdict == policy.VerdictAbort && j.Look != lookOf(st) {
			now += fmt.Sprintf(" at look %d", j.Look)
		}
		line := fmt.Sprintf("%s, decided at %s: %s then, %s now", where, at, st.Verdict, now)
		if j.Changed() {
			s.Out.Warn("%s", line)
			for _, v := range j.Now.Violations {
				s.Out.Info("  ✘ %s: %s", v.Rule, v.Message)
			}
			if j.Now.Verdict == policy.VerdictHold {
				s.Out.Info("  %s", strings.Join(j.Now.Notes, "; "))
			}
		} else {
			s.Out.Info("%s", line)
		}
	}
	if r.MoreSteps > 0 {
		s.Out.Info("… %d more steps, re-judged and counted, not listed", r.MoreSteps)
	}
	changed := false
	for _, j := range r.Steps {
		changed = changed || j.Changed()
	}
	switch j, ranOn := r.Now(); {
	case !changed:
		s.Out.OK("now: as then")
	case j == nil:
		s.Out.OK("now: %s, as then", r.Event.Result)
	case ranOn:
		s.Out.Warn("now: step %d would have run on (%s): what came after it was never measured", j.Step.Step, j.Now.Verdict)
	default:
		s.Out.Fail("now: aborted at step %d (%d%%), look %d", j.Step.Step, j.Step.Weight, j.Look)
	}
}

// lookOf is the look that decided st then.
func lookOf(st history.ReleaseStep) int {
	if st.Evidence == nil {
		return 0
	}
	return st.Evidence.Spending.Look
}
