package edge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

const day = 24 * time.Hour

func TestACertificateIsDueWhenAThirdOfItsLifeOrThirtyDaysAreLeft(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := DefaultSchedule()
	for _, tt := range []struct {
		name     string
		lifetime time.Duration
		due      time.Time
	}{
		{"Let's Encrypt's 90 days: 30 left", 90 * day, start.Add(60 * day)},
		{"6 days: 2 left", 6 * day, start.Add(4 * day)},
		{"a year: 30 days left, not a third", 365 * day, start.Add(335 * day)},
		{"60 seconds: 20 left", time.Minute, start.Add(40 * time.Second)},
	} {
		c := Cert{NotBefore: start, NotAfter: start.Add(tt.lifetime)}
		if got := s.RenewAt(c); !got.Equal(tt.due) {
			t.Errorf("%s: due at %v, want %v", tt.name, got, tt.due)
		}
		if s.Due(c, tt.due.Add(-time.Nanosecond)) || !s.Due(c, tt.due) {
			t.Errorf("%s: Due does not turn at %v", tt.name, tt.due)
		}
	}
	s.Before = 45 * day
	if c := (Cert{NotBefore: start, NotAfter: start.Add(90 * day)}); !s.RenewAt(c).Equal(start.Add(45 * day)) {
		t.Errorf("with Before 45 days a 90-day certificate is due at %v, want 45 days in", s.RenewAt(c))
	}
}

func TestTheWaitAfterAFailedOrderDoublesUpToItsCapWithJitterThatOnlyShortensIt(t *testing.T) {
	s := DefaultSchedule()
	for _, tt := range []struct {
		failures int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, 10 * time.Minute},
		{2, 0, 20 * time.Minute},
		{3, 0, 40 * time.Minute},
		{7, 0, 640 * time.Minute},
		{8, 0, 12 * time.Hour}, // 1280 minutes, capped
		{50, 0, 12 * time.Hour},
		{1, 0.5, 7*time.Minute + 30*time.Second},
		{1, 0.999999, 5*time.Minute + 300*time.Microsecond},
	} {
		if got := s.RetryAfter(tt.failures, tt.jitter); got != tt.want {
			t.Errorf("RetryAfter(%d, %v) = %v, want %v", tt.failures, tt.jitter, got, tt.want)
		}
	}
	if got := s.NextLook(0.5); got != 57*time.Minute {
		t.Errorf("NextLook(0.5) = %v, want 57m (an hour less a twentieth)", got)
	}
}

func TestTheScheduleComesFromTheEnvironmentAndRefusesWhatIsNoDuration(t *testing.T) {
	t.Setenv(RenewEveryEnv, "2s")
	t.Setenv(RenewBeforeEnv, "")
	s, err := ScheduleFromEnv()
	if err != nil || s.Every != 2*time.Second || s.Before != 0 || s.RetryMin != 10*time.Minute {
		t.Errorf("ScheduleFromEnv() = %+v, %v; want a look every 2s and the standard rule", s, err)
	}
	t.Setenv(RenewBeforeEnv, "thirty days")
	if _, err := ScheduleFromEnv(); err == nil || !strings.Contains(err.Error(), RenewBeforeEnv) {
		t.Errorf("a window that is no duration: %v", err)
	}
}

// installAt installs a certificate for host valid from notBefore to notAfter,
// as if ordered from directory.
func installAt(t *testing.T, e *Edge, host, directory string, notBefore, notAfter time.Time) Cert {
	t.Helper()
	chain, key := makeCert(t, notBefore, notAfter, host)
	c, err := e.install(host, manifest.TLSACME, directory, chain, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func acmeClaim(project, folder, directory string, hosts ...string) Claim {
	c := claim(project, folder, hosts...)
	c.ACME = &ACME{Directory: directory}
	return c
}

func TestTheRenewerOrdersWhatIsDueOrMissingButNotWhatWaitsAfterAFailureNorWhatADeployIsChanging(t *testing.T) {
	e := testEdge(t)
	now := time.Now()
	const dir = "https://ca.test/dir"
	installAt(t, e, "fresh.test", dir, now.Add(-time.Hour), now.Add(89*day))
	installAt(t, e, "due.test", dir, now.Add(-61*day), now.Add(29*day))
	// What a deploy that changes the directory, or to the operator's files,
	// installs before it registers the stack's new claim.
	installAt(t, e, "elsewhere.test", "https://other-ca.test/dir", now.Add(-time.Hour), now.Add(89*day))
	chain, key := makeCert(t, now.Add(-61*day), now.Add(29*day), "operators.test")
	if _, err := e.install("operators.test", manifest.TLSFiles, "", chain, key); err != nil {
		t.Fatal(err)
	}
	installAt(t, e, "waiting.test", dir, now.Add(-61*day), now.Add(29*day))
	s := DefaultSchedule()
	if err := e.noteFailure("waiting.test", now, os.ErrDeadlineExceeded, s); err != nil {
		t.Fatal(err)
	}
	files := claim("files", "/srv/files", "files.test")
	files.TLS = manifest.TLSFiles
	claims := []Claim{
		acmeClaim("shop", "/srv/shop", dir, "fresh.test", "due.test", "missing.test"),
		acmeClaim("blog", "/srv/blog", dir, "elsewhere.test", "waiting.test", "operators.test"),
		files,
	}
	plan, err := e.dueNow(claims, s, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range plan {
		got[d.claim.Project] = d.hosts
	}
	if len(got) != 1 || !slices.Equal(got["shop"], []string{"due.test", "missing.test"}) {
		t.Errorf("the renewer orders %v, want shop's due.test and missing.test alone (waiting.test waits; elsewhere.test, operators.test and files.test are deploy's)", got)
	}
	// Once its wait is over, the name that failed is ordered again.
	f, _ := e.LastFailure("waiting.test")
	plan, _ = e.dueNow(claims[1:2], s, f.Retry)
	if len(plan) != 1 || !slices.Equal(plan[0].hosts, []string{"waiting.test"}) {
		t.Errorf("at its retry time the renewer orders %+v, want waiting.test", plan)
	}
}

// TestAFailedRenewalKeepsTheOldCertificateSaysWhyInTheStacksHistoryAndBacksOff
// runs the renewer's looks on a fake clock against a name that does not
// resolve: the old certificate stays, the stack's history says why and what
// is kept, the next look does not ask again before the wait is over, and
// the one after it does, waiting twice as long after a second failure.
func TestAFailedRenewalKeepsTheOldCertificateSaysWhyInTheStacksHistoryAndBacksOff(t *testing.T) {
	e := testEdge(t)
	folder := t.TempDir()
	now := time.Now()
	old := installAt(t, e, "due.test", "https://ca.test/dir", now.Add(-61*day), now.Add(29*day))
	if err := e.Register(acmeClaim("shop", folder, "https://ca.test/dir", "due.test")); err != nil {
		t.Fatal(err)
	}
	// A DNS server that is not there: the self-check fails before any CA is asked.
	st, _ := json.Marshal(settings{DNS: "127.0.0.1:1", Renew: DefaultSchedule()})
	os.WriteFile(e.path(settingsFile), st, 0o644)
	var said []string
	say := func(format string, args ...any) { said = append(said, format) }
	look := func(at time.Time) {
		t.Helper()
		if err := e.RenewDue(context.Background(), at, say); err != nil {
			t.Fatal(err)
		}
	}
	look(now)
	f, failed := e.LastFailure("due.test")
	if !failed || f.Count != 1 || !strings.Contains(f.Error, "due.test does not resolve") {
		t.Fatalf("after a failed look the failure is %+v, %v; want one, saying the name does not resolve", f, failed)
	}
	if wait := f.Retry.Sub(f.At); wait < 5*time.Minute || wait > 10*time.Minute {
		t.Errorf("the first wait is %v, want 5 to 10 minutes", wait)
	}
	if c, _, _ := e.Certificate("due.test"); c.Serial != old.Serial {
		t.Errorf("after a failed renewal the edge has serial %s, want the old %s", c.Serial, old.Serial)
	}
	events := historyOf(t, folder)
	if len(events) != 1 || events[0]["event"] != "edge_certificate" || events[0]["result"] != "failed" || events[0]["by"] != ByRenewer ||
		events[0]["action"] != "renew" || events[0]["kept"] != "the certificate expiring "+old.NotAfter.Format(time.RFC3339) {
		t.Errorf("the stack's history holds %v, want one failed renewal by the renewer that kept the old certificate", events)
	}

	look(f.Retry.Add(-time.Second)) // still waiting
	if n := len(historyOf(t, folder)); n != 1 {
		t.Errorf("a look before the wait was over asked again: %d events", n)
	}
	look(f.Retry)
	f2, _ := e.LastFailure("due.test")
	if f2.Count != 2 || len(historyOf(t, folder)) != 2 {
		t.Errorf("a look once the wait was over: failure %+v and %d events, want a second failure recorded", f2, len(historyOf(t, folder)))
	}
	if wait := f2.Retry.Sub(f2.At); wait < 10*time.Minute || wait > 20*time.Minute {
		t.Errorf("the second wait is %v, want 10 to 20 minutes", wait)
	}

	// The name's stack leaves: its failures are forgotten with it.
	if _, err := e.Unregister("shop"); err != nil {
		t.Fatal(err)
	}
	if _, failed := e.LastFailure("due.test"); failed {
		t.Error("a name no stack claims keeps its failures")
	}
}

func historyOf(t *testing.T, folder string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(folder, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestTheRenewerIsGivenEachClaimingStacksFolderAndTheEdgesOwnAtTheirPaths(t *testing.T) {
	e := testEdge(t)
	for _, c := range []Claim{acmeClaim("shop", "/srv/shop", "https://ca.test/dir", "shop.test"), claim("blog", "/srv/blog", "blog.test")} {
		if err := e.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	_, compose, err := e.render(settings{Image: "nginx:latest", HTTPPort: 80, HTTPSPort: 443})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image: \"" + RenewerImage + "\"", "network_mode: host", `"/srv/blog:/srv/blog"`, `"/srv/shop:/srv/shop"`,
		`"` + e.Dir + ":" + e.Dir + `"`, "SWIFTDEPLOY_EDGE_DIR: \"" + e.Dir + "\""} {
		if !strings.Contains(string(compose), want) {
			t.Errorf("the edge's compose file lacks %q:\n%s", want, compose)
		}
	}
}

func TestAStackJoiningRecreatesTheRenewerAloneWithItsFolderAndAnEdgeFromBeforeTheRenewerIsLeftAlone(t *testing.T) {
	e := testEdge(t)
	f := dockertest.New(t).On("ps -aq --no-trunc *", "").On("compose *", "")
	if err := e.Register(acmeClaim("shop", "/srv/shop", "https://ca.test/dir", "shop.test")); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(context.Background()); err != nil || f.Count("compose") != 0 {
		t.Errorf("an edge with no settings (started before the renewer): %v, %d compose calls, want none", err, f.Count("compose"))
	}
	st, _ := json.Marshal(settings{Image: "nginx:latest", HTTPPort: 80, HTTPSPort: 443, Renew: DefaultSchedule()})
	os.WriteFile(e.path(settingsFile), st, 0o644)
	if err := e.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ups []string
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "compose ") && strings.Contains(c, " up ") {
			ups = append(ups, c)
		}
	}
	if len(ups) != 1 || !strings.HasSuffix(ups[0], "up --detach --wait --no-deps renewer") {
		t.Errorf("compose up calls %q, want one of the renewer alone", ups)
	}
	if compose, _ := os.ReadFile(e.path("docker-compose.yml")); !strings.Contains(string(compose), `"/srv/shop:/srv/shop"`) {
		t.Errorf("the renewer is not given the joining stack's folder:\n%s", compose)
	}
}
