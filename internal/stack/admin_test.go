package stack

import (
	"context"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
)

// adminAt is a runtime whose nginx admin listener is at addr (a test
// server) and which lists no instance: the stack's single app is reached
// through the admin listener; anything else panics.
type adminAt struct {
	platform.Runtime
	addr string
}

func (a adminAt) AdminAddr(context.Context) (string, error) { return a.addr, nil }

func (a adminAt) Instances(context.Context, platform.Role) ([]platform.Instance, error) {
	return nil, nil
}

// withAdmin makes s reach nginx's admin listener at addr.
func withAdmin(s *Stack, addr string) *Stack {
	s.Runtime = func(*manifest.Manifest) platform.Runtime { return adminAt{addr: addr} }
	return s
}
