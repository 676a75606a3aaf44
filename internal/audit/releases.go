package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// maxReleases bounds the releases the report lists (the latest ones), and
// maxSteps the steps kept per release, so that memory stays flat.
const (
	maxReleases = 50
	maxSteps    = 40
)

// release is one release as the report shows it: its start, its steps and
// its end.
type release struct {
	start, end time.Time
	event      history.ReleaseEvent // the last event seen: started, then its end
	steps      []history.ReleaseStep
	moreSteps  int
}

// releases keeps the latest maxReleases.
type releases struct {
	list    []*release
	dropped int
	total   int
}

func (r *releases) current() *release {
	if len(r.list) == 0 {
		return nil
	}
	last := r.list[len(r.list)-1]
	if !last.end.IsZero() {
		return nil
	}
	return last
}

func (c *collector) addRelease(ev event, e *history.ReleaseEvent) {
	r := c.releases.current()
	if e.Result == history.ReleaseStarted || r == nil {
		r = &release{start: ev.at}
		c.releases.total++
		if len(c.releases.list) == maxReleases {
			c.releases.list = c.releases.list[1:]
			c.releases.dropped++
		}
		c.releases.list = append(c.releases.list, r)
	}
	r.event = *e
	if e.Result != history.ReleaseStarted {
		r.end = ev.at
		if e.Result != history.ReleaseFailed || e.Cost != nil {
			c.costs.add(ev.at, "release "+e.FromVersion+" → "+e.ToVersion+" ("+e.Strategy+")", e.Result, e.Cost)
		}
	}
	c.row(ev, releaseDetail(*e))
}

func (c *collector) addReleaseStep(ev event, st *history.ReleaseStep) {
	// The gate's window of the build it judged, on the chart with the others.
	if st.Canary.Requests > 0 {
		c.chart.add(ev.at, st.Canary.ErrorRatePercent, st.Canary.P99Ms)
	}
	r := c.releases.current()
	if r == nil {
		return
	}
	if len(r.steps) == maxSteps {
		r.moreSteps++
		return
	}
	// What a re-judgment needs and the report does not show stays in the
	// history: the report's memory stays flat.
	kept := *st
	kept.Looks, kept.CanarySample, kept.StableSample, kept.Notes = nil, nil, nil, nil
	r.steps = append(r.steps, kept)
}

func releaseDetail(e history.ReleaseEvent) string {
	d := fmt.Sprintf("%s → %s (%s)", e.FromVersion, e.ToVersion, e.Strategy)
	switch e.Result {
	case history.ReleaseAborted:
		d += fmt.Sprintf(": aborted at step %d (%d%%)", e.Step, e.Weight)
		if len(e.Reasons) > 0 {
			d += ": " + e.Reasons[0]
		}
	case history.ReleaseFailed:
		d += ": " + e.Error
	}
	return d
}

func renderReleases(m md, r *releases, c *costs) {
	if !m.section("Releases", r.total == 0, "No release was recorded.") {
		if c.measured+c.unmeasured > 0 {
			renderCosts(m, c)
		}
		return
	}
	defer renderCosts(m, c)
	if r.dropped > 0 {
		m.line("%d releases; the last %d are listed.", r.total, len(r.list))
		m.line("")
	}
	m.table("Started (UTC)", "From → to", "Strategy", "Result", "Steps", "First bad request to abort", "Reasons")
	for _, x := range r.list {
		e := x.event
		result := e.Result
		if x.end.IsZero() {
			result = "unfinished"
		}
		toAbort := ""
		if e.FirstBadToAbort > 0 {
			toAbort = strconv.FormatFloat(e.FirstBadToAbort, 'f', 1, 64) + " s"
		}
		m.row(x.start.Format(timeLayout), e.FromVersion+" → "+e.ToVersion, e.Strategy, result, stepsSummary(x), toAbort, strings.Join(e.Reasons, "; "))
	}
	m.line("")
	for _, x := range r.list {
		if len(x.steps) == 0 {
			continue
		}
		m.line("Steps of %s → %s, started %s UTC:", x.event.FromVersion, x.event.ToVersion, x.start.Format(timeLayout))
		m.line("")
		m.table("Step", "Canary share", "Window (s)", "Decided", "Verdict", "Canary requests", "Canary error rate", "Canary P99 (ms)", "Stable requests", "Stable error rate", "Stable P99 (ms)", "Errors against stable", "Latency against stable")
		for _, s := range x.steps {
			step := strconv.Itoa(s.Step)
			if s.Extension > 0 {
				step += fmt.Sprintf(" (extension %d)", s.Extension)
			}
			errs, latency := evidenceCells(s)
			m.row(step, strconv.Itoa(s.Weight)+"%", number(s.WindowSeconds), decided(s), s.Verdict,
				requests(s.Canary), number(s.Canary.ErrorRatePercent)+"%", number(s.Canary.P99Ms),
				requests(s.Stable), number(s.Stable.ErrorRatePercent)+"%", number(s.Stable.P99Ms), errs, latency)
		}
		if x.moreSteps > 0 {
			m.row("…", "", "", "", fmt.Sprintf("%d more steps", x.moreSteps), "", "", "", "", "", "", "", "")
		}
		m.line("")
	}
}

// decided says which look decided a step: its end, or a look before it
// (an early abort), with the time from the canary's first failed request.
// Steps recorded before the looks were: nothing.
func decided(s history.ReleaseStep) string {
	if s.Evidence == nil {
		return ""
	}
	out := fmt.Sprintf("look %d at %s s", s.Evidence.Spending.Look, number(s.WindowSeconds))
	if s.Final {
		out = "the step's end (" + out + ")"
	}
	if s.FirstBadToVerdict > 0 {
		out += fmt.Sprintf(", %s s after the first failed request", number(s.FirstBadToVerdict))
	}
	return out
}

// evidenceCells are the step's two comparisons with stable as the report
// shows them: each p-value against the look's α, the difference of error
// rates with its interval, the latency's effect size (beyond its margin)
// and medians, and the warm-up they were measured after. Not where stable
// served nothing (at 100 %, without rollout.smoke).
func evidenceCells(s history.ReleaseStep) (errs, latency string) {
	e := s.Evidence
	if e == nil || s.Stable.Requests == 0 {
		return "", ""
	}
	d := e.Errors.DifferencePoints
	errs = fmt.Sprintf("p = %s %s α %s; %s to %s points (%s%%)", sig(e.Errors.PValue), against(e.Errors.PValue, e.Errors.Alpha), sig(e.Errors.Alpha),
		signed(d.Lower), signed(d.Upper), number(100*d.Confidence))
	l := e.Latency
	latency = fmt.Sprintf("p = %s %s α %s; slower by more than %s%% and %s ms in %s%% of pairs; medians %s and %s ms", sig(l.PValue), against(l.PValue, l.Alpha), sig(l.Alpha),
		number(l.MarginPercent), number(l.SlackMs), number(100*l.ProbabilitySlower), number(l.CanaryMedianMs), number(l.StableMedianMs))
	if l.WarmupSeconds > 0 {
		latency += fmt.Sprintf(", from %s s into the step", number(l.WarmupSeconds))
	}
	return errs, latency
}

// against is how a p-value stands to its α: at or under it is significant.
// (Markdown would escape a ">".)
func against(p, alpha float64) string {
	if alpha > 0 && p <= alpha {
		return "≤"
	}
	return "above"
}

func sig(x float64) string { return strconv.FormatFloat(x, 'g', 2, 64) }

func signed(x float64) string {
	if x > 0 {
		return "+" + number(x)
	}
	return number(x)
}

// stepsSummary is "3 of 4 (10% → 25% → 50%)".
func stepsSummary(x *release) string {
	var shares []string
	seen := map[int]bool{}
	for _, s := range x.steps {
		if !seen[s.Step] {
			seen[s.Step] = true
			shares = append(shares, strconv.Itoa(s.Weight)+"%")
		}
	}
	total := len(x.event.Steps)
	if total == 0 && len(x.steps) > 0 {
		total = x.steps[0].Steps
	}
	if len(shares) == 0 {
		return "0 of " + strconv.Itoa(total)
	}
	return fmt.Sprintf("%d of %d (%s)", len(shares), total, strings.Join(shares, " → "))
}
