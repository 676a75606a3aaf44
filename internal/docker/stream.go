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

// Go runs the go command in dir (go -C dir ...) and returns its output.
func Go(ctx context.Context, dir string, args ...string) (string, error) {
	return run(ctx, "go", append([]string{"-C", dir}, args...)...)
}
