package edge

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
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
	Project, Dir, Image                   string
	HTTPPort, HTTPSPort                   int
	HTTPContainerPort, HTTPSContainerPort int
	HTTPListen, HTTPSListen               string
	HTTPSSuffix                           string
	CertDir, ChallengeRoot, RunDir        string
	CertCache                             string
}

func (e *Edge) render(image string, httpPort, httpsPort int) (nginx, compose []byte, err error) {
	f := files{Project: e.Project, Dir: e.Dir, Image: image,
		HTTPPort: httpPort, HTTPSPort: httpsPort, HTTPContainerPort: httpContainerPort, HTTPSContainerPort: httpsContainerPort,
		HTTPListen: strconv.Itoa(httpContainerPort), HTTPSListen: strconv.Itoa(httpsContainerPort),
		CertDir: mountedCerts, ChallengeRoot: mountedChallenges, RunDir: MountedRun, CertCache: fmt.Sprintf("%ds", int(CertCache/time.Second))}
	if httpsPort != 443 {
		f.HTTPSSuffix = ":" + strconv.Itoa(httpsPort)
	}
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

// Up starts the edge, or leaves a running one as it is, and waits until it
// accepts connections on both ports. image is the nginx image it runs.
func (e *Edge) Up(ctx context.Context, image string, httpPort, httpsPort int) error {
	nginx, compose, err := e.render(image, httpPort, httpsPort)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	for _, d := range []string{"nginx", certsDir, challengesDir, hostsDir, socketsDir} {
		if err := os.MkdirAll(e.path(d), 0o755); err != nil {
			return fmt.Errorf("edge: %w", err)
		}
	}
	if err := atomicfile.Write(e.path("nginx", "nginx.conf"), nginx, 0o644); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if err := atomicfile.Write(e.path("docker-compose.yml"), compose, 0o644); err != nil {
		return fmt.Errorf("edge: %w", err)
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

// Running reports whether the edge's nginx runs.
func (e *Edge) Running(ctx context.Context) bool {
	cs, err := e.compose().Containers(ctx, "edge")
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
