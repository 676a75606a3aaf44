package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// InstalledPackages says which of packages dpkg has installed (status "ii");
// a package dpkg has never heard of is simply not installed.
func InstalledPackages(ctx context.Context, packages ...string) (map[string]bool, error) {
	// dpkg-query reads the \n in its format itself.
	args := append([]string{"--show", "--showformat", `${Package} ${db:Status-Abbrev}\n`}, packages...)
	out, err := run(ctx, "dpkg-query", args...)
	// dpkg-query exits 1 when a name matches no package it knows, and still
	// lists the others.
	var exitErr *exec.ExitError
	if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
		return nil, fmt.Errorf("ask dpkg which packages are installed: %w", err)
	}
	installed := make(map[string]bool, len(packages))
	for _, p := range packages {
		installed[p] = false
	}
	for _, line := range outputLines(out) {
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			if _, asked := installed[fields[0]]; asked {
				installed[fields[0]] = fields[1] == "ii"
			}
		}
	}
	return installed, nil
}

// PolicyDenies runs the distribution's service policy (policy-rc.d) as
// invoke-rc.d does, asking whether service may start: exit status 101 means
// it may not.
func PolicyDenies(ctx context.Context, policy, service string) (bool, error) {
	_, err := run(ctx, policy, service, "start")
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitCode() == 101, nil
	default:
		return false, fmt.Errorf("ask %s whether %s may start: %w", policy, service, err)
	}
}

// DisableInitScript keeps a Debian service that has an init script from
// starting at boot (update-rc.d turns off both its System V links and, under
// systemd, its unit).
func DisableInitScript(ctx context.Context, service string) error {
	if _, err := run(ctx, "update-rc.d", service, "disable"); err != nil {
		return fmt.Errorf("disable %s at boot: %w", service, err)
	}
	return nil
}

// DisableUnit keeps a systemd unit from starting at boot.
func DisableUnit(ctx context.Context, unit string) error {
	if _, err := run(ctx, "systemctl", "disable", unit); err != nil {
		return fmt.Errorf("disable %s at boot: %w", unit, err)
	}
	return nil
}
