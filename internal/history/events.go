package history

import (
	"encoding/json"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
)

// Event names: what the "event" of every history line says. The commands
// that write history (internal/stack) and the audit that reads it share
// them, so that an event cannot be spelled one way by a writer and another
// by the report.
const (
	EventSetup          = "setup"            // Setup
	EventInit           = "init"             // Init
	EventValidate       = "validate"         // Validate
	EventDeploy         = "deploy"           // Deploy
	EventDeployBlocked  = "deploy_blocked"   // Blocked
	EventPromote        = "promote"          // Promote
	EventPromoteBlocked = "promote_blocked"  // Blocked
	EventRollback       = "rollback"         // Rollback
	EventRecover        = "recover"          // Recover: a change a killed command left, finished or undone
	EventChaos          = "chaos"            // Chaos
	EventTeardown       = "teardown"         // Teardown
	EventAudit          = "audit"            // Audit
	EventReplay         = "replay"           // Replay
	EventPolicyDecision = "policy_decision"  // PolicyDecision
	EventStatusScrape   = "status_scrape"    // StatusScrape
	EventMetricsSample  = "metrics_sample"   // Sample
	EventError          = "error"            // CommandError: a command that failed before it could say what it was
	EventCertificate    = "edge_certificate" // Certificate: a certificate the edge serves, obtained, renewed or failed
	EventEdge           = "edge"             // Edge: the stack's host names joined or left the host's edge
)

// Release events.
const (
	// EventRelease is a release's start and its end: completed, aborted or
	// failed (ReleaseEvent).
	EventRelease = "release"
	// EventReleaseStep is one step's judgment (ReleaseStep).
	EventReleaseStep = "release_step"
)

// Outcome is how a command ended: every event may carry it. It is all a
// command records when it fails before it starts (it could not take the
// stack's lock), under the command's own name: deploy, promote, chaos...
type Outcome struct {
	Result string `json:"result"`          // ok, failed, denied, invalid or noop
	Error  string `json:"error,omitempty"` // why it failed
}

// Setup is the payload of EventSetup.
type Setup struct {
	Result         string  `json:"result"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Error          string  `json:"error,omitempty"`
}

// Init is the payload of EventInit: the generated files, from a manifest in
// Mode.
type Init struct {
	Result string   `json:"result"`
	Mode   string   `json:"mode,omitempty"` // absent when the manifest did not load
	Files  []string `json:"files"`
	Error  string   `json:"error,omitempty"`
}

// Validate is the payload of EventValidate. It carries no result: Failed says
// it all.
type Validate struct {
	Checks int      `json:"checks"`
	Failed []string `json:"failed"` // the names of the failed checks; null when none failed
}

// Deploy is the payload of EventDeploy.
type Deploy struct {
	Result string `json:"result"`
	Mode   string `json:"mode,omitempty"` // absent when the deploy failed
	// Release says a new build was released beside the running one (see
	// EventRelease) instead of the stack being started as the manifest says.
	Release        bool    `json:"release,omitempty"`
	ElapsedSeconds float64 `json:"elapsed_seconds,omitempty"`
	// Overridden says a break-glass override let the deploy through. Deploy
	// itself leaves it to its policy_decision; the audit marks a deploy line
	// that carries it.
	Overridden bool   `json:"overridden,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Blocked is the payload of EventDeployBlocked and EventPromoteBlocked: a
// policy denied the action, and nothing was changed.
type Blocked struct {
	From       string      `json:"from,omitempty"`   // promote_blocked: the mode switched from
	To         string      `json:"to,omitempty"`     // promote_blocked: the mode asked for
	Action     string      `json:"action,omitempty"` // promote_blocked: promote or rollback
	Domain     string      `json:"domain"`
	Violations []Violation `json:"violations"`
	// Decision, Reason and Message are where a block written by another
	// tool says why; the audit reads them when Violations is empty. No
	// SwiftDeploy command writes them.
	Decision *Decision `json:"decision,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// Promote is the payload of EventPromote, a switch from one mode to another.
type Promote struct {
	From string `json:"from,omitempty"` // absent when the manifest did not load
	To   string `json:"to"`
	// Overridden is there once the canary policy answered: whether a
	// break-glass override let the switch through.
	Overridden     *bool   `json:"overridden,omitempty"`
	Result         string  `json:"result"`
	ElapsedSeconds float64 `json:"elapsed_seconds,omitempty"`
	// Cost is what the switch cost clients; absent when no switch was
	// made (and in histories of SwiftDeploy before it measured it).
	Cost  *Cost  `json:"cost,omitempty"`
	Error string `json:"error,omitempty"`
}

// Rollback is the payload of EventRollback: a switch back to stable mode
// (From, To), back to the build a release replaced (the build fields), or the
// end of a release under way (Release).
type Rollback struct {
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	FromImage   string `json:"from_image,omitempty"`
	FromVersion string `json:"from_version,omitempty"`
	ToImage     string `json:"to_image,omitempty"`
	ToVersion   string `json:"to_version,omitempty"`
	// Release is "undone" (the release a killed command left was undone) or
	// "aborted" (the release under way was asked to abort and did).
	Release string `json:"release,omitempty"`
	// Overridden: as for Promote.
	Overridden     *bool   `json:"overridden,omitempty"`
	Result         string  `json:"result"`
	ElapsedSeconds float64 `json:"elapsed_seconds,omitempty"`
	// Cost: as for Promote.
	Cost  *Cost  `json:"cost,omitempty"`
	Error string `json:"error,omitempty"`
}

// Cost is what a change (a switch, a release) cost clients, from nginx's own
// log of every request during it: the requests nginx answered with a
// failure, and those that reached a build after its retirement began (nginx
// had been steered away from it, and it was about to stop). A zero-downtime
// change has 0 of both.
type Cost struct {
	Requests int `json:"requests"` // clients' requests nginx logged during the change
	// Failed are the requests nginx answered 502 or 504 (it could not get an
	// answer from a build) and those whose clients gave up (499); a build's
	// own errors, such as chaos's 500s, are not counted.
	Failed int `json:"failed"`
	// FailedByStatus counts Failed by status code ("502": 3).
	FailedByStatus map[string]int `json:"failed_by_status,omitempty"`
	// ReachedRetiring are the requests that reached a retiring build.
	ReachedRetiring int `json:"reached_retiring"`
	// Parts are the change's parts, each with its own figures: one switch,
	// or a release's steps and its takeover or abort.
	Parts []CostPart `json:"parts,omitempty"`
}

// CostPart is one part of a change and what it cost.
type CostPart struct {
	Part            string  `json:"part"`             // switch, step, takeover, abort or undo
	Step            int     `json:"step,omitempty"`   // 1-based, for a step
	Weight          int     `json:"weight,omitempty"` // the canary's share, for a step
	Seconds         float64 `json:"seconds"`
	Requests        int     `json:"requests"`
	Failed          int     `json:"failed"`
	ReachedRetiring int     `json:"reached_retiring"`
	// Retired are the builds the part retired, each from when nginx sent
	// it no new request on.
	Retired []Retired `json:"retired,omitempty"`
}

// Retired is a build a part of a change retired: its instances' addresses,
// and when its retirement began, in seconds from the part's start.
type Retired struct {
	Addresses    []string `json:"addresses"`
	AfterSeconds float64  `json:"after_seconds"`
}

// Recover is the payload of EventRecover: a switch or release that a killed
// command left half-done, and what the next command did with it.
type Recover struct {
	Action string `json:"action"` // promote, rollback or release
	From   string `json:"from"`   // modes for a switch, versions for a release
	To     string `json:"to"`
	Phase  string `json:"phase"`  // how far the killed command got
	PID    int    `json:"pid"`    // of the killed command
	Result string `json:"result"` // finished or undone
}

// Chaos is the payload of EventChaos: what was asked of the app's /chaos.
type Chaos struct {
	Mode     string   `json:"mode"`               // slow, error or recover
	Target   string   `json:"target,omitempty"`   // "release canary": the canary build of a release under way
	Duration *float64 `json:"duration,omitempty"` // seconds of delay, for slow
	Rate     *float64 `json:"rate,omitempty"`     // share of failed requests, 0 to 1, for error
	// Instances is how many instances it was posted to, when the app runs
	// more than one (or one that this host cannot reach).
	Instances *int   `json:"instances,omitempty"`
	Result    string `json:"result"`
	Error     string `json:"error,omitempty"`
}

// Certificate is the payload of EventCertificate: one host name's
// certificate, installed for the edge to serve (Result ok) or not obtained
// (failed: the edge serves the old one, if any, and Error says why).
type Certificate struct {
	Host   string `json:"host"`
	Source string `json:"source"`           // acme or files
	Action string `json:"action"`           // issue (a first one), renew (replacing one) or install (the operator's files)
	Forced bool   `json:"forced,omitempty"` // renewed on request, not because it was due
	// By is "renewer" for an order the edge's renewer made on its own, ""
	// for one a command made.
	By     string `json:"by,omitempty"`
	Result string `json:"result"`
	Issuer string `json:"issuer,omitempty"`
	Serial string `json:"serial,omitempty"`
	// NotAfter is when the installed certificate expires (RFC 3339).
	NotAfter string `json:"not_after,omitempty"`
	// Kept says what the edge serves after a failure: the old certificate
	// until it expires, or nothing for this name.
	Kept  string `json:"kept,omitempty"`
	Error string `json:"error,omitempty"`
}

// Edge is the payload of EventEdge: the stack's host names were routed to
// it by the host's edge (joined) or no longer are (left).
type Edge struct {
	Action    string   `json:"action"` // joined or left
	Hosts     []string `json:"hosts"`
	HTTPPort  int      `json:"http_port,omitempty"`
	HTTPSPort int      `json:"https_port,omitempty"`
	TLS       string   `json:"tls,omitempty"`
	// EdgeStarted and EdgeRemoved say the edge itself was started for this
	// stack (the first on the host) or removed with it (the last).
	EdgeStarted bool   `json:"edge_started,omitempty"`
	EdgeRemoved bool   `json:"edge_removed,omitempty"`
	Result      string `json:"result"`
	Error       string `json:"error,omitempty"`
}

// Teardown is the payload of EventTeardown.
type Teardown struct {
	Clean  bool   `json:"clean"` // the generated files were removed too
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// Audit is the payload of EventAudit: a report was written.
type Audit struct {
	Result  string `json:"result"`
	Events  int    `json:"events"`  // read from the history
	Skipped int    `json:"skipped"` // malformed lines
	Report  string `json:"report"`  // the report's file name
}

// Replay is the payload of EventReplay: the recorded release steps were
// re-judged under the policies as they are now (see internal/replay).
type Replay struct {
	Result   string `json:"result"`
	Releases int    `json:"releases"`
	Steps    int    `json:"steps"`
	Changed  int    `json:"changed"`  // steps whose verdict is another now
	Unjudged int    `json:"unjudged"` // steps recorded without evidence
	Error    string `json:"error,omitempty"`
}

// PolicyDecision is the payload of EventPolicyDecision: one question to a
// policy domain and its answer, or why there was none.
type PolicyDecision struct {
	Domain string `json:"domain"` // infrastructure, canary or release
	Action string `json:"action"` // what was asked about: deploy, promote, rollback, release
	// Input is what the policy was asked with, as internal/gate builds it
	// for the domain.
	Input    json.RawMessage `json:"input"`
	Decision *Decision       `json:"decision,omitempty"` // absent when the policy failed
	// Overridden is there with Decision: whether break-glass let a denied
	// action through.
	Overridden *bool  `json:"overridden,omitempty"`
	Error      string `json:"error,omitempty"` // why the policy gave no decision (the action failed closed)
}

// Decision is a policy's answer as history keeps it: policy.Decision's
// fields, spelled the same, so that reading a history needs no policy engine.
type Decision struct {
	Allow          bool           `json:"allow"`
	Domain         string         `json:"domain"`
	Checked        map[string]any `json:"checked"` // the input as the policy read it
	Violations     []Violation    `json:"violations"`
	Notes          []string       `json:"notes,omitempty"`
	Verdict        string         `json:"verdict,omitempty"` // a release step's promote, hold or abort
	Overridden     bool           `json:"overridden,omitempty"`
	OverrideReason string         `json:"override_reason,omitempty"`
	RetrySeconds   float64        `json:"retry_seconds,omitempty"`
}

// Violation is one rule a decision found broken, as policy.Violation.
type Violation struct {
	Rule     string `json:"rule"`
	Observed any    `json:"observed"` // usually a number; null when the input lacked it
	Limit    any    `json:"limit"`    // a number, or what was wanted ("a number")
	Message  string `json:"message"`
}

// StatusScrape is the payload of EventStatusScrape: one refresh of status.
type StatusScrape struct {
	Refresh
	// ReqPerSec is there with the window.
	ReqPerSec *float64 `json:"req_per_sec,omitempty"`
	// Sample is the scrape itself, for a later promote to measure its window
	// from; absent during a release, when it could come from either build.
	Sample *Sample `json:"sample,omitempty"`
	// Release is the release under way, as status showed it.
	Release *ReleaseView `json:"release,omitempty"`
}

// Refresh is what one status refresh measured, the part of a scrape a reader
// of a long history needs: decoding it alone leaves the rest unread.
type Refresh struct {
	Mode  string `json:"mode"`
	Chaos string `json:"chaos"`
	// Window is zero, and absent from the line, until status has two
	// scrapes; a measured window is never zero (one without traffic says
	// NoTraffic).
	Window metrics.Window `json:"window,omitzero"`
}

// Sample is one scrape of the app's /metrics as history stores it: the
// payload of EventMetricsSample (promote's own scrapes) and the sample of a
// StatusScrape.
type Sample struct {
	At            time.Time        `json:"at"`
	Requests      float64          `json:"requests"`
	Errors        float64          `json:"errors"`
	Buckets       []metrics.Bucket `json:"buckets"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Mode          float64          `json:"mode"`  // the app's mode gauge: 0 stable, 1 canary
	Chaos         float64          `json:"chaos"` // the app's chaos gauge: 0 none, 1 slow, 2 error
}

// ReleaseView is status's view of a release under way. Its keys are Go
// names: status recorded the dashboard's view, which has no JSON tags, and
// the lines written so read the same.
type ReleaseView struct {
	From          string      `json:"From"` // version
	To            string      `json:"To"`
	Phase         string      `json:"Phase"`
	Step          int         `json:"Step"` // 1-based
	Steps         int         `json:"Steps"`
	Weight        int         `json:"Weight"` // the canary's share, percent
	WindowSeconds float64     `json:"WindowSeconds"`
	Builds        []BuildView `json:"Builds"` // stable, then canary
}

// BuildView is one build's traffic in a ReleaseView, from nginx's log.
type BuildView struct {
	Side              string  `json:"Side"` // stable or canary
	Image             string  `json:"Image"`
	Version           string  `json:"Version"`
	Requests          int     `json:"Requests"`
	SmokeRequests     int     `json:"SmokeRequests,omitempty"` // of Requests, SwiftDeploy's own (rollout.smoke)
	RequestsPerSecond float64 `json:"RequestsPerSecond"`
	ErrorRatePercent  float64 `json:"ErrorRatePercent"`
	P99Ms             float64 `json:"P99Ms"`
}

// CommandError is the payload of EventError, which older SwiftDeploy versions
// wrote for a failed command; commands now record their own failure.
type CommandError struct {
	Command string `json:"command"`
	Message string `json:"message"`
}

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
	// Cost is what the release cost clients, at its end.
	Cost  *Cost  `json:"cost,omitempty"`
	Error string `json:"error,omitempty"`
}

// BuildFigures measure one build over a step's window.
type BuildFigures struct {
	Requests float64 `json:"requests"`
	// SmokeRequests is how many of Requests were SwiftDeploy's own
	// (rollout.smoke); the rest were users'.
	SmokeRequests    int     `json:"smoke_requests,omitempty"`
	ErrorRatePercent float64 `json:"error_rate_percent"`
	P99Ms            float64 `json:"p99_latency_ms"`
}

// ReleaseStep is the payload of EventReleaseStep: a step's judgment, by the
// look that decided it (an abort before the step's end, or the step's end),
// with what a later re-judgment needs: the evidence, every look's time and
// counts, and the request times the latency tests read.
type ReleaseStep struct {
	Step          int     `json:"step"` // 1-based
	Steps         int     `json:"steps"`
	Weight        int     `json:"weight"`
	Extension     int     `json:"extension,omitempty"`
	WindowSeconds float64 `json:"window_seconds"`
	// StepSeconds is the step's planned length (rollout.step_seconds), which
	// the looks' information fractions are of.
	StepSeconds float64 `json:"step_seconds,omitempty"`
	// Final says the step's time was up; an abort without it was an early
	// abort, at the look Evidence names.
	Final     bool          `json:"final,omitempty"`
	Verdict   string        `json:"verdict"` // promote, hold or abort
	Canary    BuildFigures  `json:"canary"`
	Stable    BuildFigures  `json:"stable"`
	CanaryApp *BuildFigures `json:"canary_app,omitempty"` // from its /metrics, when it has them
	StableApp *BuildFigures `json:"stable_app,omitempty"`
	Reasons   []string      `json:"reasons,omitempty"`
	// Notes are the decision's notes: the evidence in words.
	Notes []string `json:"notes,omitempty"`
	// Evidence is the deciding look's tests (internal/judge).
	Evidence *judge.Evidence `json:"evidence,omitempty"`
	// Looks are the step's looks up to the deciding one.
	Looks []judge.Look `json:"looks,omitempty"`
	// CanarySample and StableSample are the request times the deciding
	// look's latency tests read: a uniform sample of at most
	// routelog.SampleSize a build.
	CanarySample *judge.Sample `json:"canary_sample,omitempty"`
	StableSample *judge.Sample `json:"stable_sample,omitempty"`
	// FirstBadToVerdict is the time from the canary's first failed request
	// to an abort's verdict, in seconds (0: none failed, or no abort).
	FirstBadToVerdict float64 `json:"first_bad_to_verdict_seconds,omitempty"`
}

// Fields turns a payload struct into a map of the fields Append writes. Its
// nested objects come out with sorted keys, as the release events and
// promote's metrics samples have always been written.
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
