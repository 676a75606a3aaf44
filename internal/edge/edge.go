// Package edge is the host's front door: one nginx per host, on ports 80 and
// 443 (or the ports the manifests name), in front of every SwiftDeploy stack
// whose manifest has an edge section. It terminates TLS with certificates
// from an ACME CA or the operator's files, redirects HTTP to HTTPS, and sends
// each request to the nginx of the stack that claimed its host name. The
// stack keeps its own lifecycle: the edge only knows which host goes where.
//
// The edge never reloads for an app. Its configuration names no app: it asks
// its own resolver (the stack resolver's image, in edge mode) for
// HOST.Zone, and the resolver answers from the routes file this package
// writes, with the address of the claiming stack's nginx on the edge's
// network. Certificates are loaded by name at each handshake
// (ssl_certificate with $ssl_server_name, cached for a few seconds), so a new
// or renewed certificate is served without a reload either.
//
// Everything the edge knows lives in one folder (Dir): the claims of each
// stack, the routes file, the certificates, the ACME account and challenges,
// and the generated nginx.conf and compose file.
package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

const (
	// DirEnv names another folder for the edge (a test's own edge, say);
	// DefaultDir is the host's.
	DirEnv     = "SWIFTDEPLOY_EDGE_DIR"
	DefaultDir = "/var/lib/swiftdeploy/edge"
	// DefaultProject is the edge's compose project, and its network's
	// name, for DefaultDir.
	DefaultProject = "swiftdeploy-edge"
	// StackPort is where a stack's nginx listens for the edge, on the
	// edge's network only: the forwarded headers it finds there are the
	// edge's, and it passes them on.
	StackPort = 9182
	// Zone is where the edge asks its resolver which stack serves a host:
	// HOST.Zone.
	Zone = "hosts.swiftdeploy-edge"
)

// Edge is the host's edge, known by its folder.
type Edge struct {
	Dir     string
	Project string // compose project, and the edge network's name
}

// Open returns the edge of this host: DirEnv's folder, else DefaultDir.
func Open() (*Edge, error) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	project := DefaultProject
	if abs != DefaultDir {
		sum := sha256.Sum256([]byte(abs))
		project += "-" + hex.EncodeToString(sum[:])[:8]
	}
	return &Edge{Dir: abs, Project: project}, nil
}

// Network is the edge's Docker network, which each stack's nginx joins.
func (e *Edge) Network() string { return e.Project }

// Alias is the name of a stack's nginx on the edge's network.
func Alias(project string) string { return project + ".stacks.swiftdeploy-edge" }

func (e *Edge) path(parts ...string) string {
	return filepath.Join(append([]string{e.Dir}, parts...)...)
}

// Claim is one stack's claim on the edge: its host names and how their
// certificates come.
type Claim struct {
	Project   string   `json:"project"`
	Folder    string   `json:"folder"`
	Hosts     []string `json:"hosts"`
	HTTPPort  int      `json:"http_port"`
	HTTPSPort int      `json:"https_port"`
	TLS       string   `json:"tls"`
	Image     string   `json:"nginx_image"` // the nginx image the edge runs when this stack starts it
	// ACME is where this stack's certificates are ordered (TLS acme), so
	// that a renewal needs nothing but the edge's folder.
	ACME  *ACME     `json:"acme,omitempty"`
	Since time.Time `json:"since"`
}

// ClaimOf is the claim a stack's manifest makes.
func ClaimOf(m *manifest.Manifest, project, folder string) Claim {
	c := Claim{Project: project, Folder: folder, Hosts: slices.Clone(m.Edge.Hosts), HTTPPort: m.Edge.HTTPPort, HTTPSPort: m.Edge.HTTPSPort,
		TLS: m.Edge.TLS.Mode, Image: m.Nginx.Image}
	if m.Edge.TLS.Mode == manifest.TLSACME {
		c.ACME = &ACME{Directory: m.Edge.TLS.Directory, Email: m.Edge.TLS.Email}
		if m.Edge.TLS.CAFile != "" {
			c.ACME.CAFile = filepath.Join(folder, m.Edge.TLS.CAFile)
		}
	}
	return c
}

// Claims lists every stack's claim, by project name.
func (e *Edge) Claims() ([]Claim, error) {
	entries, err := os.ReadDir(e.path("claims"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	var out []Claim
	for _, entry := range entries {
		if !strings.HasSuffix(entry.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(e.path("claims", entry.Name()))
		if err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
		var c Claim
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("edge: claim %s: %w", entry.Name(), err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Project < out[j].Project })
	return out, nil
}

// Check says why c cannot join the edge: a host name another stack claimed
// (naming that stack's folder), or ports other than those the edge serves.
func (e *Edge) Check(c Claim) error {
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	for _, o := range claims {
		if o.Project == c.Project {
			if o.Folder != c.Folder {
				return fmt.Errorf("%w: edge: the project name %s is already the edge's stack in %s: give this stack another (SWIFTDEPLOY_PROJECT)", fail.ErrInvalid, c.Project, o.Folder)
			}
			continue
		}
		for _, h := range c.Hosts {
			if slices.Contains(o.Hosts, h) {
				return fmt.Errorf("%w: edge.hosts: %s is already served by the stack in %s (project %s): a host name belongs to one stack", fail.ErrInvalid, h, o.Folder, o.Project)
			}
		}
		if o.HTTPPort != c.HTTPPort || o.HTTPSPort != c.HTTPSPort {
			return fmt.Errorf("%w: edge: this host's edge serves ports %d and %d (the stack in %s says so), not %d and %d: every stack on the edge names the same edge.http_port and edge.https_port",
				fail.ErrInvalid, o.HTTPPort, o.HTTPSPort, o.Folder, c.HTTPPort, c.HTTPSPort)
		}
	}
	return nil
}

// Lock takes the edge's lock, so that two stacks' commands change its
// claims and routes one at a time.
func (e *Edge) Lock(ctx context.Context, command string) (*lock.Lock, error) {
	if err := os.MkdirAll(e.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	me := lock.Holder{Command: command, PID: os.Getpid(), Started: time.Now()}
	return lock.Acquire(ctx, e.Dir, e.path(".lock-holder"), me, 2*time.Minute, nil)
}

// Register writes c as its stack's claim and routes its host names to the
// stack's nginx: the edge answers for them within a second, no reload.
func (e *Edge) Register(c Claim) error {
	if err := e.Check(c); err != nil {
		return err
	}
	if old, ok := e.claim(c.Project); ok {
		c.Since = old.Since
	}
	if c.Since.IsZero() {
		c.Since = time.Now().UTC()
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(e.path("claims"), 0o755); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if err := atomicfile.Write(e.path("claims", c.Project+".json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return e.writeRoutes()
}

func (e *Edge) claim(project string) (Claim, bool) {
	claims, _ := e.Claims()
	for _, c := range claims {
		if c.Project == project {
			return c, true
		}
	}
	return Claim{}, false
}

// Unregister removes project's claim and routes, and the certificates of
// host names no stack claims any more. It returns how many claims are left.
func (e *Edge) Unregister(project string) (int, error) {
	err := os.Remove(e.path("claims", project+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("edge: %w", err)
	}
	if err := e.writeRoutes(); err != nil {
		return 0, err
	}
	claims, err := e.Claims()
	if err != nil {
		return 0, err
	}
	claimed := map[string]bool{}
	for _, c := range claims {
		if c.TLS == manifest.TLSOff {
			continue
		}
		for _, h := range c.Hosts {
			claimed[h] = true
		}
	}
	certs, _ := os.ReadDir(e.path(certsDir))
	for _, f := range certs {
		host := strings.TrimSuffix(strings.TrimSuffix(f.Name(), ".pem"), ".json")
		if !claimed[host] {
			os.Remove(e.path(certsDir, f.Name()))
		}
	}
	return len(claims), nil
}

// Routes is the edge resolver's routes file (the stack resolver's format,
// with hosts only).
type Routes struct {
	Generation int64             `json:"generation"`
	Hosts      map[string]string `json:"hosts"`
}

// RoutesFile is the routes file, in a folder of its own that the edge's
// resolver mounts (a rename is seen through a folder mount, not a file's).
const routesDir = "routes"

func (e *Edge) writeRoutes() error {
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	r := Routes{Generation: time.Now().UnixNano(), Hosts: map[string]string{}}
	for _, c := range claims {
		for _, h := range c.Hosts {
			r.Hosts[h] = Alias(c.Project)
		}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(e.path(routesDir), 0o755); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return atomicfile.Write(e.path(routesDir, "routes.json"), append(data, '\n'), 0o644)
}
