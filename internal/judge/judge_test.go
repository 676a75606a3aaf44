package judge

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/stats"
)

// shipped are the release thresholds of policies/data.json.
var shipped = map[string]any{"confidence": 0.95, "alpha_spending": "pocock", "look_seconds": 1.0, "max_inconclusive_extensions": 2.0, "latency_margin_percent": 10.0,
	"latency_warmup_seconds": 2.0, "max_error_rate_percent": 1.0, "max_p99_latency_ms": 500.0}

func settings(t *testing.T) Settings {
	t.Helper()
	s, err := SettingsFrom(shipped)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheShippedThresholdsGiveTheSettings(t *testing.T) {
	s := settings(t)
	want := Settings{Confidence: 0.95, Spending: stats.SpendingPocock, Look: time.Second, Extensions: 2, MarginPercent: 10, Warmup: 2 * time.Second}
	if s != want {
		t.Errorf("settings %+v, want %+v", s, want)
	}
	if got := s.PerTest(); math.Abs(got-0.0125) > 1e-15 {
		t.Errorf("each test's level %v, want a quarter of 0.05", got)
	}
}

func TestBadSettingsAreNamedAllAtOnce(t *testing.T) {
	_, err := SettingsFrom(map[string]any{"confidence": 1.0, "alpha_spending": "haybittle", "look_seconds": "1", "max_inconclusive_extensions": 1.5, "latency_margin_percent": -5.0, "latency_warmup_seconds": 601.0})
	if !errors.Is(err, ErrSettings) {
		t.Fatalf("err = %v, want ErrSettings", err)
	}
	for _, want := range []string{"confidence 1 is not in [0.5, 1)", `alpha_spending "haybittle" is none of pocock, obrien_fleming`,
		"look_seconds is missing or not a number", "max_inconclusive_extensions 1.5 is not a whole number", "latency_margin_percent -5 is not between 0 and 1000",
		"latency_warmup_seconds 601 is not between 0 and 600"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say %q", err, want)
		}
	}
}

// ms is n request times of ms milliseconds each.
func ms(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// mixed is n request times spread over 1..5 ms.
func mixed(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(1 + i%5)
	}
	return out
}

func TestACanaryFailingHalfItsRequestsIsShownWorseAtTheFirstLook(t *testing.T) {
	st, err := NewStep(settings(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.Look(time.Second, Build{Requests: 300, Errors: 150, LatenciesMs: mixed(300)}, Build{Requests: 2700, LatenciesMs: mixed(2700)})
	if err != nil {
		t.Fatal(err)
	}
	// Pocock's α(t) = α·ln(1 + (e-1)·t) at t = 1 s of 90 (30 s and two
	// extensions planned), α = 0.0125.
	alpha := 0.0125 * math.Log1p((math.E-1)/90)
	if math.Abs(e.Errors.Alpha-alpha) > 1e-15 || e.Spending.Look != 1 || math.Abs(e.Spending.Fraction-1.0/90) > 1e-15 {
		t.Errorf("look %d at fraction %v spent %v, want look 1 at 1/90 spending %v", e.Spending.Look, e.Spending.Fraction, e.Errors.Alpha, alpha)
	}
	if e.Latency.Alpha != e.Errors.Alpha || e.ErrorLimit.Alpha != e.Errors.Alpha || e.P99Limit.Alpha != e.Errors.Alpha {
		t.Errorf("the tests were judged at different levels: %+v", e)
	}
	if !(e.Errors.PValue <= e.Errors.Alpha) || e.Errors.DifferencePoints.Lower < 40 {
		t.Errorf("half the canary's requests failing: p = %g against α %g, difference %+v; want significant, at least 40 points", e.Errors.PValue, e.Errors.Alpha, e.Errors.DifferencePoints)
	}
	if e.ErrorLimit.LowerPercent < 40 {
		t.Errorf("the error rate's lower bound is %v%%, want above 40%%", e.ErrorLimit.LowerPercent)
	}
	if e.Latency.PValue <= e.Latency.Alpha {
		t.Errorf("the canary's times are stable's, yet the latency test says slower (p = %g)", e.Latency.PValue)
	}
}

func TestACanaryLikeStableIsNotShownWorse(t *testing.T) {
	st, _ := NewStep(settings(t), 30*time.Second)
	e, err := st.Look(10*time.Second, Build{Requests: 3000, Errors: 3, LatenciesMs: mixed(3000)}, Build{Requests: 27000, Errors: 27, LatenciesMs: mixed(4096)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Errors.PValue <= e.Errors.Alpha || e.Latency.PValue <= e.Latency.Alpha || e.ErrorLimit.LowerPercent > 1 || e.P99Limit.LowerMs > 5 {
		t.Errorf("a canary like stable: %+v", e)
	}
	if e.Errors.StepErrorsNeeded < 0 {
		t.Error("3000 canary requests against 27000 could not show a failing canary worse")
	}
}

func TestASlowerCanaryIsShownSlower(t *testing.T) {
	st, _ := NewStep(settings(t), 30*time.Second)
	e, err := st.Look(3*time.Second, Build{Requests: 500, LatenciesMs: ms(500, 30)}, Build{Requests: 4500, LatenciesMs: mixed(4096)})
	if err != nil {
		t.Fatal(err)
	}
	if !(e.Latency.PValue <= e.Latency.Alpha) || e.Latency.CanaryMedianMs != 30 || e.Latency.ProbabilitySlower != 1 || e.Latency.MarginPercent != 10 {
		t.Errorf("every canary request at 30 ms against 1-5 ms: %+v", e.Latency)
	}
	if e.P99Limit.LowerMs != 30 || e.P99Limit.SampleN != 500 {
		t.Errorf("the P99's lower bound is %v ms of %d times, want 30 of 500", e.P99Limit.LowerMs, e.P99Limit.SampleN)
	}
}

func TestOneSlowRequestOrOneFailureDoesNotBoundTheCanaryAboveTheLimits(t *testing.T) {
	st, _ := NewStep(settings(t), 30*time.Second)
	times := append(ms(29, 2), 900)
	e, err := st.Look(time.Second, Build{Requests: 30, Errors: 1, LatenciesMs: times}, Build{Requests: 270, LatenciesMs: mixed(270)})
	if err != nil {
		t.Fatal(err)
	}
	if e.ErrorLimit.LowerPercent > 1 || e.P99Limit.LowerMs > 500 {
		t.Errorf("1 failure and 1 slow request of 30: error rate at least %v%%, P99 at least %v ms; want neither above the limits", e.ErrorLimit.LowerPercent, e.P99Limit.LowerMs)
	}
}

func TestAQuietWindowCannotJudgeTheCanary(t *testing.T) {
	st, _ := NewStep(settings(t), 30*time.Second)
	e, err := st.Look(30*time.Second, Build{Requests: 1, LatenciesMs: ms(1, 2)}, Build{Requests: 10, LatenciesMs: mixed(10)})
	if err != nil {
		t.Fatal(err)
	}
	// Even one failure in 1 against none in 10: p = 1/11.
	if e.Errors.StepErrorsNeeded != -1 {
		t.Errorf("1 canary request against 10: %d errors needed, want -1 (none would do)", e.Errors.StepErrorsNeeded)
	}
}

func TestTheLooksSpendEachTestsLevelAndNoMore(t *testing.T) {
	for _, kind := range []string{stats.SpendingPocock, stats.SpendingOBrienFleming} {
		s := settings(t)
		s.Spending = kind
		st, _ := NewStep(s, 30*time.Second)
		sum := 0.0
		for sec := 1; sec <= 90; sec++ {
			e, err := st.Look(time.Duration(sec)*time.Second, Build{Requests: int64(10 * sec)}, Build{Requests: int64(90 * sec)})
			if err != nil {
				t.Fatal(err)
			}
			sum += e.Errors.Alpha
			if sec == 30 && !(e.Spending.Spent < s.PerTest()) {
				t.Errorf("%s: the step's end without extension spent all %v", kind, e.Spending.Spent)
			}
		}
		if math.Abs(sum-s.PerTest()) > 1e-12 {
			t.Errorf("%s: 90 looks spent %v, want %v", kind, sum, s.PerTest())
		}
		if looks := st.Looks(); len(looks) != 90 || looks[89].Seconds != 90 || looks[89].Canary.Requests != 900 {
			t.Errorf("%s: the looks recorded end %+v", kind, looks[len(looks)-1])
		}
	}
}

func TestASampleRoundTripsThroughItsRecord(t *testing.T) {
	times := []float64{3, 1, 2, 1, 1, 900}
	s := SampleOf(times)
	if !slices.Equal(s.Ms, []float64{1, 2, 3, 900}) || !slices.Equal(s.N, []int{3, 1, 1, 1}) {
		t.Errorf("record %+v", s)
	}
	if got := s.Expand(); !slices.Equal(got, []float64{1, 1, 1, 2, 3, 900}) {
		t.Errorf("expanded %v", got)
	}
	if !slices.Equal(times, []float64{3, 1, 2, 1, 1, 900}) {
		t.Errorf("the times changed to %v", times)
	}
	if got := (Sample{Ms: []float64{5}, N: []int{1 << 40}}).Expand(); len(got) != maxExpand {
		t.Errorf("a count of 2^40 expanded to %d times, want at most %d", len(got), maxExpand)
	}
}

func TestACanaryALittleSlowerThanStableIsWithinTheMargin(t *testing.T) {
	st, _ := NewStep(settings(t), 30*time.Second)
	slightly := make([]float64, 4096)
	for i := range slightly {
		slightly[i] = 1.05 * float64(1+i%5)
	}
	e, err := st.Look(10*time.Second, Build{Requests: 4096, LatenciesMs: slightly}, Build{Requests: 40000, LatenciesMs: mixed(4096)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Latency.PValue <= e.Latency.Alpha {
		t.Errorf("every canary request 5%% slower, within the 10%% margin: p = %g ≤ α %g", e.Latency.PValue, e.Latency.Alpha)
	}
}

func TestAStepTakesAtMostHalfItsLengthAsWarmUp(t *testing.T) {
	s := settings(t)
	for _, c := range []struct{ step, want time.Duration }{
		{30 * time.Second, 2 * time.Second},
		{4 * time.Second, 2 * time.Second},
		{3 * time.Second, 1500 * time.Millisecond},
		{time.Second, 500 * time.Millisecond},
	} {
		st, err := NewStep(s, c.step)
		if err != nil {
			t.Fatal(err)
		}
		e, err := st.Look(c.step/4, Build{Requests: 10}, Build{Requests: 90})
		if err != nil {
			t.Fatal(err)
		}
		if st.Warmup() != c.want || e.Latency.WarmupSeconds != c.want.Seconds() {
			t.Errorf("a %s step: warm-up %s, evidence says %vs; want %s", c.step, st.Warmup(), e.Latency.WarmupSeconds, c.want)
		}
	}
	s.Warmup = 0
	if st, _ := NewStep(s, 30*time.Second); st.Warmup() != 0 {
		t.Errorf("latency_warmup_seconds 0 gives a %s warm-up, want none", st.Warmup())
	}
}

// Request times are compared once a whole look's worth of them follows the
// warm-up, or at the step's end: the first tenth of a second after it
// shares one moment of the host's.
func TestRequestTimesAreComparedOnceALooksWorthFollowsTheWarmUp(t *testing.T) {
	slow, fast := Build{Requests: 44, LatenciesMs: ms(44, 30)}, Build{Requests: 46, LatenciesMs: ms(46, 2)}
	for _, c := range []struct {
		step, at time.Duration
		timed    bool
	}{
		{4 * time.Second, 2100 * time.Millisecond, false},
		{4 * time.Second, 2900 * time.Millisecond, false},
		{4 * time.Second, 3 * time.Second, true},
		{4 * time.Second, 4 * time.Second, true},
		// A 1 s step: half of it is warm-up, and its end is judged.
		{time.Second, time.Second, true},
	} {
		st, _ := NewStep(settings(t), c.step)
		e, err := st.Look(c.at, slow, fast)
		if err != nil {
			t.Fatal(err)
		}
		shown := e.Latency.PValue <= e.Latency.Alpha
		if st.Timed(c.at) != c.timed || shown != c.timed || (e.P99Limit.SampleN > 0) != c.timed {
			t.Errorf("a %s step at %s: timed %v, a canary 15 times slower shown slower %v (p = %v), P99 bound of %d times; want %v",
				c.step, c.at, st.Timed(c.at), shown, e.Latency.PValue, e.P99Limit.SampleN, c.timed)
		}
	}
}
