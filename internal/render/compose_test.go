package render

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// composeFile is the part of docker-compose.yml the tests look at.
type composeFile struct {
	Name     string
	Services map[string]composeService
	Networks map[string]struct{ Name, Driver string }
	Volumes  map[string]struct{ Name string }
}

type composeService struct {
	Image       string
	Environment map[string]string
	Expose      []string
	Ports       []string
	User        string
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
	Restart     string
	Healthcheck struct{ Test []string }
	Labels      map[string]string
	DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	Volumes     []string
	Networks    []string
}

// parseCompose renders m and decodes the compose file both as a struct and as
// a node tree, for the checks that depend on how a scalar is written.
func parseCompose(t *testing.T, m *manifest.Manifest) (composeFile, *yaml.Node) {
	t.Helper()
	data := renderAll(t, m, DefaultProject)[ComposeFile]
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("compose file is not YAML: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return c, doc.Content[0]
}

// lookup follows mapping keys from n; nil when a key is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func TestComposeFileCarriesTheManifest(t *testing.T) {
	for _, name := range manifests {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			c, _ := parseCompose(t, m)
			if c.Name != DefaultProject {
				t.Errorf("name %q, want %q", c.Name, DefaultProject)
			}
			if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, []string{"app", "nginx", ResolverHost}) {
				t.Fatalf("services %v, want app, nginx and %s", got, ResolverHost)
			}
			checkApp(t, m, c.Services["app"])
			checkNginxService(t, m, c.Services["nginx"])
			checkResolver(t, c.Services[ResolverHost])
			if net := c.Networks["net"]; net.Name != m.Network.Name || net.Driver != m.Network.DriverType {
				t.Errorf("network %+v, want name %q driver %q", net, m.Network.Name, m.Network.DriverType)
			}
			if v := c.Volumes["logs"]; v.Name != m.Services.LogVolume {
				t.Errorf("log volume %q, want %q", v.Name, m.Services.LogVolume)
			}
		})
	}
}

func checkApp(t *testing.T, m *manifest.Manifest, app composeService) {
	t.Helper()
	if app.Image != m.Services.Image {
		t.Errorf("app image %q, want %q", app.Image, m.Services.Image)
	}
	port := strconv.Itoa(m.Services.Port)
	if !slices.Equal(app.Expose, []string{port}) {
		t.Errorf("app expose %q, want [%s]", app.Expose, port)
	}
	if app.Ports != nil {
		t.Errorf("app publishes ports %q: it must be reachable only through nginx", app.Ports)
	}
	wantEnv := map[string]string{"MODE": m.Services.Mode, "APP_VERSION": m.Services.Version, "APP_PORT": port}
	for k, v := range wantEnv {
		if app.Environment[k] != v {
			t.Errorf("app environment %s=%q, want %q", k, app.Environment[k], v)
		}
	}
	if !strings.Contains(strings.Join(app.Healthcheck.Test, " "), "/swiftdeploy-app healthcheck") {
		t.Errorf("app healthcheck %q does not run /swiftdeploy-app healthcheck", app.Healthcheck.Test)
	}
	if app.Restart != m.Services.RestartPolicy {
		t.Errorf("app restart %q, want %q", app.Restart, m.Services.RestartPolicy)
	}
	if !slices.Contains(app.Volumes, "logs:"+LogDir) || !slices.Equal(app.Networks, []string{"net"}) {
		t.Errorf("app volumes %q networks %q, want the log volume and the stack network", app.Volumes, app.Networks)
	}
	checkHardened(t, "app", app)
}

// The resolver runs the image setup builds, reads its routes from the folder
// SwiftDeploy writes them to (and writes its served file there), and is
// hardened like the app.
func checkResolver(t *testing.T, r composeService) {
	t.Helper()
	if r.Image != ResolverImage {
		t.Errorf("resolver image %q, want %q", r.Image, ResolverImage)
	}
	if !slices.Equal(r.Volumes, []string{"./" + ResolverDir + ":/etc/swiftdeploy/resolver"}) || !slices.Equal(r.Networks, []string{"net"}) {
		t.Errorf("resolver volumes %q networks %q, want the routes folder and the stack network", r.Volumes, r.Networks)
	}
	if r.Restart != "unless-stopped" {
		t.Errorf("resolver restart %q, want unless-stopped whatever the app's policy", r.Restart)
	}
	if r.Ports != nil {
		t.Errorf("resolver publishes ports %q", r.Ports)
	}
	checkHardened(t, ResolverHost, r)
}

func checkNginxService(t *testing.T, m *manifest.Manifest, nginx composeService) {
	t.Helper()
	if nginx.Image != m.Nginx.Image {
		t.Errorf("nginx image %q, want %q", nginx.Image, m.Nginx.Image)
	}
	port := strconv.Itoa(m.Nginx.Port)
	admin := "127.0.0.1::" + strconv.Itoa(AdminPort(m))
	if !slices.Equal(nginx.Ports, []string{port + ":" + port, admin}) {
		t.Errorf("nginx ports %q, want [%s:%s %s]: the public port, and the admin listener on loopback only", nginx.Ports, port, port, admin)
	}
	if got := nginx.DependsOn["app"].Condition; got != "service_healthy" {
		t.Errorf("nginx depends on app with condition %q, want service_healthy", got)
	}
	if nginx.Restart != m.Services.RestartPolicy {
		t.Errorf("nginx restart %q, want %q", nginx.Restart, m.Services.RestartPolicy)
	}
	if !slices.Contains(nginx.Volumes, "logs:"+LogDir) || !slices.Equal(nginx.Networks, []string{"net"}) {
		t.Errorf("nginx volumes %q networks %q, want the log volume and the stack network", nginx.Volumes, nginx.Networks)
	}
	checkHardened(t, "nginx", nginx)
}

// checkHardened checks the settings both containers share: a non-root user, a
// read-only root filesystem, no capabilities and no privilege escalation.
func checkHardened(t *testing.T, name string, s composeService) {
	t.Helper()
	uid, _, _ := strings.Cut(s.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("%s user %q, want a numeric non-root user", name, s.User)
	}
	if !s.ReadOnly {
		t.Errorf("%s read_only is false", name)
	}
	if !slices.Equal(s.CapDrop, []string{"ALL"}) {
		t.Errorf("%s cap_drop %q, want [ALL]", name, s.CapDrop)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s security_opt %q, want no-new-privileges:true", name, s.SecurityOpt)
	}
}

// YAML 1.1 readers take an unquoted no as false and 1.10 as the number 1.1, so
// these values must be written as quoted strings.
func TestComposeQuotesValuesYAMLWouldRetype(t *testing.T) {
	m := load(t, "custom")
	m.Services.Version = "1.10"
	_, root := parseCompose(t, m)
	cases := []struct {
		path []string
		want string
	}{
		{[]string{"services", "app", "restart"}, "no"},
		{[]string{"services", "nginx", "restart"}, "no"},
		{[]string{"services", "app", "environment", "APP_VERSION"}, "1.10"},
		{[]string{"services", "app", "environment", "APP_PORT"}, "9000"},
	}
	for _, c := range cases {
		n := lookup(root, c.path...)
		where := strings.Join(c.path, ".")
		switch {
		case n == nil:
			t.Errorf("%s is missing", where)
		case n.Value != c.want || n.Tag != "!!str":
			t.Errorf("%s = %s %q, want the string %q", where, n.Tag, n.Value, c.want)
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0:
			t.Errorf("%s = %q is not quoted", where, n.Value)
		}
	}
}

// nginx's service never changes with nginx.conf: a changed configuration
// is read by a reload of the running nginx (platform.Compose), and
// recreating the container would cut every open connection.
func TestComposeNginxServiceStaysTheSameWhenNginxConfChanges(t *testing.T) {
	service := func(m *manifest.Manifest) composeService {
		c, _ := parseCompose(t, m)
		return c.Services["nginx"]
	}
	stable := load(t, "defaults")
	slower := load(t, "defaults")
	slower.Nginx.ProxyTimeout++
	if !reflect.DeepEqual(service(stable), service(slower)) {
		t.Errorf("nginx's service changed with nginx.conf: %+v, then %+v", service(stable), service(slower))
	}
}
