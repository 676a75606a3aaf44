package docker

import (
	"context"
	"fmt"
	"io"
	"os/exec"
)

// Stream runs name with args in dir, copying its output to out as it comes (for
// long commands whose progress the operator should see, like go test).
func Stream(ctx context.Context, out io.Writer, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	if env != nil {
		cmd.Env = env
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", commandLine(name, args), err)
	}
	return nil
}

// Output runs name with args in dir and returns its combined output.
func Output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), &CommandError{Command: commandLine(name, args), Output: string(out), Err: err}
	}
	return string(out), nil
}
