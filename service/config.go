package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	modeStable = "stable"
	modeCanary = "canary"

	defaultPort    = 3000
	defaultVersion = "dev"
)

// config is everything the service reads from its environment.
type config struct {
	mode    string
	version string
	port    int
}

// loadConfig reads MODE, APP_VERSION and APP_PORT, reporting every bad value at once.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{mode: getenv("MODE"), version: getenv("APP_VERSION")}
	if cfg.version == "" {
		cfg.version = defaultVersion
	}
	var problems []error
	if cfg.mode != modeStable && cfg.mode != modeCanary {
		problems = append(problems, fmt.Errorf("invalid MODE %q: set MODE to %q or %q", cfg.mode, modeStable, modeCanary))
	}
	port, err := parsePort(getenv("APP_PORT"))
	if err != nil {
		problems = append(problems, err)
	}
	cfg.port = port
	return cfg, errors.Join(problems...)
}

// parsePort reads APP_PORT; empty means the default.
func parsePort(s string) (int, error) {
	if s == "" {
		return defaultPort, nil
	}
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("invalid APP_PORT %q: must be a whole number from 1 to 65535", s)
	}
	return port, nil
}

// oneLine renders a joined error on a single line, for stderr and JSON bodies.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
