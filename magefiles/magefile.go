//go:build mage

// SwiftDeploy: one manifest.yaml describes the deployment; these targets generate
// the nginx and Compose files from it, deploy the stack and guard every change
// with the Rego policies in policies/.
//
// Exit codes: 0 success, 1 operational failure, 2 invalid input, 3 denied by policy.
package main

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/stack"
	"github.com/swiftdeploy/swiftdeploy/internal/suite"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Setup makes this host ready: Docker engine, Compose plugin, app and nginx images.
func Setup(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return s.Setup(ctx) })
}

// Init generates nginx.conf and docker-compose.yml from manifest.yaml.
func Init() error {
	return run(func(s *stack.Stack) error { return s.Init() })
}

// Validate runs the pre-flight checks: manifest, images, port, nginx -t, compose config, policies.
func Validate(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return s.Validate(ctx) })
}

// Deploy generates the files, asks the infrastructure policy and starts the stack until healthy (-timeout=60s).
func Deploy(ctx context.Context, timeout *string) error {
	return run(func(s *stack.Stack) error {
		if err := s.SetHealthTimeout(timeout); err != nil {
			return err
		}
		return s.Deploy(ctx)
	})
}

// Promote switches the app to <stable|canary> if the canary-safety policy allows it (-timeout=60s).
func Promote(ctx context.Context, mode string, timeout *string) error {
	return run(func(s *stack.Stack) error {
		if err := s.SetHealthTimeout(timeout); err != nil {
			return err
		}
		return s.Promote(ctx, mode)
	})
}

// Rollback returns the app to stable by the emergency path (still asks the policy).
func Rollback(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return s.Rollback(ctx) })
}

// Chaos injects chaos into the canary: slow -duration=N, error -rate=R, or recover.
func Chaos(ctx context.Context, mode string, duration, rate *string) error {
	return run(func(s *stack.Stack) error {
		return s.Chaos(ctx, stack.ChaosRequest{Mode: mode, Duration: duration, Rate: rate})
	})
}

// Teardown removes the stack's containers, network and volumes; -clean also deletes generated files.
func Teardown(ctx context.Context, clean *bool) error {
	return run(func(s *stack.Stack) error { return s.Teardown(ctx, clean != nil && *clean) })
}

// Renew renews by hand the certificates the host's edge serves for this stack that are due (the edge's renewer does it on its own); -force renews them now.
func Renew(ctx context.Context, force *bool) error {
	return run(func(s *stack.Stack) error { return s.Renew(ctx, force != nil && *force) })
}

// run builds the stack for the current folder, runs do and turns its error into
// SwiftDeploy's exit code with a one-line message.
func run(do func(*stack.Stack) error) error {
	s, err := stack.New(".", ui.New(os.Stdout))
	if err == nil {
		err = do(s)
	}
	if err == nil {
		return nil
	}
	return mg.Fatal(fail.Code(err), err.Error())
}

// Status shows a live dashboard (every 5s; -interval=10s); -once for one refresh, -json for scripts.
func Status(ctx context.Context, once, json *bool, interval *string) error {
	return run(func(s *stack.Stack) error {
		opt, err := stack.ParseStatusOptions(once, json, interval, os.Stdout)
		if err != nil {
			return err
		}
		return s.Status(ctx, opt)
	})
}

// Audit writes audit_report.md from history.jsonl: timeline, violations and an error-rate/P99 chart.
func Audit() error {
	return run(func(s *stack.Stack) error { return s.Audit() })
}

// Replay re-judges every release step in history.jsonl under the policies as they are now, and prints each release then and now.
func Replay(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return s.Replay(ctx) })
}

// Test runs setup, then every test: unit, Rego policy, fuzz corpora and end-to-end against real Docker.
func Test(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return runner(s).Test(ctx) })
}

// TestSwarm runs setup, then the slower swarm tests: a canary release, killed changes recovered, a second engine joining as a worker.
func TestSwarm(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return runner(s).Swarm(ctx) })
}

// Bench runs the benchmarks (micro and on a real stack, beside HAProxy, Caddy and nginx it installs) and writes the figures to bench/.
func Bench(ctx context.Context) error {
	return run(func(s *stack.Stack) error { return runner(s).Bench(ctx) })
}

// runner runs the test suite and benchmarks in the stack's folder, after the
// stack's own setup, so that the end-to-end tests find the host an operator's
// setup would leave; the benchmarks also get the peer proxies they measure
// the stack beside.
func runner(s *stack.Stack) *suite.Runner {
	return &suite.Runner{Root: s.Root, Out: s.Out, Setup: s.Setup, BenchSetup: s.PeerProxies, Now: s.Now}
}
