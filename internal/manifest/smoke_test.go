package manifest

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestASmokeSectionIsReadAsWrittenWithGETByDefault(t *testing.T) {
	m, err := Parse("manifest.yaml", []byte(minimal+`rollout:
  smoke:
    paths: [/, "HEAD /v1/items?limit=5&sort=-id", "GET /a/b%20c"]
    rate: 2.5
    headers:
      authorization: Bearer t0ken
      X-Tenant: 42
      Host: shop.example.com:8443
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Smoke{
		Requests: []SmokeRequest{{"GET", "/"}, {"HEAD", "/v1/items?limit=5&sort=-id"}, {"GET", "/a/b%20c"}},
		Rate:     2.5,
		Headers:  []Header{{"Authorization", "Bearer t0ken"}, {"X-Tenant", "42"}, {"Host", "shop.example.com:8443"}},
	}
	if !reflect.DeepEqual(m.Rollout.Smoke, want) {
		t.Errorf("got  %+v\nwant %+v", m.Rollout.Smoke, want)
	}
}

func TestSmokeSendsOneRequestASecondUnlessTold(t *testing.T) {
	m, err := Parse("manifest.yaml", []byte(minimal+"rollout:\n  smoke:\n    paths: [/]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rollout.Smoke.Rate != 1 || m.Rollout.Smoke.Headers != nil {
		t.Errorf("got %+v, want rate 1 and no headers", m.Rollout.Smoke)
	}
	if m, _ := Parse("manifest.yaml", []byte(minimal)); m.Rollout.Smoke != nil {
		t.Errorf("a manifest without rollout.smoke has smoke %+v", m.Rollout.Smoke)
	}
}

func TestSmokeMistakesAreReportedAtTheirField(t *testing.T) {
	cases := []struct{ smoke, want string }{
		{"smoke: {rate: 1}", "manifest.yaml:11:10: rollout.smoke.paths: required field is missing"},
		{"smoke: {paths: []}", "rollout.smoke.paths: must be a list of requests such as [/, HEAD /v1/items?limit=5] (1 to 20 of them), got a list"},
		{"smoke: {paths: /}", `rollout.smoke.paths: must be a list of requests`},
		{"smoke: {paths: [POST /orders]}", "manifest.yaml:11:19: rollout.smoke.paths[0]: must be safe to repeat: smoke requests are GET or HEAD only, not POST"},
		{"smoke: {paths: [/, DELETE /orders/1]}", "rollout.smoke.paths[1]: must be safe to repeat: smoke requests are GET or HEAD only, not DELETE"},
		{"smoke: {paths: [get /]}", `rollout.smoke.paths[0]: must be a path such as /v1/items, or GET or HEAD then a space and the path, got "get /"`},
		{"smoke: {paths: [items]}", `rollout.smoke.paths[0]: must be a path starting with /`},
		{"smoke: {paths: ['/a b']}", `must be a path starting with /`},
		{"smoke: {paths: ['/a#top']}", `must be a path starting with /`},
		{"smoke: {paths: ['/a/../etc/passwd']}", `no spaces, '#', '..' or '.' segments`},
		{"smoke: {paths: ['//evil.example/x']}", `must be a path starting with /`},
		{"smoke: {paths: ['/%zz']}", `must be a path starting with /`},
		{"smoke: {paths: [/caf\u00e9]}", `must be a path starting with /`},
		{"smoke: {paths: [/" + strings.Repeat("a", 1024) + "]}", `at most 1024 characters`},
		{"smoke: {paths: [/healthz]}", "rollout.smoke.paths[0]: is never judged (probes and SwiftDeploy's own calls are left out of a step's figures): name a path of the application, got \"/healthz\""},
		{"smoke: {paths: ['/metrics?x=1']}", "is never judged"},
		{"smoke: {paths: [/.well-known/swiftdeploy/probe]}", "is never judged"},
		{"smoke: {paths: [/, 'GET /']}", "rollout.smoke.paths[1]: GET / is listed twice (first at line 11)"},
		{"smoke: {paths: [42]}", `rollout.smoke.paths[0]: must be a request such as / or HEAD /v1/items, got "42"`},
		{"smoke: {paths: [/], rate: 0}", `rollout.smoke.rate: must be a number of requests per second to each build, from 0.01 to 100 (such as 0.5 or 5), got "0"`},
		{"smoke: {paths: [/], rate: -2}", `rollout.smoke.rate: must be a number of requests per second to each build, from 0.01`},
		{"smoke: {paths: [/], rate: 1e-300}", `got "1e-300"`},
		{"smoke: {paths: [/], rate: 0.009}", `got "0.009"`},
		{"smoke: {paths: [/], rate: 1000}", `got "1000"`},
		{"smoke: {paths: [/], rate: .inf}", `got ".inf"`},
		{"smoke: {paths: [/], rate: '5'}", `got "5" (a quoted string: remove the quotes)`},
		{"smoke: {paths: [/], headers: {'Bad Name': x}}", `rollout.smoke.headers.Bad Name: must be a header name (letters, digits and !#$%&'*+.^_` + "`" + `|~-, at most 64 characters), got "Bad Name"`},
		{"smoke: {paths: [/], headers: {'X:Y': x}}", `must be a header name`},
		{"smoke: {paths: [/], headers: {x-canary: always}}", "rollout.smoke.headers.x-canary: cannot be set: SwiftDeploy sets it to send each request to one build"},
		{"smoke: {paths: [/], headers: {X-SwiftDeploy-Smoke: '1'}}", "cannot be set: SwiftDeploy sets it to mark its own requests"},
		{"smoke: {paths: [/], headers: {Content-Length: '3'}}", "rollout.smoke.headers.Content-Length: cannot be set: frames the request"},
		{"smoke: {paths: [/], headers: {Connection: close}}", "cannot be set: frames the connection"},
		{"smoke: {paths: [/], headers: {Accept: a, accept: b}}", "rollout.smoke.headers.accept: is the header given at line 11 (header names ignore case)"},
		{"smoke: {paths: [/], headers: {X-A: \"a\\nb\"}}", "rollout.smoke.headers.X-A: must be a header value: text of at most 4096 characters without control characters (quote it)"},
		{"smoke: {paths: [/], headers: {X-A: true}}", "rollout.smoke.headers.X-A: must be a header value"},
		{"smoke: {paths: [/], headers: {X-A: [a]}}", "rollout.smoke.headers.X-A: must be a header value"},
		{"smoke: {paths: [/], headers: {Host: 'a b'}}", `rollout.smoke.headers.Host: must be a host name or address, with an optional :port`},
		{"smoke: {paths: [/], headers: [Accept]}", "rollout.smoke.headers: must be a mapping of header names to values"},
		{"smoke: {paths: [/], method: GET}", "rollout.smoke.method: unknown field (expected one of: paths, rate, headers)"},
		{"strategy: switch\n  smoke: {paths: [/]}", "manifest.yaml:12:10: rollout.smoke: is sent during the steps of a canary release, and strategy: switch has none"},
	}
	for _, tc := range cases {
		_, err := Parse("manifest.yaml", []byte(minimal+"rollout:\n  "+tc.smoke+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.smoke, err, tc.want)
		}
	}
}

func TestASecretHeaderValueIsNotRepeatedInItsMessage(t *testing.T) {
	_, err := Parse("manifest.yaml", []byte(minimal+"rollout:\n  smoke:\n    paths: [/]\n    headers:\n      Authorization: \"Bearer s3cret\\u0007\"\n"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %v, want a problem that does not show the value", err)
	}
}

func TestEveryBadSmokeFieldIsReportedAtOnce(t *testing.T) {
	_, err := Parse("manifest.yaml", []byte(minimal+"rollout:\n  smoke:\n    paths: [POST /a, /ok, x]\n    rate: 0\n    headers: {Upgrade: h2c}\n"))
	e, ok := err.(*Error)
	if !ok || len(e.Problems) != 4 {
		t.Fatalf("got %v, want 4 problems (two paths, the rate, the header)", err)
	}
}

func TestTheSmokeRateBoundsAreAccepted(t *testing.T) {
	for _, rate := range []string{"0.01", "100", "3"} {
		m, err := Parse("manifest.yaml", []byte(minimal+"rollout:\n  smoke:\n    paths: [/]\n    rate: "+rate+"\n"))
		if err != nil {
			t.Errorf("rate %s: %v", rate, err)
			continue
		}
		if got := strconv.FormatFloat(m.Rollout.Smoke.Rate, 'f', -1, 64); got != rate {
			t.Errorf("rate %s read as %s", rate, got)
		}
	}
}
