// Package stack orders the steps of every SwiftDeploy command: it loads the
// manifest, renders the generated files, asks the policies, drives the stack's
// runtime (platform) and this machine (host), and records what happened. The
// packages it calls each do one thing; this one decides in which order, and
// what to tell the operator.
package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Files at the project root.
const (
	ManifestFile = "manifest.yaml"
	HistoryFile  = history.File
	TemplatesDir = "templates"
	PoliciesDir  = "policies"
	StateDir     = ".swiftdeploy"
)

// ProjectEnv names the environment variable that overrides the compose project
// name, so that several stacks (an operator's and the end-to-end tests') can run
// side by side. It must start with "swiftdeploy".
const ProjectEnv = "SWIFTDEPLOY_PROJECT"

// Stack is one SwiftDeploy project folder and the compose project it runs as.
type Stack struct {
	Root    string
	Project string
	Out     *ui.Printer
	Now     func() time.Time

	// HealthTimeout bounds how long deploy and promote wait for health.
	HealthTimeout time.Duration

	// NginxFollow is how long nginx may take to follow a new pin of the
	// app's addresses (render.ResolverStaleness and a margin).
	NginxFollow time.Duration

	// Runtime gives the engine the stack runs on for a manifest (compose on
	// this host unless a test says otherwise).
	Runtime func(*manifest.Manifest) platform.Runtime

	// Healthchecked says whether an image has SwiftDeploy's healthcheck
	// command (SwiftDeploy built it from service/); other images are probed
	// over HTTP from outside. nil: every image has it.
	Healthchecked func(image string) bool

	routerOnce sync.Once
	nginx      *router.Router
}

// New returns the stack rooted at root, printing to out.
func New(root string, out *ui.Printer) (*Stack, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	project := os.Getenv(ProjectEnv)
	if project == "" {
		project = render.DefaultProject
	}
	if err := render.CheckProject(project); err != nil {
		return nil, fmt.Errorf("%s: %w", ProjectEnv, err)
	}
	s := &Stack{Root: abs, Project: project, Out: out, Now: time.Now, HealthTimeout: 60 * time.Second,
		NginxFollow: router.DefaultFollow}
	s.Runtime = func(m *manifest.Manifest) platform.Runtime { return platform.For(m, s.runtimeConfig()) }
	s.Healthchecked = builtService()
	return s, nil
}

// runtimeConfig says what the stack's runtime is called and where it finds
// the generated files.
func (s *Stack) runtimeConfig() platform.Config {
	return platform.Config{Project: s.Project, Dir: s.Root, ComposeFile: render.ComposeFile,
		NginxConf: s.path(render.MountedNginxConf), DeployedFile: s.path(swarmDeployedFile), NginxReadFile: s.path(nginxReadFile)}
}

// nginxReadFile notes which nginx.conf the compose runtime's nginx read.
const nginxReadFile = StateDir + "/nginx-read"

// swarmDeployedFile records what the swarm runtime deployed last.
const swarmDeployedFile = StateDir + "/swarm-deployed"

// builtService reports whether setup built an image from service/ (its label
// says so), asking Docker once per image.
func builtService() func(image string) bool {
	var mu sync.Mutex
	known := map[string]bool{}
	return func(image string) bool {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := known[image]; ok {
			return v
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		built, err := host.BuiltFromService(ctx, image)
		known[image] = err == nil && built
		return known[image]
	}
}

// SetHealthTimeout sets how long deploy and promote wait for health from a
// -timeout flag (a Go duration like 90s); nil keeps the default.
func (s *Stack) SetHealthTimeout(flag *string) error {
	if flag == nil {
		return nil
	}
	d, err := time.ParseDuration(*flag)
	if err != nil || d <= 0 {
		return fmt.Errorf("%w: -timeout %q is not a positive duration like 60s", fail.ErrInvalid, *flag)
	}
	s.HealthTimeout = d
	return nil
}

func (s *Stack) path(name string) string { return filepath.Join(s.Root, name) }

func (s *Stack) loadManifest() (*manifest.Manifest, error) {
	return manifest.Load(s.path(ManifestFile))
}

// record appends an event to history.jsonl: payload is the event's struct
// from history's events.go (or a map of its fields). A history that cannot be
// written is reported but does not undo what already happened.
func (s *Stack) record(event string, payload any) {
	if err := history.Append(s.path(HistoryFile), s.Now(), event, payload); err != nil {
		s.Out.Warn("could not record %s in %s: %v", event, HistoryFile, err)
	}
}

// engine makes sure the Docker engine answers before a command that needs it.
func engine(ctx context.Context) error {
	if err := host.EngineUp(ctx); err != nil {
		return fmt.Errorf("%w; start it with `setup` (or `dockerd &`)", err)
	}
	return nil
}
