package history

import "encoding/json"

// Event names: what the "event" of every history line says. The commands
// that write history (internal/stack) and the audit that reads it share
// them, so that an event cannot be spelled one way by a writer and another
// by the report.
const (
	EventSetup          = "setup"
	EventInit           = "init"
	EventValidate       = "validate"
	EventDeploy         = "deploy"
	EventDeployBlocked  = "deploy_blocked"
	EventPromote        = "promote"
	EventPromoteBlocked = "promote_blocked"
	EventRollback       = "rollback"
	EventRecover        = "recover" // a switch a killed command left, finished or undone
	EventChaos          = "chaos"
	EventTeardown       = "teardown"
	EventAudit          = "audit"
	EventPolicyDecision = "policy_decision"
	EventStatusScrape   = "status_scrape"
	EventMetricsSample  = "metrics_sample"
	EventError          = "error" // a command that failed before it could say what it was
)

// Release events.
const (
	// EventRelease is a release's start and its end: completed, aborted or
	// failed (ReleaseEvent).
	EventRelease = "release"
	// EventReleaseStep is one step's judgment (ReleaseStep).
	EventReleaseStep = "release_step"
)

// Results of a release (ReleaseEvent.Result).
const (
	ReleaseStarted   = "started"
	ReleaseCompleted = "completed"
	ReleaseAborted   = "aborted"
	ReleaseFailed    = "error"
)

// ReleaseEvent is the payload of EventRelease.
type ReleaseEvent struct {
	Result      string   `json:"result"`
	Strategy    string   `json:"strategy"`
	FromImage   string   `json:"from_image"`
	FromVersion string   `json:"from_version"`
	ToImage     string   `json:"to_image"`
	ToVersion   string   `json:"to_version"`
	Steps       []int    `json:"steps,omitempty"`
	Step        int      `json:"step,omitempty"`   // 1-based step the release ended at
	Weight      int      `json:"weight,omitempty"` // the canary's share then
	Reasons     []string `json:"reasons,omitempty"`
	Elapsed     float64  `json:"elapsed_seconds,omitempty"`
	// FirstBadToAbort is the time from the first failed canary request
	// nginx logged to the canary's weight being 0, for an abort.
	FirstBadToAbort float64 `json:"first_bad_to_abort_seconds,omitempty"`
	Error           string  `json:"error,omitempty"`
}

// BuildFigures measure one build over a step's window.
type BuildFigures struct {
	Requests         float64 `json:"requests"`
	ErrorRatePercent float64 `json:"error_rate_percent"`
	P99Ms            float64 `json:"p99_latency_ms"`
}

// ReleaseStep is the payload of EventReleaseStep.
type ReleaseStep struct {
	Step          int           `json:"step"` // 1-based
	Steps         int           `json:"steps"`
	Weight        int           `json:"weight"`
	Extension     int           `json:"extension,omitempty"`
	WindowSeconds float64       `json:"window_seconds"`
	Verdict       string        `json:"verdict"` // promote, hold or abort
	Canary        BuildFigures  `json:"canary"`
	Stable        BuildFigures  `json:"stable"`
	CanaryApp     *BuildFigures `json:"canary_app,omitempty"` // from its /metrics, when it has them
	StableApp     *BuildFigures `json:"stable_app,omitempty"`
	Reasons       []string      `json:"reasons,omitempty"`
}

// Fields turns a payload struct into the fields Append writes, so that
// writers and readers share one spelling of every key.
func Fields(payload any) map[string]any {
	data, err := json.Marshal(payload)
	if err != nil {
		return map[string]any{"encode_error": err.Error()}
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return map[string]any{"encode_error": err.Error()}
	}
	return out
}
