package render

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
)

// renderNginx renders m and returns nginx.conf.
func renderNginx(t *testing.T, m *manifest.Manifest) string {
	t.Helper()
	return string(renderAll(t, m, DefaultProject)[NginxConf])
}

// directive returns the arguments of every `name ...;` directive in conf.
func directive(conf, name string) []string {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+([^;\n]*);`)
	var args []string
	for _, m := range re.FindAllStringSubmatch(conf, -1) {
		args = append(args, m[1])
	}
	return args
}

// only checks that conf has exactly one `name` directive and that its arguments are want.
func only(t *testing.T, conf, name, want string) {
	t.Helper()
	got := directive(conf, name)
	if len(got) != 1 || got[0] != want {
		t.Errorf("%s directives %q, want exactly one with %q", name, got, want)
	}
}

// servers splits nginx.conf into its two server blocks: the public port's
// and the admin listener's.
func servers(t *testing.T, conf string) (public, admin string) {
	t.Helper()
	blocks := regexp.MustCompile(`(?s)\n    server \{(.*?)\n    \}`).FindAllStringSubmatch(conf, -1)
	if len(blocks) != 2 {
		t.Fatalf("%d server blocks, want the public one and the admin listener:\n%s", len(blocks), conf)
	}
	return blocks[0][1], blocks[1][1]
}

// stream splits a server block into its location @stream and the rest.
func stream(t *testing.T, server string) (stream, rest string) {
	t.Helper()
	re := regexp.MustCompile(`(?s)\n        location @stream \{(.*?)\n        \}`)
	m := re.FindStringSubmatchIndex(server)
	if m == nil {
		t.Fatalf("no location @stream in the server block:\n%s", server)
	}
	return server[m[2]:m[3]], server[:m[0]] + server[m[1]:]
}

// Ordinary requests wait nginx.proxy_timeout; streams (@stream) may stay
// idle for nginx.stream_timeout.
func TestNginxConfCarriesThePortAndTimeouts(t *testing.T) {
	for _, name := range manifests {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			conf := renderNginx(t, m)
			public, admin := servers(t, conf)
			timeout := strconv.Itoa(m.Nginx.ProxyTimeout) + "s"
			streamTimeout := strconv.Itoa(m.Nginx.StreamTimeout) + "s"
			only(t, public, "listen", strconv.Itoa(m.Nginx.Port))
			only(t, admin, "listen", strconv.Itoa(AdminPort(m)))
			for _, block := range []string{public, admin} {
				streams, rest := stream(t, block)
				only(t, rest, "proxy_send_timeout", timeout)
				only(t, rest, "proxy_read_timeout", timeout)
				// The connect timeout covers the first SYN retransmit of an
				// app whose accept queue is full.
				only(t, block, "proxy_connect_timeout", strconv.Itoa(min(m.Nginx.ProxyTimeout*1000, 1500))+"ms")
				// A try after a read timeout would begin past
				// proxy_timeout: a slow request is never sent again.
				only(t, block, "proxy_next_upstream_timeout", timeout)
				only(t, streams, "proxy_send_timeout", streamTimeout)
				only(t, streams, "proxy_read_timeout", streamTimeout)
			}
			app := "app:" + strconv.Itoa(m.Services.Port) + " resolve"
			canary := CanaryHost + ":" + strconv.Itoa(m.Services.Port) + " resolve"
			if got := strings.Join(directive(conf, "server"), " | "); got != "stable.swiftdeploy service=http resolve max_fails=0 | canary.swiftdeploy service=http resolve max_fails=1 fail_timeout=10s | backup.swiftdeploy service=http resolve backup max_fails=0 | "+canary+" | "+app+" backup max_fails=0 | "+app {
				t.Errorf("upstream servers %q", got)
			}
		})
	}
}

func TestTheAdminListenerNeverTakesThePublicPort(t *testing.T) {
	m := load(t, "defaults")
	m.Nginx.Port = AdminPort(m)
	public, admin := servers(t, renderNginx(t, m))
	if directive(public, "listen")[0] == directive(admin, "listen")[0] {
		t.Errorf("both servers listen on %s", directive(public, "listen")[0])
	}
}

// SwiftDeploy's probes are on the admin listener alone; the app's /chaos and
// /metrics are on the public port too unless the manifest says otherwise.
func TestThePublicPortServesTheAppAndAdminPathsAsTheManifestSays(t *testing.T) {
	for _, open := range []bool{true, false} {
		m := load(t, "defaults")
		m.Nginx.PublicAdminPaths = open
		public, admin := servers(t, renderNginx(t, m))
		for _, path := range []string{ProbePath, RoutedProbePath} {
			if strings.Contains(public, path) || !strings.Contains(admin, "location = "+path+" {") {
				t.Errorf("public_admin_paths %v: %s must be on the admin listener only", open, path)
			}
		}
		for _, path := range []string{"/chaos", "/metrics"} {
			blocked := regexp.MustCompile(`location = ` + path + ` \{\s*return 404 `).MatchString(public)
			if blocked == open {
				t.Errorf("public_admin_paths %v: public port blocks %s: %v", open, path, blocked)
			}
			if strings.Contains(admin, "location = "+path) {
				t.Errorf("the admin listener must pass %s to the app", path)
			}
		}
	}
}

// The app is reached through upstream pools that keep idle connections and
// follow the resolver's answers (resolve needs a pool in a shared zone):
// every request goes to the weighted app pool unless X-Canary forces a
// side, with HTTP/1.1 and no Connection header unless it asks for an upgrade,
// or nginx would close each connection after one request; the probe goes to
// the stable pool.
func TestNginxConfReachesTheAppThroughKeepAlivePools(t *testing.T) {
	m := load(t, "defaults")
	m.Rollout.Sticky = false
	conf := renderNginx(t, m)
	for _, pool := range []string{"app", "app_canary", "app_stable"} {
		upstream := regexp.MustCompile(`(?s)upstream ` + pool + ` \{(.*?)\n    \}`).FindStringSubmatch(conf)
		if upstream == nil {
			t.Fatalf("no upstream %s block:\n%s", pool, conf)
		}
		only(t, upstream[1], "keepalive", "64")
		only(t, upstream[1], "keepalive_timeout", "4s")
		if z := directive(upstream[1], "zone"); len(z) != 1 || !strings.HasPrefix(z[0], pool+" ") {
			t.Errorf("upstream %s zone %q", pool, z)
		}
	}
	public, admin := servers(t, conf)
	// Every path, its two resends (after a 502 and a 504) and every stream.
	routed := "http://$swiftdeploy_route http://$swiftdeploy_route http://$swiftdeploy_route http://$swiftdeploy_route"
	if got := directive(public, "proxy_pass"); strings.Join(got, " ") != routed {
		t.Errorf("public proxy_pass directives %q, want the routed pool for every path and every stream", got)
	}
	if got := directive(admin, "proxy_pass"); strings.Join(got, " ") != routed+" http://app_stable/healthz http://app/healthz" {
		t.Errorf("admin proxy_pass directives %q, want the routed pool for every path and every stream, and the stable and weighted ones' /healthz for the probes", got)
	}
	for _, block := range []string{public, admin} {
		only(t, block, "proxy_http_version", "1.1")
		only(t, block, "proxy_set_header Connection", "$swiftdeploy_connection")
	}
	connection := regexp.MustCompile(`(?s)map \$http_upgrade \$swiftdeploy_connection \{(.*?)\n    \}`).FindStringSubmatch(conf)
	if connection == nil {
		t.Fatalf("no map of $http_upgrade to $swiftdeploy_connection:\n%s", conf)
	}
	only(t, connection[1], `""`, `""`) // no Upgrade: no Connection header
	only(t, connection[1], "default", "upgrade")
	// No valid=: the resolver's TTL of 0 has nginx ask again every second.
	only(t, conf, "resolver", ResolverHost+":"+strconv.Itoa(ResolverPort)+" ipv6=off")
	if !strings.Contains(conf, ">= "+NginxMinVersion) {
		t.Errorf("nginx.conf does not say which nginx it needs (%s)", NginxMinVersion)
	}
	if strings.Contains(conf, "sticky") {
		t.Errorf("a manifest without rollout.sticky renders a sticky cookie:\n%s", directive(conf, "sticky"))
	}
	m.Rollout.Sticky = true
	only(t, renderNginx(t, m), "sticky", "cookie "+StickyCookie+" path=/ httponly samesite=lax")
}

// nginx records requests in the release log only while SwiftDeploy's
// marker is there, and looks for it through the open file cache.
func TestNginxRecordsRequestsWhileTheMarkerIsThere(t *testing.T) {
	conf := renderNginx(t, load(t, "defaults"))
	only(t, conf, "access_log "+MountedReleaseLogDir+"/requests.log", "swiftdeploy_release buffer=64k flush=250ms if=$swiftdeploy_recording")
	only(t, conf, "open_file_cache_valid", "1s")
	public, admin := servers(t, conf)
	for _, block := range []string{public, admin} {
		if !strings.Contains(block, "if (-f "+MountedReleaseLogDir+"/recording) {") {
			t.Errorf("a server does not look for the marker:\n%s", block)
		}
	}
}

// A location with an add_header of its own drops every inherited one, so the
// header is added at server level, and again in the locations that add a
// header of their own (SwiftDeploy's probes); the app's own copy is hidden.
func TestNginxConfAddsXDeployedByExactlyOnce(t *testing.T) {
	conf := renderNginx(t, load(t, "defaults"))
	for _, path := range []string{ProbePath, RoutedProbePath} {
		probe := regexp.MustCompile(`(?s)location = ` + regexp.QuoteMeta(path) + ` \{(.*?)\n        \}`).FindStringSubmatch(conf)
		if probe == nil {
			t.Fatalf("no probe location %s:\n%s", path, conf)
		}
		if got := directive(probe[1], "add_header"); strings.Join(got, "|") != "X-Deployed-By swiftdeploy always|"+UpstreamHeader+" $upstream_addr always" {
			t.Errorf("the probe's add_header directives %q", got)
		}
		conf = strings.Replace(conf, probe[1], "", 1)
	}
	public, admin := servers(t, conf)
	for _, block := range []string{public, admin} {
		only(t, block, "add_header", "X-Deployed-By swiftdeploy always")
		only(t, block, "proxy_hide_header", "X-Deployed-By")
	}
}

func TestNginxConfLogsTheSpecLine(t *testing.T) {
	conf := renderNginx(t, load(t, "defaults"))
	if f := directive(conf, "log_format"); len(f) != 2 || f[0] != `swiftdeploy '$time_iso8601 | $status | ${request_time}s | $upstream_addr | $request'` {
		t.Errorf("log_format directives %q, want the spec's line first", f)
	}
	access := directive(conf, "access_log")
	// The health probes are SwiftDeploy's own, not clients' requests.
	want := []string{"/dev/stdout swiftdeploy buffer=32k flush=1s", LogDir + "/nginx-access.log swiftdeploy buffer=64k flush=1s",
		MountedReleaseLogDir + "/requests.log swiftdeploy_release buffer=64k flush=250ms if=$swiftdeploy_recording", "off", "off"}
	if strings.Join(access, "\n") != strings.Join(want, "\n") {
		t.Errorf("access_log directives %q, want %q", access, want)
	}
}

func TestNginxErrorPagesAreJSONWithTheContact(t *testing.T) {
	cases := []struct{ name, contact string }{
		{"empty", ""},
		{"plain", "ops@example.com"},
		{"apostrophe, dollar and backslash", `O'Brien pays $5 at C:\ops\`},
		{"nginx variable", "${request_time} $host"},
		{"JSON specials", "say \"hi\" <ops> & co\ttab\nline"},
		{"non-ASCII", "Zoë – ☎ +44"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := load(t, "custom")
			m.Contact = c.contact
			checkErrorPages(t, renderNginx(t, m), c.contact)
		})
	}
	for _, name := range manifests {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			checkErrorPages(t, renderNginx(t, m), m.Contact)
		})
	}
}

// nginxString is a single-quoted nginx string, in which \' and \\ are escapes.
const nginxString = `'((?:[^'\\]|\\.)*)'`

var errorPage = regexp.MustCompile(`(?m)^\s*error_page (\d+) (?:=(\d+) )?(@\w+);`)

// checkErrorPages checks that 502, 503 and 504 each go to a named location
// answering application/json with the body the spec gives.
func checkErrorPages(t *testing.T, conf, contact string) {
	t.Helper()
	type page struct{ loc, status string }
	pages := map[string]page{}
	for _, m := range errorPage.FindAllStringSubmatch(conf, -1) {
		status := m[1]
		if m[2] != "" {
			status = m[2] // error_page 494 =431 @page answers 431
		}
		pages[m[1]] = page{m[3], status}
	}
	for code, want := range map[string]string{"413": "413", "494": "431", "502": "502", "503": "503", "504": "504"} {
		p, ok := pages[code]
		if !ok || p.status != want {
			t.Errorf("error_page for %s: %+v, want one answering %s", code, p, want)
			continue
		}
		re := regexp.MustCompile(`location ` + p.loc + ` \{\s*default_type application/json;\s*return ` + want + ` ` + nginxString + `;`)
		m := re.FindStringSubmatch(conf)
		if m == nil {
			t.Errorf("location %s does not return %s as application/json", p.loc, want)
			continue
		}
		checkBody(t, want, m[1], "app", contact)
	}
}

// checkBody decodes one return body as nginx would send it and checks its fields.
func checkBody(t *testing.T, status, raw, service, contact string) {
	t.Helper()
	// nginx reads every '$' in a return text as the start of a variable.
	if strings.Contains(raw, "$") {
		t.Errorf("%s body %s holds a '$'", status, raw)
	}
	var body struct {
		Error   string
		Code    any // a json.Number, with UseNumber; a quoted code stays a string
		Service string
		Contact string
	}
	dec := json.NewDecoder(strings.NewReader(nginxUnescape(raw)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Errorf("%s body %s is not the JSON document the spec gives: %v", status, raw, err)
		return
	}
	if code, _ := body.Code.(json.Number); code.String() != status || body.Error == "" || body.Service != service || body.Contact != contact {
		t.Errorf("%s body decodes to %+v, want code %s, an error, service %q and contact %q", status, body, status, service, contact)
	}
}

// nginxUnescape does what nginx's configuration reader does to a quoted string:
// \" \' and \\ lose their backslash, \t \r \n become control characters, and a
// backslash before anything else stays.
func nginxUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if r, ok := nginxEscapes[s[i+1]]; ok {
				b.WriteByte(r)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var nginxEscapes = map[byte]byte{'"': '"', '\'': '\'', '\\': '\\', 't': '\t', 'r': '\r', 'n': '\n'}

func TestNginxUnescapeFollowsNginx(t *testing.T) {
	cases := map[string]string{
		`it\'s`:     `it's`,
		`a\\b`:      `a\b`,
		`\\u0024`:   `\u0024`,
		`\u0024`:    `\u0024`,
		`line\n`:    "line\n",
		`\"q\"`:     `"q"`,
		`tail\`:     `tail\`,
		`\\\'\\\\x`: `\'\\x`,
	}
	for in, want := range cases {
		if got := nginxUnescape(in); got != want {
			t.Errorf("nginxUnescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNginxWritesADollarInTheContactAsAUnicodeEscape(t *testing.T) {
	m := load(t, "custom")
	m.Contact = "$5"
	conf := renderNginx(t, m)
	if !strings.Contains(conf, `"contact": "\\u00245"`) {
		t.Errorf("contact $5 is not written as \\\\u00245 (\\u0024 once nginx has read it):\n%s", directive(conf, "return"))
	}
}

// Every path goes to the app: an app's own /v1/... API must never be blocked
// by a location of nginx's own; the public port has no SwiftDeploy path.
func TestNginxSendsEveryPathToTheApp(t *testing.T) {
	public, admin := servers(t, renderNginx(t, load(t, "canary")))
	pages := []string{"@headers_too_large", "@too_large", "@bad_gateway", "@unavailable", "@gateway_timeout"}
	for _, c := range []struct {
		name, block string
		want        []string
	}{
		{"public", public, append([]string{"/", "@resend_bad_gateway", "@resend_gateway_timeout", "@stream"}, pages...)},
		{"admin", admin, append(append([]string{"/", "@resend_bad_gateway", "@resend_gateway_timeout", "@stream"}, pages...), "= "+ProbePath, "= "+RoutedProbePath)},
	} {
		locations := regexp.MustCompile(`location\s+([^{]*)\{`).FindAllStringSubmatch(c.block, -1)
		var got []string
		for _, l := range locations {
			got = append(got, strings.TrimSpace(l[1]))
		}
		if strings.Join(got, " | ") != strings.Join(c.want, " | ") {
			t.Errorf("%s locations %q, want %q", c.name, got, c.want)
		}
	}
}

// WebSockets and streams: an upgrade request, or a request for Server-Sent
// Events, is handed from location / to @stream, which sends it where location /
// would (the pool, or the release's side), with its Upgrade header, unbuffered;
// the JSON error pages still answer there. Ordinary requests keep nginx's
// buffering, and nginx still honours an app's X-Accel-Buffering.
func TestNginxPassesWebSocketsAndStreams(t *testing.T) {
	for _, c := range []struct {
		name   string
		rel    *Release
		target string
	}{
		{"steady", nil, "http://$swiftdeploy_route"},
		{"release", &Release{Canary: manifest.Build{Image: "team/app:1.1", Version: "1.1.0"}, Weight: 25, Sticky: true}, "http://$swiftdeploy_route"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files, err := RenderRelease(templatesDir, load(t, "custom"), DefaultProject, c.rel)
			if err != nil {
				t.Fatal(err)
			}
			conf := string(files[0].Data)
			for name, want := range map[string]string{
				`map \$http_upgrade \$swiftdeploy_stream`:      "\n        default 1;\n        \"\"      $swiftdeploy_event_stream;\n",
				`map \$http_accept \$swiftdeploy_event_stream`: "\n        default           \"\";\n        text/event-stream 1;\n",
			} {
				m := regexp.MustCompile(`(?s)` + name + ` \{(.*?)    \}`).FindStringSubmatch(conf)
				if m == nil || m[1] != want {
					t.Errorf("%s is %q, want %q", name, m, want)
				}
			}
			if strings.Contains(conf, "proxy_ignore_headers") {
				t.Error("nginx.conf ignores some of the app's X-Accel headers: X-Accel-Buffering: no must unbuffer a stream")
			}
			public, admin := servers(t, conf)
			for _, block := range []string{public, admin} {
				streams, rest := stream(t, block)
				only(t, rest, "proxy_set_header Upgrade", "$http_upgrade")
				only(t, rest, "error_page 418", "= @stream")
				root := regexp.MustCompile(`(?s)\n        location / \{(.*?)\n        \}`).FindStringSubmatch(rest)
				if root == nil {
					t.Fatalf("no location /:\n%s", rest)
				}
				if !strings.Contains(root[1], "if ($swiftdeploy_stream) {\n                return 418;\n            }") {
					t.Errorf("location / does not hand streams to @stream:%s", root[1])
				}
				only(t, root[1], "recursive_error_pages", "on")
				only(t, root[1], "proxy_pass", c.target)
				only(t, streams, "proxy_pass", c.target)
				only(t, streams, "proxy_buffering", "off")
				if got := directive(rest, "proxy_buffering"); got != nil {
					t.Errorf("ordinary requests have proxy_buffering %q, want nginx's default", got)
				}
				for _, d := range []string{"proxy_set_header", "add_header", "error_page", "access_log"} {
					if got := directive(streams, d); got != nil {
						t.Errorf("@stream has %s %q of its own, which would drop the server's", d, got)
					}
				}
			}
		})
	}
}

// A stream's line in the release log gives the time to its response's
// header, not how long it stayed open: one long WebSocket must not make the
// P99 a release is judged on.
func TestTheReleaseLogTimesAStreamToItsHeader(t *testing.T) {
	files, err := RenderRelease(templatesDir, load(t, "custom"), DefaultProject, &Release{Canary: manifest.Build{Image: "team/app:1.1", Version: "1.1.0"}, Weight: 25})
	if err != nil {
		t.Fatal(err)
	}
	conf := string(files[0].Data)
	only(t, conf, "log_format swiftdeploy_release", `'$msec|$swiftdeploy_route|$status|$upstream_addr|$upstream_status|$swiftdeploy_upstream_time|$uri|$swiftdeploy_smoke|$request_time'`)
	m := regexp.MustCompile(`(?s)map \$swiftdeploy_stream \$swiftdeploy_upstream_time \{(.*?)\n    \}`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("no map of $swiftdeploy_stream to $swiftdeploy_upstream_time:\n%s", conf)
	}
	only(t, m[1], `""`, "$upstream_response_time")
	only(t, m[1], "default", "$upstream_header_time")
}

// A request nginx failed is sent once more, from the instances nginx knows
// then, only when no byte of it reached an app: a retry that found the
// instances changed under it (a killed one leaving) is not a failure, and a
// request an app received is never sent twice.
func TestNginxResendsOnlyARequestNoAppReceived(t *testing.T) {
	conf := renderNginx(t, load(t, "defaults"))
	m := regexp.MustCompile(`(?s)map \$upstream_bytes_sent \$swiftdeploy_resend \{(.*?)\n    \}`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("no map deciding what may be sent again:\n%s", conf)
	}
	only(t, m[1], `""`, "1")
	only(t, m[1], `"~^[0, :]+$"`, "1")
	only(t, m[1], "default", `""`)
	public, _ := servers(t, conf)
	root := regexp.MustCompile(`(?s)\n        location / \{(.*?)\n        \}`).FindStringSubmatch(public)
	if got := strings.Join(directive(root[1], "error_page"), " | "); got != "413 @too_large | 418 = @stream | 502 = @resend_bad_gateway | 503 @unavailable | 504 = @resend_gateway_timeout" {
		t.Errorf("location / error pages %q", got)
	}
	for page, code := range map[string]string{"bad_gateway": "502", "gateway_timeout": "504"} {
		l := regexp.MustCompile(`(?s)location @resend_` + page + ` \{(.*?)\n        \}`).FindStringSubmatch(public)
		if l == nil || !strings.Contains(l[1], "if ($swiftdeploy_resend = \"\") {\n                return "+code+";\n            }") {
			t.Errorf("@resend_%s does not give up on a request an app received: %v", page, l)
			continue
		}
		if got := strings.Join(directive(l[1], "error_page"), " | "); got != "502 @bad_gateway | 503 @unavailable | 504 @gateway_timeout" {
			t.Errorf("@resend_%s error pages %q: a second failure must answer the JSON page", page, got)
		}
	}
}

// Only a request that came in on the admin listener with the smoke header
// is logged as smoke (routelog.SmokeMark): a client's copy of the header on
// the public port counts as a client's. The admin listener moves off 9180
// when nginx.port takes it, and the map follows.
func TestTheReleaseLogMarksSmokeOnlyFromTheAdminListener(t *testing.T) {
	for _, c := range []struct {
		nginxPort, admin int
	}{{18080, 9180}, {9180, 9181}} {
		m := load(t, "custom")
		m.Nginx.Port = c.nginxPort
		files, err := Render(templatesDir, m, DefaultProject)
		if err != nil {
			t.Fatal(err)
		}
		conf := string(files[0].Data)
		got := regexp.MustCompile(`(?s)map "\$server_port:\$http_x_swiftdeploy_smoke" \$swiftdeploy_smoke \{(.*?)\n    \}`).FindStringSubmatch(conf)
		if got == nil {
			t.Fatalf("no map of the admin port and %s to $swiftdeploy_smoke:\n%s", manifest.SmokeHeader, conf)
		}
		only(t, got[1], "default", `""`)
		only(t, got[1], fmt.Sprintf(`"%d:1"`, c.admin), routelog.SmokeMark)
		if admin := AdminPort(m); admin != c.admin {
			t.Errorf("nginx.port %d: the admin listener is on %d, want %d", c.nginxPort, admin, c.admin)
		}
	}
}

// nginx never spools an answer or a request's body to a temporary file on
// its small tmpfs /tmp, where large ones failed: once per configuration, an
// answer is never spooled, a body of up to 1 MB is held in memory, and a
// larger one (allowed by nginx.max_body_mb) goes to the app as it arrives,
// from every server's location /, and only there.
func TestNginxNeverSpoolsToATemporaryFile(t *testing.T) {
	for _, c := range []struct {
		name, manifest string
		maxBodyMB      int // -1: the manifest's own
		limit          string
		large          bool
	}{{"defaults", "defaults", -1, "1m", false}, {"canary", "canary", -1, "1m", false}, {"edge", "edge", -1, "1m", false},
		{"custom", "custom", -1, "64m", true}, {"no limit", "custom", 0, "0", true}} {
		m := load(t, c.manifest)
		if c.maxBodyMB >= 0 {
			m.Nginx.MaxBodyMB = c.maxBodyMB
		}
		conf := renderNginx(t, m)
		only(t, conf, "proxy_max_temp_file_size", "0")
		only(t, conf, "client_max_body_size", c.limit)
		sorter := regexp.MustCompile(`(?s)map "\$http_transfer_encoding:\$content_length" \$swiftdeploy_large_body \{(.*?)\n    \}`).FindStringSubmatch(conf)
		if !c.large {
			only(t, conf, "client_body_buffer_size", "1m")
			if sorter != nil || strings.Contains(conf, "@upload") || strings.Contains(conf, "proxy_request_buffering") {
				t.Errorf("%s: a limit of 1 MB needs no large-body path, got one:\n%s", c.name, conf)
			}
			continue
		}
		if sorter == nil {
			t.Fatalf("%s: no map of a body's length to $swiftdeploy_large_body:\n%s", c.name, conf)
		}
		only(t, sorter[1], `"~^:[0-9]{0,6}$"`, `""`)
		only(t, sorter[1], "default", "1")
		if got := directive(conf, "proxy_request_buffering"); !slices.Equal(got, []string{"off", "off", "off", "off"}) {
			t.Errorf("%s: proxy_request_buffering %q, want off in each server's @stream and @upload", c.name, got)
		}
		if got := directive(conf, "client_body_buffer_size"); !slices.Equal(got, []string{"1m", "64k", "64k", "64k", "64k"}) {
			t.Errorf("%s: client_body_buffer_size %q, want 1m for the bodies held, 64k in each @stream and @upload", c.name, got)
		}
		public, admin := servers(t, conf)
		for _, server := range []string{public, admin} {
			root := regexp.MustCompile(`(?s)\n        location / \{(.*?)\n        \}`).FindStringSubmatch(server)
			upload := regexp.MustCompile(`(?s)\n        location @upload \{(.*?)\n        \}`).FindStringSubmatch(server)
			if root == nil || upload == nil {
				t.Fatalf("%s: a server without location / or @upload:\n%s", c.name, server)
			}
			if !strings.Contains(root[1], "if ($swiftdeploy_large_body) {\n                return 419;\n            }") || !slices.Contains(directive(root[1], "error_page"), "419 = @upload") {
				t.Errorf("%s: location / does not send a large body to @upload:\n%s", c.name, root[1])
			}
			only(t, upload[1], "proxy_pass", "http://$swiftdeploy_route")
			only(t, upload[1], "proxy_request_buffering", "off")
			if streamed, _ := stream(t, server); !slices.Contains(directive(streamed, "proxy_request_buffering"), "off") {
				t.Errorf("%s: @stream holds a stream's body, which may now be larger than 1 MB:\n%s", c.name, streamed)
			}
		}
	}
}

// Headers as large as apps send and take pass both ways: a request's line or
// URI up to 16 KB, an answer's headers up to 16 KB, while an open stream
// keeps nginx's one page each way; headers nginx refuses get a JSON 431.
func TestNginxPassesLargeHeaders(t *testing.T) {
	conf := renderNginx(t, load(t, "defaults"))
	only(t, conf, "large_client_header_buffers", "4 16k")
	only(t, conf, "proxy_busy_buffers_size", "16k")
	only(t, conf, "proxy_buffers", "8 4k")
	if got := directive(conf, "proxy_buffer_size"); !slices.Equal(got, []string{"16k", "4k", "4k"}) {
		t.Errorf("proxy_buffer_size %q, want 16k for every answer and 4k in each server's @stream", got)
	}
	public, admin := servers(t, conf)
	for _, server := range []string{public, admin} {
		streamed, _ := stream(t, server)
		only(t, streamed, "proxy_buffer_size", "4k")
		// At the server's own level: nginx refuses headers before it has
		// chosen a location, so a location's error_page would never apply.
		outside := regexp.MustCompile(`(?s)\n        location [^{]*\{.*?\n        \}`).ReplaceAllString(server, "")
		pages := directive(outside, "error_page")
		if !slices.Contains(pages, "494 =431 @headers_too_large") {
			t.Errorf("headers over the limit do not get the JSON 431: %q", pages)
		}
		if slices.ContainsFunc(pages, func(p string) bool { return strings.HasPrefix(p, "400 ") || strings.HasPrefix(p, "414 ") }) {
			t.Errorf("an error page for 400 or 414 in the server, %q: one for a request line nginx could not read answers 500", pages)
		}
	}
}

// A header named with an underscore reaches the app, as it does straight to
// it (nginx drops it by default), while a client's underscored spelling of
// a forwarded header nginx sets is cleared: CGI, WSGI and Rack read
// X_Forwarded_For as X-Forwarded-For.
func TestNginxPassesUnderscoredHeadersButNoForgedForwardedOne(t *testing.T) {
	for _, name := range []string{"defaults", "edge"} {
		conf := renderNginx(t, load(t, name))
		only(t, conf, "underscores_in_headers", "on")
		blocks := regexp.MustCompile(`(?s)\n    server \{(.*?)\n    \}`).FindAllStringSubmatch(conf, -1)
		if len(blocks) < 2 {
			t.Fatalf("%s: %d server blocks", name, len(blocks))
		}
		for _, b := range blocks {
			server := b[1]
			locations := regexp.MustCompile(`(?s)\n        location [^{]*\{.*?\n        \}`)
			for _, l := range locations.FindAllString(server, -1) {
				if len(directive(l, "proxy_set_header")) > 0 {
					t.Errorf("%s: a location sets its own headers, so it keeps none of its server's:\n%s", name, l)
				}
			}
			set := directive(locations.ReplaceAllString(server, ""), "proxy_set_header")
			for _, h := range []string{"X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"} {
				spelt := strings.ReplaceAll(h, "-", "_")
				if !slices.ContainsFunc(set, func(d string) bool { return strings.HasPrefix(d, h+" ") }) || !slices.Contains(set, spelt+` ""`) {
					t.Errorf("%s: a server sets %q; want %s set and %s cleared", name, set, h, spelt)
				}
			}
		}
	}
}
