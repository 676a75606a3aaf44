package stack

import (
	"context"
	"errors"
	"fmt"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Init regenerates nginx.conf and docker-compose.yml from the manifest and
// records it. A bad manifest generates nothing.
func (s *Stack) Init() error {
	return s.exclusive(context.Background(), "init", s.initFiles)
}

func (s *Stack) initFiles() (err error) {
	m, err := s.prepare()
	event := history.Init{Result: resultOf(err), Files: []string{render.NginxConf, render.ComposeFile}}
	if err != nil {
		event.Error = err.Error()
	} else {
		event.Mode = m.Services.Mode
	}
	s.record(history.EventInit, event)
	return err
}

// prepare loads the manifest and regenerates the files from it, as every
// command that acts on the stack does first.
func (s *Stack) prepare() (*manifest.Manifest, error) {
	m, err := s.loadManifest()
	if err != nil {
		return nil, err
	}
	if err := s.generate(m); err != nil {
		return nil, err
	}
	s.Out.OK("generated %s and %s from %s (mode %s)", render.NginxConf, render.ComposeFile, ManifestFile, m.Services.Mode)
	return m, nil
}

func (s *Stack) generate(m *manifest.Manifest) error {
	if err := policy.CheckOverrides(s.path(PoliciesDir), m.Policy); err != nil {
		if errors.Is(err, fail.ErrInvalid) {
			return fmt.Errorf("%s policy section: %w", ManifestFile, err)
		}
		return gate.Unavailable(err)
	}
	files, err := s.render(m, nil)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := render.Write(s.Root, files); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	// The resolver container mounts this folder and writes its served file
	// there, unprivileged; Docker would create a missing one owned by root.
	if err := makeWritableDir(s.path(render.ResolverDir)); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := makeWritableDir(s.path(render.ReleaseLogDir)); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}
