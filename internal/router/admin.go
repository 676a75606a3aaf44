package router

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// adminHost names nginx's admin listener in the URLs SwiftDeploy builds; the
// admin client dials wherever the runtime published it.
const adminHost = "swiftdeploy-admin"

// URL is the address of path on nginx's admin listener, for the client
// Router.Client returns.
func URL(path string) string { return "http://" + adminHost + path }

// adminTimeout bounds one call to the admin listener.
const adminTimeout = 5 * time.Second

// adminClient reaches nginx's admin listener wherever lookup says it is.
func adminClient(lookup func(context.Context) (string, error)) *http.Client {
	d := &adminDialer{lookup: lookup, dialer: net.Dialer{Timeout: 2 * time.Second}}
	return &http.Client{Timeout: adminTimeout, Transport: &http.Transport{
		DialContext: d.dial, MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second,
	}}
}

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
