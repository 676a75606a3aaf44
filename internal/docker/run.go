// Package docker is the one place SwiftDeploy runs external programs: the Docker
// CLI and its Compose plugin, nginx -t inside the nginx image, and the host tools
// that setup needs (apt-get, debootstrap, go). Every command runs with a context,
// so nothing can hang past its deadline, and a failure carries the command and the
// last lines it printed.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/bitfield/script"
)

// ErrEngineUnreachable means the Docker CLI could not talk to a Docker engine.
var ErrEngineUnreachable = errors.New("the Docker engine is not reachable")

// tailLines is how much of a failed command's output an error carries.
const tailLines = 12

// run runs name with args and returns its combined output. A command that cannot
// start, exits non-zero or outlives ctx is an error; script's exit status alone
// would report 0 for a missing program, so the pipe's error is what counts.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runEnv(ctx, nil, name, args...)
}

func runEnv(ctx context.Context, env []string, name string, args ...string) (string, error) {
	p := script.NewPipe().WithContext(ctx)
	if env != nil {
		p = p.WithEnv(env)
	}
	out, err := p.ExecCommand(name, args...).String()
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) || ctx.Err() != nil {
		return out, &CommandError{Command: commandLine(name, args), Output: out, Err: err}
	}
	return out, fmt.Errorf("%s: %w", commandLine(name, args), err)
}

// CommandError is a command that ran and failed.
type CommandError struct {
	Command string
	Output  string
	Err     error
}

func (e *CommandError) Error() string {
	tail := Tail(e.Output, tailLines)
	if tail == "" {
		return fmt.Sprintf("%s: %v", e.Command, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Command, e.Err, strings.ReplaceAll(tail, "\n", " | "))
}

func (e *CommandError) Unwrap() error { return e.Err }

// Tail returns the last n non-empty lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var kept []string
	for i := len(lines) - 1; i >= 0 && len(kept) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			kept = append([]string{l}, kept...)
		}
	}
	return strings.Join(kept, "\n")
}

// outputLines splits what a command printed into its non-empty lines,
// keeping the spaces and tabs at their ends: a --format whose last column
// is empty (a worker's manager status, the project label of a container
// outside compose) ends its line with a tab, and trimming the whole output
// would drop that column from the last line alone.
func outputLines(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func commandLine(name string, args []string) string {
	return strings.TrimSpace(name + " " + strings.Join(args, " "))
}

// Available reports whether a program is on PATH.
func Available(program string) bool {
	_, err := exec.LookPath(program)
	return err == nil
}
