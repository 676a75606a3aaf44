package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// appHost is the name nginx resolves for the app (the compose service).
const appHost = "app"

// pinSettle covers the resolver noticing a new pin file: it checks every
// 100 ms.
const pinSettle = 250 * time.Millisecond

// pinApp makes the stack's resolver answer nginx's questions for the app with
// exactly the addresses of apps, whatever the runtime's DNS says. nginx follows
// within s.NginxFollow.
func (s *Stack) pinApp(apps []platform.Instance) error {
	var addrs []string
	for _, a := range apps {
		if a.Addr == "" {
			return fmt.Errorf("the app %s has no address on the stack's network", a.Name)
		}
		addrs = append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	data, err := json.Marshal(map[string][]string{appHost: addrs})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path(render.PinsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("pin the app's addresses: %w", err)
	}
	time.Sleep(pinSettle)
	return nil
}

// unpinApp lets the resolver pass nginx's questions on to Docker's DNS again.
func (s *Stack) unpinApp() error {
	if err := removeIfThere(s.path(render.PinsFile)); err != nil {
		return fmt.Errorf("unpin the app's addresses: %w", err)
	}
	return nil
}

// removeIfThere removes the file at path; one that is not there is fine.
func removeIfThere(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// moveNginx pins the app's name to apps and waits until every nginx worker
// must use them, then confirms it through nginx: answers from want only.
func (s *Stack) moveNginx(ctx context.Context, m *manifest.Manifest, apps []platform.Instance, want expected) error {
	if err := s.pinApp(apps); err != nil {
		return err
	}
	sleepFor(ctx, s.NginxFollow)
	return s.confirmNginx(ctx, m, apps, want)
}

// expected is the app /healthz must answer from: a mode, and a version
// unless it is empty.
type expected struct{ Mode, Version string }

// serving is what /healthz says when the app m describes answers.
func serving(m *manifest.Manifest) expected {
	return expected{Mode: m.Services.Mode, Version: m.Services.Version}
}

func (e expected) String() string {
	if e.Version == "" {
		return e.Mode
	}
	return e.Mode + " " + e.Version
}

// answers reports whether h can come from the expected app: an app that
// says its mode and version (SwiftDeploy's health JSON) must say these; one
// that does not is judged by its address alone.
func (e expected) answers(h Health) bool {
	return (h.Mode == "" || h.Mode == e.Mode) && (e.Version == "" || h.Version == "" || h.Version == e.Version)
}

// confirmAnswers is how many answers in a row must come from the app in the
// expected mode before an old app may go: nginx spreads requests over its
// workers and the pool, so one answer proves little.
const confirmAnswers = 10

// confirmNginx checks that nginx has moved where the pin says before anything
// is stopped: SwiftDeploy's probe through nginx must be answered by one of
// apps (by address), healthy and, when the app says its mode and version,
// as want, confirmAnswers times in a row within a few seconds. A pin that
// did not take (the resolver down, a pin file it cannot read) is caught here,
// while the old app still serves.
func (s *Stack) confirmNginx(ctx context.Context, m *manifest.Manifest, apps []platform.Instance, want expected) error {
	ctx, cancel := context.WithTimeout(ctx, max(2*s.NginxFollow, 2*time.Second))
	defer cancel()
	addrs := map[string]bool{}
	for _, a := range apps {
		addrs[a.Addr] = true
	}
	inRow := 0
	var last string
	for inRow < confirmAnswers {
		p, err := probeNginx(ctx, s.admin(m), m)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("nginx did not move to the %s app: %d answers in a row from it, then %s", want, inRow, last)
		case err != nil:
			inRow, last = 0, err.Error()
		case !addrs[p.Upstream]:
			inRow, last = 0, "an answer from "+p.Upstream
		case !want.answers(p.Health):
			inRow, last = 0, fmt.Sprintf("an answer from the %s %s app", p.Health.Mode, p.Health.Version)
		default:
			inRow++
		}
		sleepFor(ctx, 20*time.Millisecond)
	}
	return nil
}

// resolverProblem says why nginx could not follow a pin, "" when it can: the
// resolver is not running, or it started after nginx, which looks its address
// up when it starts and may hold an old one.
func resolverProblem(ctx context.Context, rt platform.Runtime, nginx platform.Instance) (string, error) {
	resolvers, err := rt.Instances(ctx, platform.Resolver)
	if err != nil {
		return "", err
	}
	switch {
	case len(resolvers) == 0 || !resolvers[0].Running():
		return resolverDown, nil
	case resolvers[0].StartedAt.After(nginx.StartedAt):
		return resolverReplaced, nil
	}
	return "", nil
}

// What resolverProblem finds.
const (
	resolverDown     = "the stack's resolver is not running"
	resolverReplaced = "the stack's resolver was replaced after nginx started"
)
