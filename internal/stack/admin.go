package stack

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// adminHost names nginx's admin listener in the URLs SwiftDeploy builds; the
// admin client dials wherever the runtime published it.
const adminHost = "swiftdeploy-admin"

// adminURL is the address of path on nginx's admin listener, for the client
// Stack.admin returns.
func adminURL(path string) string { return "http://" + adminHost + path }

// adminDialer dials nginx's admin listener: it asks the runtime where that is
// once, and again when a connection there is refused (nginx was recreated,
// and Docker published the port anew).
type adminDialer struct {
	lookup func(ctx context.Context) (string, error)
	mu     sync.Mutex
	addr   string
	dialer net.Dialer
}

func (d *adminDialer) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	d.mu.Lock()
	addr := d.addr
	d.mu.Unlock()
	if addr != "" {
		conn, err := d.dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
	}
	addr, err := d.lookup(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.addr = addr
	d.mu.Unlock()
	return d.dialer.DialContext(ctx, "tcp", addr)
}

// admin returns the HTTP client that reaches nginx's admin listener (URLs
// from adminURL), where SwiftDeploy's probes, /metrics scrapes and chaos go;
// the public port serves the app alone when the manifest says so.
func (s *Stack) admin(m *manifest.Manifest) *http.Client {
	s.adminOnce.Do(func() {
		rt := s.Runtime(m)
		d := &adminDialer{lookup: rt.AdminAddr, dialer: net.Dialer{Timeout: 2 * time.Second}}
		s.adminClient = &http.Client{Timeout: httpClient.Timeout, Transport: &http.Transport{
			DialContext: d.dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
		}}
	})
	return s.adminClient
}
