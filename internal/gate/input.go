package gate

import (
	"encoding/json"
	"math"

	"github.com/swiftdeploy/swiftdeploy/internal/judge"
)

// The input of every policy domain: the one place where what SwiftDeploy
// measured becomes what a policy in policies/ reads as `input`. Each field's
// key is the one the domain's Rego reads; a policy finds a key missing, or
// not a number, and fails closed, so a key spelled differently here denies.
// testdata/*.json pins the JSON of each.

// Infrastructure is the input of the infrastructure policy
// (policies/infrastructure.rego), asked before a deploy: whether this host has
// the room to run the stack.
type Infrastructure struct {
	// DiskFreeGB is the space free for Docker on the filesystem of its data
	// root, in GB of 10^9 bytes, against min_disk_free_gb.
	DiskFreeGB Number `json:"disk_free_gb"`
	// CPULoad1m is the 1-minute load average, against max_cpu_load_1m. Above
	// it alone, the decision says how long the host may be measured and
	// asked again (cpu_settle_seconds).
	CPULoad1m Number `json:"cpu_load_1m"`
	// MemFreePercent is the share of memory available (MemAvailable over
	// MemTotal), against min_mem_free_percent.
	MemFreePercent Number `json:"mem_free_percent"`
}

// Canary is the input of the canary policy (policies/canary.rego), asked
// before a promote or rollback switches the app's mode: what the service did
// over the last window, from its own /metrics or, when it has none or runs
// several instances, from nginx's access log.
type Canary struct {
	// CurrentMode is the mode the app runs in: stable or canary.
	CurrentMode string `json:"current_mode"`
	// TargetMode is the mode asked for (the current one, for a rollback to
	// the previous build).
	TargetMode string `json:"target_mode"`
	// Action is promote or rollback. A rollback is the emergency path:
	// allowed whatever the figures, which it reports as notes.
	Action string `json:"action"`
	// WindowSeconds is how long the window measured; the policy falls back
	// to its window_seconds threshold when it is not a number.
	WindowSeconds Number `json:"window_seconds"`
	// Requests is the application requests of the window (probes and the
	// tool's own calls excluded), against min_requests.
	Requests Number `json:"requests"`
	// ErrorRatePercent is the share of requests answered with a 5xx, against
	// max_error_rate_percent. Read only when there was traffic.
	ErrorRatePercent Number `json:"error_rate_percent"`
	// P99Ms is the 99th percentile of the latency, in milliseconds, against
	// max_p99_latency_ms. Read only when there was traffic.
	P99Ms Number `json:"p99_latency_ms"`
	// NoTraffic says the window held no request: its rate and P99 are 0
	// because there was nothing to measure, and the policy allows with a note
	// (unless min_requests asks for traffic).
	NoTraffic bool `json:"no_traffic"`
}

// ReleaseStep is the input of the release policy (policies/release.rego),
// asked at each look at a step of a canary release (every look_seconds):
// the new build and the one serving before it, measured side by side over
// the step's window so far, and the evidence of the statistical tests that
// compare them. Before the step's end (Final false) a look ends the step only
// to abort, and its verdict is otherwise hold (the step runs on); at the end
// it is promote, hold (inconclusive: the step runs step_seconds longer) or
// abort.
type ReleaseStep struct {
	// WindowSeconds is how long the step's window has measured so far; it
	// grows with each extension, the requests already seen counting with
	// the new ones.
	WindowSeconds Number `json:"window_seconds"`
	// Weight is the canary's share of requests in this step, in percent. At
	// 100 stable serves no request, and the comparisons are not applied.
	Weight int `json:"weight"`
	// Extensions is how many times the step was extended as inconclusive,
	// against max_inconclusive_extensions.
	Extensions int `json:"extensions"`
	// Step and Steps place the step in the release (1-based). The shipped
	// policy does not read them; the decision records them.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Final says the step's time (with its extensions so far) is up: this
	// look promotes, holds or aborts, and the absolute limits are the plain
	// comparisons of what was measured. Before it they abort only when the
	// evidence's lower bounds are above them.
	Final bool `json:"final"`
	// Canary is the new build, judged against the limits and against Stable,
	// the build serving before it.
	Canary Build `json:"canary"`
	Stable Build `json:"stable"`
	// Evidence is this look's tests, each at the nominal level the alpha
	// spending rule leaves it (internal/judge): errors and latency against
	// stable, and lower bounds of the canary's error rate and P99 for the
	// limits. Its confidence is the release policy's own.
	Evidence judge.Evidence `json:"evidence"`
}

// Build is one build's figures in a release step. Its Figures are nginx's
// view, what clients saw: status codes, with the 502/504 nginx answered when
// it could not reach the build, and upstream time.
type Build struct {
	Figures
	// App is the build's own view, from its instances' /metrics; absent when
	// it has none, and the policy then judges from nginx alone and notes it.
	// It is measured over the whole window at a step's end, and absent before.
	App *Figures `json:"app,omitempty"`
}

// Figures measure a build over a window, from one view.
type Figures struct {
	// Requests is how many requests the build was asked to answer.
	Requests Number `json:"requests"`
	// ErrorRatePercent is the share that failed, against
	// max_error_rate_percent at a step's end.
	ErrorRatePercent Number `json:"error_rate_percent"`
	// P99Ms is the 99th percentile of the latency in milliseconds, against
	// max_p99_latency_ms at a step's end.
	P99Ms Number `json:"p99_latency_ms"`
}

// Number is a measured figure as a policy reads it: a JSON number, or null
// when the figure is not finite (a NaN a kernel file or a scrape can hold),
// which JSON cannot carry and which the policy then reports missing instead
// of comparing it.
type Number float64

// MarshalJSON writes n as encoding/json writes a float64, or null.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}
