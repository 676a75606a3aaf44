// Package manifest loads manifest.yaml, the only file an operator edits, and
// rewrites its services.mode value in place.
//
// Loading is strict: unknown keys, wrong types, out-of-range values and missing
// required fields are all reported at once, each citing FILE:LINE:COL and the
// field path, in one *Error that wraps fail.ErrInvalid.
//
// Choices where YAML leaves room:
//   - String fields take an unquoted number as its literal text, so
//     `version: 1.10` means "1.10" (not the float 1.1); booleans, nulls and
//     collections are refused. Integer fields refuse quoted numbers and floats.
//   - An empty `contact:` is "", an empty `policy:` or policy domain has no
//     overrides, and an empty section such as `nginx:` lists its missing fields.
//   - network.driver_type is one Compose can create a network with: bridge,
//     overlay, macvlan or ipvlan. contact may not hold characters that need
//     escaping in nginx config or JSON (quotes, backslash, $, ;, braces).
//   - Anchors are allowed, aliases are not: every value is written out.
package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// The two modes the service runs in.
const (
	ModeStable = "stable"
	ModeCanary = "canary"
)

// Defaults for the optional fields.
const (
	DefaultMode          = ModeStable
	DefaultVersion       = "1.0.0"
	DefaultRestartPolicy = "unless-stopped"
	DefaultLogVolume     = "swiftdeploy-logs"
	DefaultProxyTimeout  = 30
	DefaultStreamTimeout = 3600
	DefaultMaxBodyMB     = 1
	DefaultHealthPath    = "/healthz"
	DefaultUser          = "10001:10001"
)

// How a new build reaches traffic (the manifest's rollout section).
const (
	StrategyCanary = "canary" // step by step beside the running build, each step judged
	StrategySwitch = "switch" // all at once, by the zero-failure path of promote
)

// Where a stack runs (the manifest's runtime).
const (
	RuntimeCompose = "compose" // Docker Compose on this host
	RuntimeSwarm   = "swarm"   // Docker Swarm: this engine as a manager, tasks on its nodes
)

// Rollout defaults.
var DefaultSteps = []int{10, 25, 50, 100}

const DefaultStepSeconds = 30

// Manifest is a loaded, validated manifest.yaml with defaults applied.
type Manifest struct {
	Services Services
	Nginx    Nginx
	Network  Network
	Contact  string
	// Runtime is RuntimeCompose or RuntimeSwarm.
	Runtime string
	Rollout Rollout
	// Edge is the host's edge serving this stack by name over HTTPS; nil
	// when the manifest has no edge section (the stack serves nginx.port).
	Edge *Edge
	// Policy holds optional per-domain threshold overrides, for example
	// Policy["canary"]["max_error_rate_percent"]: each a float64, or a
	// string for a threshold that names something (alpha_spending: pocock).
	// It is nil when the manifest has none.
	Policy map[string]map[string]any
}

// Services describes the application container.
type Services struct {
	Image         string
	Port          int
	Mode          string
	Version       string
	RestartPolicy string
	LogVolume     string
	// HealthPath is the path the app answers with a 2xx when it is healthy.
	HealthPath string
	// User runs the app ("uid:gid" or a name the image knows); ReadOnly
	// keeps its root filesystem read-only. Hardening is the default.
	User     string
	ReadOnly bool
	// EnvFile is a file of KEY=value lines, relative to the project folder,
	// whose variables the app gets; "" for none. Its values are never read
	// or recorded by SwiftDeploy.
	EnvFile string
	// Replicas is how many tasks of the app swarm runs (1 on compose).
	Replicas int
}

// Rollout says how a release (a changed image or version on a running stack)
// reaches traffic.
type Rollout struct {
	Strategy    string // StrategyCanary or StrategySwitch
	Steps       []int  // percent of requests the new build gets at each step, rising, ending at 100
	StepSeconds int    // how long each step runs before it is judged
	Sticky      bool   // a client stays on one build for the whole release (a cookie)
	// Smoke is traffic SwiftDeploy sends each build itself during a step,
	// so that a quiet service's steps have requests to judge; nil for none.
	Smoke *Smoke
}

// Build is what a release changes: the image and the version it is told.
type Build struct {
	Image   string `json:"image"`
	Version string `json:"version"`
}

// String names a build for messages: "app:1.1 (version 1.1.0)".
func (b Build) String() string { return b.Image + " (version " + b.Version + ")" }

// Build is the build the manifest asks for.
func (m *Manifest) Build() Build { return Build{Image: m.Services.Image, Version: m.Services.Version} }

// WithBuild returns a copy of m that runs b.
func (m *Manifest) WithBuild(b Build) *Manifest {
	c := *m
	c.Services.Image, c.Services.Version = b.Image, b.Version
	return &c
}

// Nginx describes the reverse proxy in front of the application.
type Nginx struct {
	Image        string
	Port         int
	ProxyTimeout int // seconds
	// StreamTimeout is how long, in seconds, an upgraded connection (a
	// WebSocket) or a stream (Server-Sent Events) may stay idle; ordinary
	// requests keep ProxyTimeout.
	StreamTimeout int
	// MaxBodyMB is the largest request body nginx passes on, in megabytes
	// (MiB, as nginx counts them); 0 sets no limit. See StreamsLargeBodies.
	MaxBodyMB int
	// PublicAdminPaths says whether the public port also serves the app's
	// /chaos and /metrics (the demo service's fault injection and its
	// counters). SwiftDeploy itself reaches them on nginx's admin listener,
	// published on the host's loopback only, whatever this says.
	PublicAdminPaths bool
}

// StreamsLargeBodies says whether nginx passes a body of a million bytes or
// more, or of unknown length, to the app as it arrives instead of holding
// it: whenever the limit is not nginx's own 1 MB, which its in-memory buffer
// holds whole.
func (n Nginx) StreamsLargeBodies() bool { return n.MaxBodyMB != DefaultMaxBodyMB }

// Network describes the Docker network the stack runs on.
type Network struct {
	Name       string
	DriverType string
}

// ValidMode reports whether mode is one the service can run in.
func ValidMode(mode string) bool {
	return mode == ModeStable || mode == ModeCanary
}

// Load reads and parses the manifest at path. A missing file is invalid input;
// other read failures are operational errors.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return Parse(filepath.Base(path), data) // messages cite manifest.yaml:LINE:COL, as the operator sees it
}

// Parse validates data as a manifest; name is the file name used in messages.
// Any error is an *Error listing every problem found.
func Parse(name string, data []byte) (*Manifest, error) {
	m, _, err := parse(name, data)
	return m, err
}

func notFound(path string) error {
	return fmt.Errorf("%w: %s does not exist: create it (see the manifest section of the README)", fail.ErrInvalid, path)
}
