package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// writeManifest puts data in a fresh directory and returns its path.
func writeManifest(t *testing.T, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestSetModeOnTheSpecExampleChangesOnlyTheModeValue(t *testing.T) {
	before, err := os.ReadFile(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeManifest(t, string(before))
	if err := SetMode(path, ModeCanary); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(before), "  mode: stable   ", "  mode: canary   ", 1)
	if got := readString(t, path); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	m, err := Load(path)
	if err != nil || m.Services.Mode != ModeCanary {
		t.Errorf("reloaded mode %v, err %v; want canary", m, err)
	}
}

func TestSetModeRewritesTheValueInEachLayout(t *testing.T) {
	const rest = "  image: app:1\n  port: 3000\nnginx:\n  image: nginx:latest\n  port: 8080\nnetwork:\n  name: net\n  driver_type: bridge\n"
	cases := []struct {
		name, before, mode, after string
	}{
		{"a plain value stays plain",
			"services:\n  mode: stable\n" + rest, ModeCanary,
			"services:\n  mode: canary\n" + rest},
		{"a double-quoted value stays double-quoted",
			"services:\n  mode: \"canary\"\n" + rest, ModeStable,
			"services:\n  mode: \"stable\"\n" + rest},
		{"a single-quoted value stays single-quoted",
			"services:\n  mode: 'stable'\n" + rest, ModeCanary,
			"services:\n  mode: 'canary'\n" + rest},
		{"an escaped double-quoted value is replaced whole",
			"services:\n  mode: \"st\\x61ble\" # was stable\n" + rest, ModeCanary,
			"services:\n  mode: \"canary\" # was stable\n" + rest},
		{"a comment on the same line is kept",
			"services:\n  mode: stable   # stable | canary\n" + rest, ModeCanary,
			"services:\n  mode: canary   # stable | canary\n" + rest},
		{"a tagged value keeps its tag",
			"services:\n  mode: !!str stable\n" + rest, ModeCanary,
			"services:\n  mode: !!str canary\n" + rest},
		{"a missing key is added under services with the fields' indentation",
			"# top\nservices:  # the app\n    image: app:1\n    port: 3000\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n", ModeCanary,
			"# top\nservices:  # the app\n    mode: canary\n    image: app:1\n    port: 3000\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n"},
		{"a missing key in a flow mapping is added as its first entry",
			"services: {image: app:1, port: 3000}\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n", ModeCanary,
			"services: {mode: canary, image: app:1, port: 3000}\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n"},
		{"a value in a flow mapping after multibyte text is found",
			"contact: \"équipe\"\nservices: {image: app:1, port: 3000, mode: stable}\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n", ModeCanary,
			"contact: \"équipe\"\nservices: {image: app:1, port: 3000, mode: canary}\nnginx: {image: nginx:latest, port: 8080}\nnetwork: {name: net, driver_type: bridge}\n"},
		{"CRLF line endings are kept",
			strings.ReplaceAll("services:\n  mode: stable\n"+rest, "\n", "\r\n"), ModeCanary,
			strings.ReplaceAll("services:\n  mode: canary\n"+rest, "\n", "\r\n")},
		{"a line added to a CRLF file ends in CRLF",
			strings.ReplaceAll("services:\n"+rest, "\n", "\r\n"), ModeCanary,
			strings.ReplaceAll("services:\n  mode: canary\n"+rest, "\n", "\r\n")},
		{"a byte-order mark is kept",
			"\uFEFFservices:\n  mode: stable\n" + rest, ModeCanary,
			"\uFEFFservices:\n  mode: canary\n" + rest},
		{"the mode already set leaves the file alone",
			"services:\n  mode: 'canary'  # keep\n" + rest, ModeCanary,
			"services:\n  mode: 'canary'  # keep\n" + rest},
		{"stable by default leaves a file without the key alone",
			"services:\n" + rest, ModeStable,
			"services:\n" + rest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeManifest(t, c.before)
			if err := SetMode(path, c.mode); err != nil {
				t.Fatal(err)
			}
			if got := readString(t, path); got != c.after {
				t.Errorf("got\n%q\nwant\n%q", got, c.after)
			}
			m, err := Load(path)
			if err != nil || m.Services.Mode != c.mode {
				t.Errorf("reloaded %+v, err %v; want mode %s", m, err, c.mode)
			}
		})
	}
}

func TestSetModeRefusesBadInputAndLeavesTheFileUntouched(t *testing.T) {
	valid := readString(t, filepath.Join("testdata", "valid.yaml"))
	cases := []struct {
		name, data, mode, want string
	}{
		{"an unknown mode", valid, "blue", `mode "blue": must be one of: stable, canary`},
		{"a manifest that does not load", strings.Replace(valid, "port: 3000", "port: x", 1), ModeCanary,
			`manifest.yaml:3:9: services.port: must be an integer`},
		{"a block scalar mode", strings.Replace(valid, "  mode: stable                        # stable | canary\n", "  mode: >-\n    stable\n", 1), ModeCanary,
			"cannot rewrite services.mode in place; write it as a plain `mode: canary` line under services:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeManifest(t, c.data)
			err := SetMode(path, c.mode)
			if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an invalid-input error containing %q", err, c.want)
			}
			if got := readString(t, path); got != c.data {
				t.Errorf("file changed to\n%s", got)
			}
		})
	}
}

func TestSetModeReportsAMissingFileAsInvalidInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := SetMode(path, ModeCanary); !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an invalid-input error naming %s", err, path)
	}
}

func TestSetModeLeavesNoTemporaryFileAndKeepsPermissions(t *testing.T) {
	path := writeManifest(t, readString(t, filepath.Join("testdata", "valid.yaml")))
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetMode(path, ModeCanary); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "manifest.yaml" {
		t.Errorf("directory holds %v, want only manifest.yaml", entries)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("permissions %v, want 0600", info.Mode().Perm())
	}
}

func TestSetModeRewritesTheTargetOfASymlink(t *testing.T) {
	target := writeManifest(t, readString(t, filepath.Join("testdata", "valid.yaml")))
	link := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("symlinks unavailable:", err)
	}
	if err := SetMode(link, ModeCanary); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link replaced by a regular file (err %v)", err)
	}
	if m, err := Load(target); err != nil || m.Services.Mode != ModeCanary {
		t.Errorf("target mode %v, err %v; want canary", m, err)
	}
}
