// Package render turns a loaded manifest into the generated files: nginx.conf and
// docker-compose.yml, from the text/template files in templates/.
//
// Rendering is pure and deterministic: the same manifest and project name give
// byte-identical output. Everything is rendered in memory first, so a template
// error writes nothing; each file is then written atomically.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// Paths of the generated files, relative to the project root.
const (
	NginxConf       = "nginx.conf"
	ComposeFile     = "docker-compose.yml"
	MountedNginxDir = ".swiftdeploy/nginx"
	// LogDir is where the named log volume is mounted in both containers.
	LogDir = "/var/log/swiftdeploy"
	// DefaultProject is the compose project name unless the environment says otherwise.
	DefaultProject = "swiftdeploy"
	// ResolverDir holds the resolver's pin file; the resolver container mounts it.
	ResolverDir = ".swiftdeploy/resolver"
	// ResolverImage is the image setup builds from resolver/.
	ResolverImage = "swiftdeploy-resolver:latest"
	// ReleaseLogDir is where nginx writes, during every change (a switch or
	// a release), one line per request saying which build answered it:
	// SwiftDeploy judges each build of a release, and measures what each
	// change cost clients, from it. The nginx container mounts it at
	// MountedReleaseLogDir.
	ReleaseLogDir        = ".swiftdeploy/release"
	MountedReleaseLogDir = "/var/log/swiftdeploy-release"
	// ProbePath is SwiftDeploy's probe of the app's health path through
	// nginx: the answer carries, in UpstreamHeader, the address of the
	// instance that gave it.
	ProbePath = "/.well-known/swiftdeploy/probe"
	// RoutedProbePath is the same probe through the weighted pool that
	// clients' requests go to.
	RoutedProbePath = "/.well-known/swiftdeploy/probe-routed"
	UpstreamHeader  = "X-SwiftDeploy-Upstream"
	// RoutingSteady is what Release.Routing says outside a release.
	RoutingSteady = "steady"
	// adminPort is where nginx's admin listener listens inside its
	// container (AdminPort), unless the public port is this one.
	adminPort = 9180
	// EdgeRun is where nginx's folder for the host's edge is mounted; it
	// listens on EdgeRun/nginx.sock for the edge.
	EdgeRun = "/run/swiftdeploy-edge"
	// CanaryHost is the name nginx resolves for the new build during a release
	// (the compose service).
	CanaryHost = "canary"
)

// ReleaseLog is the file nginx writes during a change, relative to the
// project root: one line per request while Recording exists.
var (
	ReleaseLog = filepath.Join(ReleaseLogDir, "requests.log")
	Recording  = filepath.Join(ReleaseLogDir, recordingFile)
)

const recordingFile = "recording"

// StickyCookie is the cookie nginx sets when rollout.sticky is on: it
// names the instance that answered the client's first request.
const StickyCookie = "swiftdeploy_cohort"

// ResolverZone is the zone of names only the stack's resolver answers:
// the weighted lines of nginx's app upstream (_http._tcp.LINE.ZONE) and
// their targets, one per instance.
const ResolverZone = "swiftdeploy"

// Lines are the weighted lines of nginx's app upstream, as nginx names
// them: the stable build, the canary build, and the stable build as the
// canary's backup.
type Lines struct{ Stable, Canary, Backup string }

// WeightedLines are the lines the template renders and the resolver
// answers (its RESOLVER_ZONE).
var WeightedLines = Lines{Stable: "stable." + ResolverZone, Canary: "canary." + ResolverZone, Backup: "backup." + ResolverZone}

// Release is what nginx and the runtime need to know about a release in
// progress: the new build, which runs beside the one serving, and the share
// of requests nginx sends it.
type Release struct {
	Canary manifest.Build
	Weight int  // percent of requests for the canary build, 0-100
	Sticky bool // a client keeps its build (a cookie nginx sets)
}

// Routing names how nginx routes during r: steady (no release, or a
// canary that gets no request yet), or the canary's share.
func (r *Release) Routing() string {
	if r == nil || r.Weight == 0 {
		return RoutingSteady
	}
	return fmt.Sprintf("canary %s at %d%%", r.Canary.Version, r.Weight)
}

// AdminPort is the port of nginx's admin listener inside its container:
// Docker publishes it on the host's loopback only, on a port of its choice,
// and SwiftDeploy's own calls (probes, routing, /metrics, chaos) go there.
func AdminPort(m *manifest.Manifest) int {
	if m.Nginx.Port == adminPort {
		return adminPort + 1
	}
	return adminPort
}

// RoutesFile is where SwiftDeploy tells the stack's resolver how to steer
// nginx: the app's pinned addresses during a switch, the canary's weight
// during a release. ServedFile is where the resolver says which of its
// generations nginx asked for.
var (
	RoutesFile = filepath.Join(ResolverDir, "routes.json")
	ServedFile = filepath.Join(ResolverDir, "served.json")
)

// ResolverHost and ResolverPort are where nginx asks for the app's addresses:
// the resolver service on the stack's network, on an unprivileged port.
const (
	ResolverHost = "resolver"
	ResolverPort = 5353
)

// MountedNginxConf is the copy of nginx.conf that the nginx container reads: its
// folder is bind-mounted, so a rewrite by rename is seen inside the container.
var MountedNginxConf = filepath.Join(MountedNginxDir, "nginx.conf")

var projectName = regexp.MustCompile(`^swiftdeploy[a-z0-9_-]*$`)

// CheckProject reports whether name is usable as the compose project name: every
// container name derives from it and must start with "swiftdeploy".
func CheckProject(name string) error {
	if !projectName.MatchString(name) {
		return fmt.Errorf("%w: project name %q must start with \"swiftdeploy\" and use only a-z, 0-9, _ and -", fail.ErrInvalid, name)
	}
	return nil
}

// File is one generated file.
type File struct {
	Path string // relative to the project root
	Data []byte
}

type data struct {
	*manifest.Manifest
	Project           string
	LogDir            string
	Contact           string // escaped for a single-quoted nginx string holding JSON
	ConnectTimeout    int    // milliseconds: the shorter of nginx.proxy_timeout and connectTimeout
	NginxMinVersion   string
	ResolverImage     string
	ResolverHost      string
	ResolverPort      int
	ResolverDir       string
	ResolverZone      string
	Lines             Lines
	StickyCookie      string
	CanaryHost        string
	ReleaseLogDir     string
	MountedReleaseLog string
	RecordingMarker   string
	ProbePath         string
	RoutedProbePath   string
	UpstreamHeader    string
	AdminPort         int
	// SmokeHeader marks SwiftDeploy's smoke requests, and SmokeVariable is
	// nginx's variable for it without the $http_.
	SmokeHeader, SmokeVariable string
	Apps                       []appService
	// Swarm renders docker-compose.yml as a stack file for `docker stack
	// deploy` (runtime: swarm), and Root is where its bind mounts start.
	Swarm bool
	Root  string
	// SwarmRestart is the swarm restart condition for services.restart_policy.
	SwarmRestart string
	// EdgeSockets is the folder on this host where nginx makes the unix
	// socket the host's edge reaches it by, mounted at EdgeRun; EdgeSocket
	// is the socket inside the container (manifests with an edge section).
	EdgeSockets, EdgeRun, EdgeSocket string
	EdgeNode                         string
	// SwarmUpdateDelay separates the replacement of one app task from the
	// next: nginx has learnt the new task's address by then.
	SwarmUpdateDelay string
}

// appService is one build of the app in docker-compose.yml.
type appService struct {
	Name        string // compose service
	Image       string
	Mode        string
	Version     string
	Restart     string
	Healthcheck bool // the image has SwiftDeploy's healthcheck command
	// Replicas and SwarmRestart are its tasks and restart condition on
	// swarm; OnManager places them on a manager, where SwiftDeploy runs and
	// reaches them.
	Replicas     int
	SwarmRestart string
	OnManager    bool
}

// Options are what rendering needs besides the manifest.
type Options struct {
	// Release is a release in progress, nil when none.
	Release *Release
	// Healthchecked says whether an image has SwiftDeploy's healthcheck
	// command (the shipped service's image); nil: every image has it.
	Healthchecked func(image string) bool
	// Root is the project folder's absolute path: a swarm stack file names
	// its bind mounts by absolute path.
	Root string
	// EdgeSockets is the folder on this host where nginx makes its socket
	// for the host's edge, for a manifest with an edge section.
	EdgeSockets string
	// EdgeNode is the swarm node the edge runs on (this one): nginx runs
	// there too, to reach the edge by its socket (swarm with an edge).
	EdgeNode string
}

func (o Options) healthchecked(image string) bool {
	return o.Healthchecked == nil || o.Healthchecked(image)
}

// swarmRestart maps services.restart_policy onto swarm's restart conditions.
var swarmRestart = map[string]string{"no": "none", "always": "any", "unless-stopped": "any", "on-failure": "on-failure"}

// NginxMinVersion is the oldest nginx that accepts the generated nginx.conf: the
// `resolve` parameter of a server in an upstream, which keeps a keep-alive pool
// to the app while following a replaced app, arrived in nginx 1.27.3.
const NginxMinVersion = "1.27.3"

// ConnectTimeout is how long nginx waits for a connection to the app. An
// app whose accept queue is full drops a connection's first packet, and the
// kernel sends it again after 1 s: 1.5 s waits for that, where 1 s made
// nginx answer 504 just before the app took the connection. A connection
// still not made by then is tried again on the next instance (the same one
// through another line of the app upstream, when it is alone), a new
// connection where the kernel would wait until 3 s; and an instance that was
// killed, whose address answers nothing until nginx stops using it, holds a
// request no more than 1.5 s.
const ConnectTimeout = 1500 * time.Millisecond

// ResolverStaleness bounds how long nginx may go on using the app's
// addresses or weights from before they changed (a routes file written, a
// container joined or left). The resolver answers with TTL 0, and an upstream
// asks the name again (valid - now + 1) seconds after each answer, with now
// counted in whole seconds (nginx's ngx_http_upstream_zone_resolve_handler):
// one second after the answer; the resolver reads its routes file every
// 100 ms, and its answer takes a little while.
const ResolverStaleness = 1500 * time.Millisecond

// Render renders every template in templatesDir for m. It writes nothing.
func Render(templatesDir string, m *manifest.Manifest, project string) ([]File, error) {
	return RenderRelease(templatesDir, m, project, nil)
}

// RenderRelease renders the files for m with a release in progress: the
// canary build runs beside m's build, and nginx splits requests between the
// two. A nil rel renders what Render does.
func RenderRelease(templatesDir string, m *manifest.Manifest, project string, rel *Release) ([]File, error) {
	return RenderWith(templatesDir, m, project, Options{Release: rel})
}

// RenderWith renders the files for m with opt.
func RenderWith(templatesDir string, m *manifest.Manifest, project string, opt Options) ([]File, error) {
	rel := opt.Release
	if err := CheckProject(project); err != nil {
		return nil, err
	}
	if rel != nil && (rel.Weight < 0 || rel.Weight > 100) {
		return nil, fmt.Errorf("render: a release weight of %d%% is not a percentage", rel.Weight)
	}
	d := data{Manifest: m, Project: project, LogDir: LogDir, Contact: nginxJSONString(m.Contact),
		ConnectTimeout:  int(min(time.Duration(m.Nginx.ProxyTimeout)*time.Second, ConnectTimeout) / time.Millisecond),
		NginxMinVersion: NginxMinVersion, ResolverImage: ResolverImage, ResolverHost: ResolverHost, ResolverPort: ResolverPort, ResolverDir: ResolverDir,
		ResolverZone: ResolverZone, Lines: WeightedLines, StickyCookie: StickyCookie,
		CanaryHost: CanaryHost, ReleaseLogDir: ReleaseLogDir, MountedReleaseLog: MountedReleaseLogDir, RecordingMarker: MountedReleaseLogDir + "/" + recordingFile,
		ProbePath: ProbePath, RoutedProbePath: RoutedProbePath, UpstreamHeader: UpstreamHeader, AdminPort: AdminPort(m),
		SmokeHeader: manifest.SmokeHeader, SmokeVariable: strings.ReplaceAll(strings.ToLower(manifest.SmokeHeader), "-", "_"),
		Apps: []appService{{Name: "app", Image: m.Services.Image, Mode: m.Services.Mode, Version: m.Services.Version, Restart: m.Services.RestartPolicy,
			Replicas: m.Services.Replicas, SwarmRestart: swarmRestart[m.Services.RestartPolicy],
			Healthcheck: opt.healthchecked(m.Services.Image)}}}
	if m.Runtime == manifest.RuntimeSwarm {
		if !filepath.IsAbs(opt.Root) {
			return nil, fmt.Errorf("render: a swarm stack file needs the project folder's absolute path, got %q", opt.Root)
		}
		d.Swarm, d.Root, d.SwarmRestart = true, opt.Root, swarmRestart[m.Services.RestartPolicy]
		// Twice what nginx needs, under load too.
		d.SwarmUpdateDelay = (2*ResolverStaleness + time.Second).String()
	}
	if m.Edge != nil {
		if !filepath.IsAbs(opt.EdgeSockets) {
			return nil, fmt.Errorf("render: the manifest has an edge section, but no folder for its socket was given")
		}
		d.EdgeSockets, d.EdgeRun, d.EdgeSocket = opt.EdgeSockets, EdgeRun, EdgeRun+"/nginx.sock"
		if m.Runtime == manifest.RuntimeSwarm {
			if opt.EdgeNode == "" {
				return nil, fmt.Errorf("render: a swarm stack behind the edge needs the node the edge runs on")
			}
			d.EdgeNode = opt.EdgeNode
		}
	}
	if rel != nil {
		// A canary that crashes stays down, for the release to see and abort.
		d.Apps = append(d.Apps, appService{Name: CanaryHost, Image: rel.Canary.Image, Mode: manifest.ModeCanary, Version: rel.Canary.Version, Restart: "no",
			Replicas: 1, SwarmRestart: swarmRestart["no"], OnManager: true,
			Healthcheck: opt.healthchecked(rel.Canary.Image)})
	}
	nginx, err := execute(templatesDir, "nginx.conf.tmpl", d)
	if err != nil {
		return nil, err
	}
	compose, err := execute(templatesDir, "docker-compose.yml.tmpl", d)
	if err != nil {
		return nil, err
	}
	return []File{
		{Path: NginxConf, Data: nginx},
		{Path: MountedNginxConf, Data: nginx},
		{Path: ComposeFile, Data: compose},
	}, nil
}

func execute(dir, name string, d data) ([]byte, error) {
	path := filepath.Join(dir, name)
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"quote": quote, "dict": dict, "join": filepath.Join, "commas": func(s []string) string { return strings.Join(s, ", ") }}).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// dict builds a map from key, value pairs, for a template called with
// several values.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want key, value pairs", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// quote makes s a double-quoted YAML scalar; JSON string syntax is valid YAML.
func quote(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// nginxJSONString escapes s for use inside a JSON string literal that itself sits in
// a single-quoted nginx string: JSON escaping first, then nginx's own ' and \.
// A '$' would start an nginx variable, so it is written as a JSON unicode escape.
func nginxJSONString(s string) string {
	j := quote(s)
	j = j[1 : len(j)-1]
	j = strings.ReplaceAll(j, "$", `\u0024`)
	j = strings.ReplaceAll(j, `\`, `\\`)
	return strings.ReplaceAll(j, "'", `\'`)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// Write writes files under root atomically, leaving a file whose content is already
// identical untouched (same bytes, same inode).
func Write(root string, files []File) error {
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(root, f.Path), f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
