// Package edge is the host's front door: one nginx per host, on ports 80 and
// 443 (or the ports the manifests name), in front of every SwiftDeploy stack
// whose manifest has an edge section. It terminates TLS with certificates
// from an ACME CA or the operator's files, redirects HTTP to HTTPS, and sends
// each request to the nginx of the stack that claimed its host name. The
// stack keeps its own lifecycle: the edge only knows which host goes where.
//
// The edge never reloads for an app. Its configuration names no app: it
// sends a request for HOST to the unix socket run/hosts/HOST/nginx.sock, a
// link this package makes to the claiming stack's nginx's socket
// (run/sockets/PROJECT/nginx.sock, which that nginx listens on). Adding or
// removing an app is adding or removing a link. Certificates are loaded by
// name at each handshake (ssl_certificate with $ssl_server_name, cached for
// a few seconds), so a new or renewed certificate is served without a
// reload either.
//
// The edge renews its certificates itself: its compose project runs a
// renewer (renewer/, RenewDue) beside nginx, which orders each certificate
// that is due through the same code as deploy and renew, and records each
// order in the history of the stack that claimed the name.
//
// Everything the edge knows lives in one folder (Dir): the claims of each
// stack, the links and sockets, the certificates, the ACME account and
// challenges, and the generated nginx.conf and compose file.
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
)

// Edge is the host's edge, known by its folder.
type Edge struct {
	Dir     string
	Project string // compose project
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

// SocketDir is the folder on this host where project's nginx makes its
// socket for the edge (mounted at MountedRun in its container).
func (e *Edge) SocketDir(project string) string { return e.path(socketsDir, project) }

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
	// ACME is where this stack's certificates are ordered (TLS acme), so
	// that a renewal needs nothing but the edge's folder.
	ACME  *ACME     `json:"acme,omitempty"`
	Since time.Time `json:"since"`
}

// ClaimOf is the claim a stack's manifest makes.
func ClaimOf(m *manifest.Manifest, project, folder string) Claim {
	c := Claim{Project: project, Folder: folder, Hosts: slices.Clone(m.Edge.Hosts), HTTPPort: m.Edge.HTTPPort, HTTPSPort: m.Edge.HTTPSPort,
		TLS: m.Edge.TLS.Mode}
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
// stack's nginx: the edge sends their requests there within a second, with
// no reload.
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
	return e.writeHosts()
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
	if err := e.writeHosts(); err != nil {
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
	e.removeFailures(claimed)
	return len(claims), nil
}

// The edge's run folder: hosts/HOST/nginx.sock links, and each stack's
// socket folder.
const (
	hostsDir   = "run/hosts"
	socketsDir = "run/sockets"
)

// PrepareSockets makes project's socket folder, where its nginx (an
// unprivileged user) makes the socket the edge connects to.
func (e *Edge) PrepareSockets(project string) error {
	dir := e.SocketDir(project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return os.Chmod(dir, 0o1777)
}

// Forget removes project's socket folder, once its nginx is gone.
func (e *Edge) Forget(project string) error {
	if err := os.RemoveAll(e.SocketDir(project)); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return nil
}

// writeHosts makes hosts/ say what the claims say: one folder per claimed
// host name, holding the link to its stack's socket. Each folder appears
// and goes by one rename, so nginx sees a name routed or not, never half.
func (e *Edge) writeHosts() error {
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	want := map[string]string{} // host -> link target, relative to hosts/HOST/
	for _, c := range claims {
		for _, h := range c.Hosts {
			want[h] = filepath.Join("..", "..", "sockets", c.Project, "nginx.sock")
		}
	}
	dir := e.path(hostsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	for _, entry := range entries {
		name := entry.Name()
		target, err := os.Readlink(filepath.Join(dir, name, "nginx.sock"))
		if strings.HasPrefix(name, ".") || err != nil || want[name] != target {
			if err := removeByRename(dir, name); err != nil {
				return err
			}
			continue
		}
		delete(want, name) // already right
	}
	for host, target := range want {
		tmp, err := os.MkdirTemp(dir, ".new-")
		if err != nil {
			return fmt.Errorf("edge: %w", err)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
		if err := os.Symlink(target, filepath.Join(tmp, "nginx.sock")); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, host)); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	return nil
}

// removeByRename takes dir/name out of nginx's sight in one rename, then
// removes it.
func removeByRename(dir, name string) error {
	gone := filepath.Join(dir, fmt.Sprintf(".old-%s-%d", name, time.Now().UnixNano()))
	if err := os.Rename(filepath.Join(dir, name), gone); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return os.RemoveAll(gone)
}

// Routed lists the host names the edge sends to each stack: host -> project.
func (e *Edge) Routed() (map[string]string, error) {
	entries, err := os.ReadDir(e.path(hostsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	out := map[string]string{}
	for _, entry := range entries {
		target, err := os.Readlink(e.path(hostsDir, entry.Name(), "nginx.sock"))
		if err != nil || strings.HasPrefix(entry.Name(), ".") {
			continue
		}
		out[entry.Name()] = filepath.Base(filepath.Dir(target))
	}
	return out, nil
}
