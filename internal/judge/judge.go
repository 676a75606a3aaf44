// Package judge computes the evidence a release step is judged on, look by
// look: every look_seconds during a step it compares the canary with the
// stable build over the step's window so far, with four tests, each at the
// nominal level an alpha spending rule leaves that look (internal/stats):
//
//   - errors: is the canary's error proportion greater than stable's?
//     Fisher's exact test, one-sided, with the difference's interval;
//   - latency: do the canary's requests take more than
//     latency_margin_percent, and nginx's 1 ms resolution, longer than
//     stable's? Mann-Whitney U, one-sided, on each request's upstream time,
//     against stable's times scaled by the margin and shifted by a tick (a
//     non-inferiority test: without a margin, thousands of requests a side
//     show differences nobody would abort for);
//   - error limit: a lower confidence bound of the canary's error rate
//     (Wilson), for the policy to compare with max_error_rate_percent;
//   - P99 limit: a lower confidence bound of the canary's P99 (an order
//     statistic), for the policy to compare with max_p99_latency_ms.
//
// The four share the step's false-abort budget, 1 - confidence, in equal
// parts, each spent over the looks by the same rule (so each look judges
// every test at the same nominal level): by the union bound over tests and
// looks, a canary like stable and within the limits is aborted by a step's
// looks with probability at most 1 - confidence. The release policy (policies/release.rego) reads the
// evidence as plain numbers and keeps the decision: abort at any look where
// a test is significant, and at the step's end promote, hold
// (inconclusive: the window could not have shown a worse canary at the
// step's level) or abort on the absolute limits as measured.
//
// Each step's looks are planned over step_seconds × (1 +
// max_inconclusive_extensions), by time: an extension's looks are paid from
// the same budget rather than adding to it.
package judge

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/stats"
)

// The release policy's thresholds the evidence is computed at
// (data.swiftdeploy.thresholds.release in policies/data.json).
const (
	KeyConfidence = "confidence"
	KeySpending   = "alpha_spending"
	KeyLook       = "look_seconds"
	KeyExtensions = "max_inconclusive_extensions"
	KeyMargin     = "latency_margin_percent"
	KeyWarmup     = "latency_warmup_seconds"
)

// Settings are how sure a verdict must be, and how often to look.
type Settings struct {
	// Confidence is the chance that a step of a canary like stable, and
	// within the limits, is not aborted by any of its looks' tests.
	Confidence float64
	// Spending names the alpha spending function (stats.SpendingPocock,
	// stats.SpendingOBrienFleming).
	Spending string
	// Look is the time between two looks at a step.
	Look time.Duration
	// Extensions is how many times an inconclusive step may be extended.
	Extensions int
	// MarginPercent is how much longer than stable's the canary's requests
	// may take before the latency test counts them slower.
	MarginPercent float64
	// Warmup is how long after a step begins its requests' times are left
	// out of the latency tests (both builds' alike): a build that has just
	// started, or just been given more of the traffic, is slower for a
	// moment (empty caches, connection pools, a JIT) than one that has been
	// serving all along. Its failures count from the first request. A step
	// takes at most half its length as warm-up (Step.Warmup).
	Warmup time.Duration
}

// MaxWarmup bounds latency_warmup_seconds.
const MaxWarmup = 600 * time.Second

// ErrSettings marks thresholds the judge cannot work with.
var ErrSettings = errors.New("the release policy's thresholds")

// SettingsFrom reads the judge's settings from the release policy's
// thresholds (numbers as float64, names as strings), each problem named.
func SettingsFrom(thresholds map[string]any) (Settings, error) {
	var s Settings
	var problems []error
	number := func(key string) float64 {
		v, ok := thresholds[key].(float64)
		if !ok {
			problems = append(problems, fmt.Errorf("%s is missing or not a number", key))
		}
		return v
	}
	s.Confidence = number(KeyConfidence)
	look := number(KeyLook)
	extensions := number(KeyExtensions)
	s.MarginPercent = number(KeyMargin)
	warmup := number(KeyWarmup)
	spending, ok := thresholds[KeySpending].(string)
	switch {
	case !ok:
		problems = append(problems, fmt.Errorf("%s is missing or not a name (%s or %s)", KeySpending, stats.SpendingPocock, stats.SpendingOBrienFleming))
	case spending != stats.SpendingPocock && spending != stats.SpendingOBrienFleming:
		problems = append(problems, fmt.Errorf("%s %q is none of %s, %s", KeySpending, spending, stats.SpendingPocock, stats.SpendingOBrienFleming))
	}
	s.Spending = spending
	if _, found := thresholds[KeyConfidence].(float64); found && !(s.Confidence >= 0.5 && s.Confidence < 1) {
		problems = append(problems, fmt.Errorf("%s %v is not in [0.5, 1)", KeyConfidence, s.Confidence))
	}
	if _, found := thresholds[KeyLook].(float64); found && !(look >= 0.1 && look <= 60) {
		problems = append(problems, fmt.Errorf("%s %v is not between 0.1 and 60", KeyLook, look))
	}
	if _, found := thresholds[KeyExtensions].(float64); found && (extensions < 0 || extensions > 100 || extensions != math.Trunc(extensions)) {
		problems = append(problems, fmt.Errorf("%s %v is not a whole number from 0 to 100", KeyExtensions, extensions))
	}
	if _, found := thresholds[KeyMargin].(float64); found && !(s.MarginPercent >= 0 && s.MarginPercent <= 1000) {
		problems = append(problems, fmt.Errorf("%s %v is not between 0 and 1000", KeyMargin, s.MarginPercent))
	}
	if _, found := thresholds[KeyWarmup].(float64); found && !(warmup >= 0 && warmup <= MaxWarmup.Seconds()) {
		problems = append(problems, fmt.Errorf("%s %v is not between 0 and %v", KeyWarmup, warmup, MaxWarmup.Seconds()))
	}
	if len(problems) > 0 {
		return Settings{}, fmt.Errorf("%w: %w", ErrSettings, errors.Join(problems...))
	}
	s.Warmup = time.Duration(warmup * float64(time.Second))
	s.Look = time.Duration(look * float64(time.Second))
	s.Extensions = int(extensions)
	return s, nil
}

// Resolution is that of the request times nginx logs
// ($upstream_response_time, in milliseconds): the latency test asks for the
// canary to be slower by the margin and one tick more, since a build
// answering in 2 ms where the other took 1 ms is a tick, not evidence.
const Resolution = time.Millisecond

// tests share the budget: errors, latency, error limit, P99 limit.
const tests = 4

// PerTest is each test's share of a step's false-abort budget.
func (s Settings) PerTest() float64 { return (1 - s.Confidence) / tests }

// Step judges one release step: its plan and the sequence of nominal
// levels its looks spend, the same for each test.
type Step struct {
	settings Settings
	warmup   time.Duration
	length   time.Duration
	planned  time.Duration
	seq      *stats.Sequential
	looks    []Look
}

// NewStep plans the looks at a step of length, which extensions may make
// up to 1 + s.Extensions times longer.
func NewStep(s Settings, length time.Duration) (*Step, error) {
	seq, err := stats.NewSequential(s.Spending, s.PerTest())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettings, err)
	}
	return &Step{settings: s, warmup: s.WarmupOf(length), length: length, planned: length * time.Duration(1+s.Extensions), seq: seq}, nil
}

// WarmupOf is the warm-up of a step of length: the settings', or half the
// step when that is shorter, so that a short step still has request times
// to compare.
func (s Settings) WarmupOf(length time.Duration) time.Duration { return min(s.Warmup, length/2) }

// Warmup is the step's warm-up (Settings.WarmupOf).
func (st *Step) Warmup() time.Duration { return st.warmup }

// Timed says whether a look after elapsed compares request times: once a
// whole look's worth of them has been logged since the warm-up, or at the
// step's end. Requests logged within a tenth of a second share whatever
// the host did then (a pause, a burst): 44 canary requests against 46, the
// first 0.1 s after a warm-up, once showed a good build slower at
// p = 0.00008.
func (st *Step) Timed(elapsed time.Duration) bool {
	return elapsed-st.warmup >= st.settings.Look || elapsed >= st.length
}

// Build is one build over the window so far: its requests, how many
// failed, and a sample of its request times in milliseconds (all of them,
// or a uniform sample).
type Build struct {
	Requests, Errors int64
	LatenciesMs      []float64
}

// Look is one look at the step as history keeps it for a re-judgment: when,
// and the counts it saw.
type Look struct {
	Seconds float64      `json:"seconds"`
	Canary  stats.Counts `json:"canary"`
	Stable  stats.Counts `json:"stable"`
}

// Looks are the step's looks so far.
func (st *Step) Looks() []Look { return st.looks }

// Evidence is what one look found: plain numbers, for the release policy's
// input and the history.
type Evidence struct {
	// Confidence is the settings' confidence; each test's level for the
	// step is a quarter of 1 - Confidence (Spending.Total).
	Confidence float64 `json:"confidence"`
	// Spending is this look's allowance: its number in the step, from 1,
	// its information fraction (the time since the step began over the
	// time planned for it, extensions included), and the nominal level
	// Alpha every test is judged at.
	Spending stats.Look `json:"spending"`
	Errors   Errors     `json:"errors"`
	Latency  Latency    `json:"latency"`
	// ErrorLimit and P99Limit are lower confidence bounds of the canary's
	// error rate and P99, for the absolute limits before a step's end.
	ErrorLimit ErrorLimit `json:"error_limit"`
	P99Limit   P99Limit   `json:"p99_limit"`
}

// Errors is the error test: the canary is worse than stable at this
// look when PValue ≤ Alpha.
type Errors struct {
	stats.ErrorEvidence
	// StepErrorsNeeded is how many of the canary's requests would have to
	// have failed to show it worse at the test's whole level for the step
	// (Spending.Total), stable's counts as they are; -1 when not even all
	// of them: the window cannot judge the canary, and a step's end is
	// inconclusive.
	StepErrorsNeeded int64 `json:"step_errors_needed"`
}

// Latency is the latency test: the canary is slower than stable by more
// than MarginPercent at this look when PValue ≤ Alpha.
type Latency struct {
	stats.LatencyEvidence
	// MarginPercent is the settings' margin, as the policy's threshold
	// gives it (Margin is the same as a fraction).
	MarginPercent float64 `json:"margin_percent"`
	// WarmupSeconds is the step's warm-up (Step.Warmup): the request times
	// compared (and those the P99 limit is bounded from) are the ones nginx
	// logged from that long after the step began, once a look's worth of
	// them has been (Step.Timed).
	WarmupSeconds float64 `json:"warmup_seconds"`
}

// ErrorLimit bounds the canary's error rate from below.
type ErrorLimit struct {
	Alpha float64 `json:"alpha"`
	// LowerPercent is a lower bound of the canary's error rate, in percent,
	// with confidence 1 - Alpha (Wilson's score interval, one-sided): 0
	// without requests or without alpha to spend.
	LowerPercent float64 `json:"lower_percent"`
}

// P99Limit bounds the canary's P99 from below.
type P99Limit struct {
	Alpha float64 `json:"alpha"`
	// LowerMs is a lower bound of the canary's P99, in milliseconds, with
	// confidence 1 - Alpha, from its sample (stats.QuantileLowerBound); 0
	// when the sample is too small for any.
	LowerMs float64 `json:"lower_ms"`
	// SampleN is how many request times it was computed from.
	SampleN int `json:"sample_n"`
}

// Look looks at the step after elapsed, the canary and stable as given,
// and spends each test's allowance for it.
func (st *Step) Look(elapsed time.Duration, canary, stable Build) (Evidence, error) {
	c := stats.Counts{Requests: canary.Requests, Errors: canary.Errors}
	s := stats.Counts{Requests: stable.Requests, Errors: stable.Errors}
	st.looks = append(st.looks, Look{Seconds: elapsed.Seconds(), Canary: c, Stable: s})
	if !st.Timed(elapsed) {
		canary.LatenciesMs, stable.LatenciesMs = nil, nil
	}
	spent := st.seq.Look(stats.InformationFraction(elapsed.Seconds(), st.planned.Seconds()))
	alpha := spent.Alpha
	e := Evidence{Confidence: st.settings.Confidence, Spending: spent,
		ErrorLimit: ErrorLimit{Alpha: alpha}, P99Limit: P99Limit{Alpha: alpha, SampleN: len(canary.LatenciesMs)}}
	var err error
	if e.Errors.ErrorEvidence, err = stats.CompareErrors(c, s, alpha, st.settings.Confidence); err != nil {
		return Evidence{}, err
	}
	if e.Errors.StepErrorsNeeded, err = stats.ErrorsNeeded(s, c.Requests, spent.Total); err != nil {
		return Evidence{}, err
	}
	e.Latency.MarginPercent = st.settings.MarginPercent
	e.Latency.WarmupSeconds = st.warmup.Seconds()
	if e.Latency.LatencyEvidence, err = stats.CompareLatency(seconds(canary.LatenciesMs), seconds(stable.LatenciesMs), alpha, st.settings.MarginPercent/100, Resolution.Seconds()); err != nil {
		return Evidence{}, err
	}
	lower, err := stats.WilsonLower(c, alpha)
	if err != nil {
		return Evidence{}, err
	}
	e.ErrorLimit.LowerPercent = 100 * lower
	if e.P99Limit.LowerMs, _, err = stats.QuantileLowerBound(canary.LatenciesMs, 0.99, alpha); err != nil {
		return Evidence{}, err
	}
	return e, nil
}

func seconds(ms []float64) []float64 {
	out := make([]float64, len(ms))
	for i, v := range ms {
		out[i] = v / 1000
	}
	return out
}
