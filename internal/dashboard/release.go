package dashboard

import (
	"fmt"
	"strings"
)

// Release is a release in progress as status shows it: where it stands and
// both builds side by side, each measured apart from nginx's release log.
type Release struct {
	From, To      string // versions
	Phase         string
	Step, Steps   int // Step is 1-based
	Weight        int // percent of requests for the canary
	WindowSeconds float64
	Builds        []Build
}

// Build is one build's traffic over the release view's window.
type Build struct {
	Side              string // stable or canary
	Image, Version    string
	Requests          int
	SmokeRequests     int // of Requests, SwiftDeploy's own (rollout.smoke)
	RequestsPerSecond float64
	ErrorRatePercent  float64
	P99Ms             float64
}

type releaseDoc struct {
	From          string     `json:"from_version"`
	To            string     `json:"to_version"`
	Phase         string     `json:"phase"`
	Step          int        `json:"step"`
	Steps         int        `json:"steps"`
	Weight        int        `json:"canary_weight_percent"`
	WindowSeconds float64    `json:"window_seconds"`
	Builds        []buildDoc `json:"builds"`
}

type buildDoc struct {
	Side              string   `json:"side"`
	Image             string   `json:"image"`
	Version           string   `json:"version"`
	Requests          int      `json:"requests"`
	SmokeRequests     int      `json:"smoke_requests"`
	RequestsPerSecond float64  `json:"req_per_sec"`
	ErrorRatePercent  *float64 `json:"error_rate_percent"`
	P99Ms             *float64 `json:"p99_latency_ms"`
}

func releaseDocOf(r *Release) *releaseDoc {
	if r == nil {
		return nil
	}
	doc := &releaseDoc{From: r.From, To: r.To, Phase: r.Phase, Step: r.Step, Steps: r.Steps, Weight: r.Weight, WindowSeconds: r.WindowSeconds, Builds: []buildDoc{}}
	for _, b := range r.Builds {
		d := buildDoc{Side: b.Side, Image: b.Image, Version: b.Version, Requests: b.Requests, SmokeRequests: b.SmokeRequests, RequestsPerSecond: b.RequestsPerSecond}
		if b.Requests > 0 {
			d.ErrorRatePercent, d.P99Ms = optNumber(b.ErrorRatePercent), optNumber(b.P99Ms)
		}
		doc.Builds = append(doc.Builds, d)
	}
	return doc
}

func writeRelease(b *strings.Builder, r *Release, p palette) {
	fmt.Fprintf(b, "\n%s\n", p.bold(fmt.Sprintf("Release %s → %s: step %d of %d, the canary gets %d%% (%s)", r.From, r.To, r.Step, r.Steps, r.Weight, r.Phase)))
	smoke := false
	for _, x := range r.Builds {
		smoke = smoke || x.SmokeRequests > 0
	}
	// With smoke traffic, a column says how many requests were users' and
	// how many SwiftDeploy's own.
	column := func(s string) string {
		if !smoke {
			return ""
		}
		return fmt.Sprintf(" %-22s", s)
	}
	requests := func(x Build) string {
		return column(fmt.Sprintf("%d user + %d smoke", x.Requests-x.SmokeRequests, x.SmokeRequests))
	}
	fmt.Fprintf(b, "  %-8s %-12s %9s%s %11s %10s\n", "Build", "Version", "Req/s", column("Requests"), "Error rate", "P99")
	for _, x := range r.Builds {
		rate, p99 := none, none
		if x.Requests > 0 {
			rate, p99 = fmt.Sprintf("%.2f%%", x.ErrorRatePercent), fmt.Sprintf("%.1f ms", x.P99Ms)
		}
		fmt.Fprintf(b, "  %-8s %-12s %9.1f%s %11s %10s\n", x.Side, x.Version, x.RequestsPerSecond, requests(x), rate, p99)
	}
	fmt.Fprintf(b, "  (the last %.0fs, as clients saw each build at nginx", r.WindowSeconds)
	if smoke {
		b.WriteString("; smoke: rollout.smoke's requests, judged with the users'")
	}
	b.WriteString(")\n")
}
