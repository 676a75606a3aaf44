package docker

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRunOfAMissingProgramIsAnErrorNamingIt(t *testing.T) {
	const program = "swiftdeploy-no-such-program"
	_, err := run(context.Background(), program, "--version")
	if err == nil {
		t.Fatalf("run(%s) = nil error, want a failure to start", program)
	}
	if !strings.Contains(err.Error(), program) {
		t.Errorf("error %q does not name %s", err, program)
	}
}

func TestRunOfAFailingCommandCarriesCommandExitStatusAndOutputTail(t *testing.T) {
	out, err := run(context.Background(), "sh", "-c", "echo out; echo err >&2; exit 3")
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) {
		t.Fatalf("run error = %v (%T), want a *CommandError", err, err)
	}
	if out != "out\nerr\n" {
		t.Errorf("output = %q, want stdout and stderr combined", out)
	}
	msg := err.Error()
	for _, want := range []string{"sh -c echo out; echo err >&2; exit 3", "exit status 3", "out | err"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

func TestRunStopsAtTheContextsEnd(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"already cancelled", cancelled, context.Canceled},
		{"short deadline", short, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := run(tc.ctx, "sleep", "5")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Errorf("run error = %v, want it to wrap %v", err, tc.want)
				}
				var cmdErr *CommandError
				if !errors.As(err, &cmdErr) {
					t.Errorf("run error = %T, want a *CommandError", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("run did not return after its context ended")
			}
		})
	}
}

func TestTailKeepsTheLastNonEmptyLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"fewer lines than n", "a\nb\n", 5, "a\nb"},
		{"blank lines skipped", "a\n\nb\n  \nc\n\n", 2, "b\nc"},
		{"lines trimmed", "  a  \n\tb\t\n", 2, "a\nb"},
		{"last line only", "first\nsecond\nthird", 1, "third"},
		{"empty input", "", 3, ""},
		{"only blanks", "\n \n\t\n", 3, ""},
		{"zero lines", "a\nb", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Tail(tc.in, tc.n); got != tc.want {
				t.Errorf("Tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestProjectFilesAddsTheOverrideOnlyWhenItExists(t *testing.T) {
	dir := t.TempDir()
	p := Project{Name: "swiftdeploy", Dir: dir, File: "docker-compose.yml"}
	generated := filepath.Join(dir, "docker-compose.yml")

	if got, want := p.Files(), []string{generated}; !slices.Equal(got, want) {
		t.Errorf("without override: Files() = %q, want %q", got, want)
	}
	override := filepath.Join(dir, OverrideFile)
	if err := os.WriteFile(override, []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Files(), []string{generated, override}; !slices.Equal(got, want) {
		t.Errorf("with override: Files() = %q, want %q", got, want)
	}
}

func TestPingWithoutADockerCommandSaysItIsNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Ping(context.Background())
	if !errors.Is(err, ErrEngineUnreachable) {
		t.Fatalf("Ping error = %v, want ErrEngineUnreachable", err)
	}
	if !strings.Contains(err.Error(), "not installed") {
		t.Errorf("error %q does not say docker is not installed", err)
	}
}

func TestPingReportsWhatAFakeDockerCLIAnswers(t *testing.T) {
	const cannotConnect = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	for _, tc := range []struct {
		name        string
		script      string
		wantVersion string // "" when Ping must fail with ErrEngineUnreachable
		wantInErr   string
	}{
		{"daemon down, exit 1", "echo '" + cannotConnect + "' >&2\nexit 1\n", "", "Cannot connect"},
		{"daemon down, exit 0", "echo '" + cannotConnect + "'\n", "", "Cannot connect"},
		{"empty answer", "exit 0\n", "", "docker info answered"},
		{"daemon up", "echo 27.3.1\n", "27.3.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\n"+tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", dir)
			version, err := Ping(context.Background())
			if tc.wantVersion != "" {
				if err != nil || version != tc.wantVersion {
					t.Fatalf("Ping() = %q, %v; want %q, nil", version, err, tc.wantVersion)
				}
				return
			}
			if !errors.Is(err, ErrEngineUnreachable) {
				t.Fatalf("Ping error = %v, want ErrEngineUnreachable", err)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantInErr)
			}
		})
	}
}

func TestLogDirTarHoldsAWorldWritableStickyLogFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logdir.tar")
	if err := writeLogDirTar(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	modes := map[string]int64{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeDir {
			t.Errorf("entry %s has type %q, want a directory", hdr.Name, hdr.Typeflag)
		}
		modes[hdr.Name] = hdr.Mode
	}
	want := map[string]int64{"var/": 0o755, "var/log/": 0o755, AppLogDir: 0o1777}
	for name, mode := range want {
		got, ok := modes[name]
		if !ok {
			t.Errorf("tar has no entry %s (entries: %v)", name, modes)
			continue
		}
		if got != mode {
			t.Errorf("entry %s has mode %#o, want %#o", name, got, mode)
		}
	}
	if len(modes) != len(want) {
		t.Errorf("tar entries = %v, want only %v", modes, want)
	}
}
