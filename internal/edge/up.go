package edge

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"text/template"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

//go:embed templates/*.tmpl
var templates embed.FS

// Inside the edge's containers.
const (
	httpContainerPort  = 8080
	httpsContainerPort = 8443
	mountedCerts       = "/etc/swiftdeploy-edge/certs"
	mountedChallenges  = "/var/lib/swiftdeploy-edge/acme"
	// MountedRun is where the edge, and each stack's nginx, see the edge's
	// run folder: the stacks' sockets and the host names' links to them.
	MountedRun = "/run/swiftdeploy-edge"
	// CertCache is how long the edge's nginx keeps a certificate it loaded
	// before it looks at the file again: a renewed certificate is served
	// within it.
	CertCache = 5 * time.Second
)

type files struct {
	Project, Dir, Image, RenewerImage     string
	HTTPPort, HTTPSPort                   int
	HTTPContainerPort, HTTPSContainerPort int
	HTTPListen, HTTPSListen               string
	HTTPSSuffix                           string
	CertDir, ChallengeRoot, RunDir        string
	CertCache                             string
	// Folders are the claiming stacks' folders: the renewer records its
	// orders in each one's history.
	Folders []string
}

// RenewerImage is the edge's renewer, built by setup from renewer/.
const RenewerImage = "swiftdeploy-renewer:latest"

// DNSEnv names a DNS server (host:port) SwiftDeploy asks for the edge's
// host names before it orders certificates, instead of the system's
// resolver: a test's own DNS, or a split-horizon one.
const DNSEnv = "SWIFTDEPLOY_EDGE_DNS"

// settings are what the command that last started the edge said, kept in
// its folder: the renewer and later commands read them from there.
type settings struct {
	Image     string   `json:"image"` // nginx's
	HTTPPort  int      `json:"http_port"`
	HTTPSPort int      `json:"https_port"`
	DNS       string   `json:"dns,omitempty"` // DNSEnv's
	Renew     Schedule `json:"renew"`
}

const settingsFile = "settings.json"

// settings reads the edge's settings; a missing or broken file is the
// defaults.
func (e *Edge) settings() settings {
	st := settings{Renew: DefaultSchedule()}
	if data, err := os.ReadFile(e.path(settingsFile)); err == nil {
		json.Unmarshal(data, &st)
	}
	return st
}

// Schedule is when the edge's renewer looks and renews.
func (e *Edge) Schedule() Schedule { return e.settings().Renew }

// Lookup resolves a host name as the CA will see it, as far as this host
// can tell: through dns (host:port), or the system's resolver when "".
func Lookup(dns string) func(context.Context, string) ([]string, error) {
	if dns == "" {
		return net.DefaultResolver.LookupHost
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, dns)
	}}
	return r.LookupHost
}

func (e *Edge) render(st settings) (nginx, compose []byte, err error) {
	f := files{Project: e.Project, Dir: e.Dir, Image: st.Image, RenewerImage: RenewerImage,
		HTTPPort: st.HTTPPort, HTTPSPort: st.HTTPSPort, HTTPContainerPort: httpContainerPort, HTTPSContainerPort: httpsContainerPort,
		HTTPListen: strconv.Itoa(httpContainerPort), HTTPSListen: strconv.Itoa(httpsContainerPort),
		CertDir: mountedCerts, ChallengeRoot: mountedChallenges, RunDir: MountedRun, CertCache: fmt.Sprintf("%ds", int(CertCache/time.Second))}
	if st.HTTPSPort != 443 {
		f.HTTPSSuffix = ":" + strconv.Itoa(st.HTTPSPort)
	}
	claims, err := e.Claims()
	if err != nil {
		return nil, nil, err
	}
	for _, c := range claims {
		if !slices.Contains(f.Folders, c.Folder) && c.Folder != e.Dir {
			f.Folders = append(f.Folders, c.Folder)
		}
	}
	sort.Strings(f.Folders)
	t, err := template.New("").Funcs(template.FuncMap{"quote": func(s string) string { b, _ := json.Marshal(s); return string(b) }}).
		Option("missingkey=error").ParseFS(templates, "templates/*.tmpl")
	if err != nil {
		return nil, nil, err
	}
	var n, c bytes.Buffer
	if err := t.ExecuteTemplate(&n, "nginx.conf.tmpl", f); err != nil {
		return nil, nil, err
	}
	if err := t.ExecuteTemplate(&c, "docker-compose.yml.tmpl", f); err != nil {
		return nil, nil, err
	}
	return n.Bytes(), c.Bytes(), nil
}

func (e *Edge) compose() docker.Project {
	return docker.Project{Name: e.Project, Dir: e.Dir, File: "docker-compose.yml"}
}

// Up starts the edge and its renewer, or leaves running ones as they are,
// and waits until the edge accepts connections on both ports. image is the
// nginx image it runs. The renewer's schedule and DNS come from this
// command's environment (RenewEveryEnv, RenewBeforeEnv, DNSEnv).
func (e *Edge) Up(ctx context.Context, image string, httpPort, httpsPort int) error {
	renew, err := ScheduleFromEnv()
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	st := settings{Image: image, HTTPPort: httpPort, HTTPSPort: httpsPort, DNS: os.Getenv(DNSEnv), Renew: renew}
	for _, d := range []string{"nginx", certsDir, challengesDir, hostsDir, socketsDir} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(e.path(settingsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if _, err := e.writeFiles(st); err != nil {
		return err
	}
	if _, err := e.compose().Compose(ctx, "up", "--detach", "--wait", "--remove-orphans"); err != nil {
		return fmt.Errorf("edge: start: %w", err)
	}
	for _, p := range []int{httpPort, httpsPort} {
		if err := waitListening(ctx, p); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	return nil
}

// writeFiles writes the edge's nginx.conf and compose file for st and the
// claims; changed says whether the compose file changed.
func (e *Edge) writeFiles(st settings) (changed bool, err error) {
	nginx, compose, err := e.render(st)
	if err != nil {
		return false, fmt.Errorf("edge: %w", err)
	}
	if err := atomicfile.Write(e.path("nginx", "nginx.conf"), nginx, 0o644); err != nil {
		return false, fmt.Errorf("edge: %w", err)
	}
	old, _ := os.ReadFile(e.path("docker-compose.yml"))
	if err := atomicfile.Write(e.path("docker-compose.yml"), compose, 0o644); err != nil {
		return false, fmt.Errorf("edge: %w", err)
	}
	return !bytes.Equal(old, compose), nil
}

// Refresh gives the renewer the claiming stacks' folders after a stack
// joined or left: it recreates the renewer alone when its mounts changed.
// The edge's nginx is left as it is.
func (e *Edge) Refresh(ctx context.Context) error {
	st := e.settings()
	if st.Image == "" {
		return nil // an edge from before the renewer: its next deploy starts one
	}
	changed, err := e.writeFiles(st)
	if err != nil || (!changed && e.running(ctx, "renewer")) {
		return err
	}
	if _, err := e.compose().Compose(ctx, "up", "--detach", "--wait", "--no-deps", "renewer"); err != nil {
		return fmt.Errorf("edge: start the renewer: %w", err)
	}
	return nil
}

// Running reports whether the edge's nginx runs.
func (e *Edge) Running(ctx context.Context) bool { return e.running(ctx, "edge") }

// RenewerRunning reports whether the edge's renewer runs.
func (e *Edge) RenewerRunning(ctx context.Context) bool { return e.running(ctx, "renewer") }

func (e *Edge) running(ctx context.Context, service string) bool {
	cs, err := e.compose().Containers(ctx, service)
	return err == nil && len(cs) > 0 && cs[0].Running()
}

// Down removes the edge's containers and network.
func (e *Edge) Down(ctx context.Context) error {
	if _, err := e.compose().RemoveProject(ctx); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return nil
}

func waitListening(ctx context.Context, port int) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts on port %d: %w", port, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
