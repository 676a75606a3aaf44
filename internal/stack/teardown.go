package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Teardown removes the stack's containers, network and volumes. It works from
// the compose labels, so it also cleans up when docker-compose.yml was deleted,
// and running it twice is fine. With clean it also deletes the generated files.
func (s *Stack) Teardown(ctx context.Context, clean bool) error {
	command := "teardown"
	if clean {
		command += " -clean"
	}
	return s.exclusive(ctx, command, func() error { return s.teardown(ctx, clean) })
}

func (s *Stack) teardown(ctx context.Context, clean bool) (err error) {
	defer func() {
		event := history.Teardown{Clean: clean, Result: resultOf(err)}
		if err != nil {
			event.Error = err.Error()
		}
		s.record(history.EventTeardown, event)
	}()
	if err := engine(ctx); err != nil {
		return err
	}
	m, _ := s.loadManifest()
	// The edge stops sending this stack's host names here first: they are
	// answered 404 by the edge, not failed by a stack going down.
	if err := s.edgeLeave(ctx); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	removed, err := platform.DownEverywhere(ctx, m, s.runtimeConfig())
	if err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	if err := s.edgeRemoveIfUnused(ctx); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	if len(removed) > 0 {
		s.Out.OK("removed %d leftover containers, networks or volumes of %s", len(removed), s.Project)
	}
	s.Out.OK("the stack %s is down: no container, network or volume left", s.Project)
	// Nothing is left to switch or to pin.
	if err := s.store().Save(change.State{}); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	if err := s.router(nil).Reset(); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	// No nginx runs to have read anything.
	if err := os.Remove(s.path(nginxReadFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("teardown: %w", err)
	}
	if !clean {
		return nil
	}
	for _, f := range []string{render.NginxConf, render.ComposeFile, render.MountedNginxDir, render.ResolverDir, render.ReleaseLogDir} {
		if err := os.RemoveAll(s.path(f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("teardown: remove %s: %w", f, err)
		}
	}
	// The folder may still hold ./swiftdeploy's compiled targets: keep it
	// then. Otherwise the lock's release removes it with its holder note.
	_ = os.Remove(s.path(StateDir))
	s.Out.OK("removed the generated files (%s, %s, %s/, %s/, %s/)", render.NginxConf, render.ComposeFile, render.MountedNginxDir, render.ResolverDir, render.ReleaseLogDir)
	return nil
}
