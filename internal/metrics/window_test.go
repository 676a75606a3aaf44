package metrics

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"
)

var inf = math.Inf(+1)

// closeTo compares floats that went through an inexact decimal step such as 0.99 × 16.
func closeTo(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func TestWindowMeasuresErrorRateBetweenScrapesNotSinceStart(t *testing.T) {
	// Cumulative since start the error rate is 303/1290 = 23.5 % (and 300/1090 = 27.5 % before);
	// the window holds only what happened in the 30 s between the scrapes.
	checkWindow(t, windowBetween(t, "window_prev.prom", "window_cur.prom"), Window{
		Seconds: 30,
		// App requests: 1290 − 1090 (700+300+40+50) = 200.
		Requests: 200,
		// 5xx: (302+1) − 300 = 3.
		Errors: 3,
		// 100 × 3 ÷ 200 = 1.5 %.
		ErrorRatePercent: 1.5,
		// Window buckets: cur − prev = 410−390=20, 750−690=60, 1010−890=120, 1150−990=160,
		// 1220−1040=180, 1260−1070=190, 1275−1080=195, 1285−1086=199, 1289−1089=200, …, +Inf 200.
		// rank = 0.99 × 200 = 198, first bucket with count ≥ 198 is (0.5, 1] holding 199 − 195 = 4;
		// P99 = 0.5 + (1 − 0.5) × (198 − 195) ÷ 4 = 0.875 s = 875 ms.
		// The /metrics scrape that took 5–10 s in the window is not application traffic.
		P99Ms: 875,
	})
}

func TestWindowIgnoresHealthzMetricsAndChaosTraffic(t *testing.T) {
	// Between the two scrapes only /healthz (+10), /metrics (+1) and POST /chaos (+2, both slow) moved.
	checkWindow(t, windowBetween(t, "window_cur.prom", "idle.prom"), Window{Seconds: 30, NoTraffic: true})
}

func TestWindowAfterACounterResetCountsOnlyTheNewProcess(t *testing.T) {
	// Uptime 150.5 → 3.2 and every count lower: the earlier scrape counts as zero.
	// Requests 15 + 1 = 16, errors 1, 100 × 1 ÷ 16 = 6.25 %.
	// rank = 0.99 × 16 = 15.84; buckets …, 0.25: 15, 0.5: 16 → (0.25, 0.5] holds 1;
	// P99 = 0.25 + 0.25 × (15.84 − 15) ÷ 1 = 0.46 s = 460 ms.
	checkWindow(t, windowBetween(t, "window_cur.prom", "restarted.prom"),
		Window{Seconds: 30, Requests: 16, Errors: 1, ErrorRatePercent: 6.25, P99Ms: 460, Reset: true})
}

// windowBetween computes the window between two fixture scrapes taken 30 s apart.
func windowBetween(t *testing.T, prevFixture, curFixture string) Window {
	t.Helper()
	return Compute(parseFixture(t, prevFixture, t0), parseFixture(t, curFixture, t0.Add(30*time.Second)))
}

// checkWindow compares windows exactly, except P99, which may carry rounding from q × total.
func checkWindow(t *testing.T, got, want Window) {
	t.Helper()
	if !closeTo(got.P99Ms, want.P99Ms) {
		t.Errorf("P99Ms = %v, want %v", got.P99Ms, want.P99Ms)
	}
	got.P99Ms = want.P99Ms
	if got != want {
		t.Errorf("Compute =\n%+v\nwant\n%+v", got, want)
	}
}

func TestWindowDetectsEveryKindOfCounterReset(t *testing.T) {
	prev := Sample{At: t0, Requests: 100, Errors: 10, UptimeSeconds: 600,
		Buckets: []Bucket{{0.1, 50}, {1, 100}, {inf, 100}}}
	cases := []struct {
		name      string
		cur       Sample
		wantReset bool
		wantReqs  float64
	}{
		{"counts grew", Sample{Requests: 110, Errors: 10, UptimeSeconds: 630,
			Buckets: []Bucket{{0.1, 60}, {1, 110}, {inf, 110}}}, false, 10},
		// A new process that already served more than the old one: only its uptime tells.
		{"uptime went back", Sample{Requests: 150, Errors: 12, UptimeSeconds: 20,
			Buckets: []Bucket{{0.1, 70}, {1, 150}, {inf, 150}}}, true, 150},
		{"requests went down", Sample{Requests: 90, Errors: 10, UptimeSeconds: 630,
			Buckets: []Bucket{{0.1, 50}, {1, 100}, {inf, 100}}}, true, 90},
		{"errors went down", Sample{Requests: 110, Errors: 5, UptimeSeconds: 630,
			Buckets: []Bucket{{0.1, 60}, {1, 110}, {inf, 110}}}, true, 110},
		// 100 − 10 = 90 successes before, 105 − 20 = 85 after: some series restarted.
		{"successes went down", Sample{Requests: 105, Errors: 20, UptimeSeconds: 630,
			Buckets: []Bucket{{0.1, 55}, {1, 105}, {inf, 105}}}, true, 105},
		{"a bucket went down", Sample{Requests: 110, Errors: 10, UptimeSeconds: 630,
			Buckets: []Bucket{{0.1, 40}, {1, 110}, {inf, 110}}}, true, 110},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cur.At = t0.Add(30 * time.Second)
			got := Compute(prev, c.cur)
			if got.Reset != c.wantReset || got.Requests != c.wantReqs {
				t.Errorf("Reset, Requests = %v, %v; want %v, %v", got.Reset, got.Requests, c.wantReset, c.wantReqs)
			}
		})
	}
}

func TestWindowWithoutRequestsIsNoTrafficEvenAcrossAReset(t *testing.T) {
	prev := Sample{At: t0, Requests: 100, Errors: 50, UptimeSeconds: 600, Buckets: withDefaultBounds(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)}
	cur := Sample{At: t0.Add(5 * time.Second), UptimeSeconds: 2}
	got := Compute(prev, cur)
	want := Window{Seconds: 5, NoTraffic: true, Reset: true}
	if got != want {
		t.Errorf("Compute = %+v, want %+v", got, want)
	}
}

func TestSampleSurvivesAJSONRoundTripWithItsInfBucket(t *testing.T) {
	s := Sample{At: t0, Requests: 3, Buckets: []Bucket{{0.25, 2}, {inf, 3}}}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Sample
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Buckets, s.Buckets) || !back.At.Equal(s.At) || back.Requests != 3 {
		t.Errorf("round trip of %s gave %+v", data, back)
	}
	if err := json.Unmarshal([]byte(`{"le":"fast","count":1}`), &Bucket{}); err == nil {
		t.Error("a bucket with le \"fast\" decoded")
	}
}
