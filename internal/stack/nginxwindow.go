package stack

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
)

// nginxWindow measures the last length of traffic from nginx's access log,
// as clients saw it: for an app without /metrics. The log is written through
// a buffer flushed every second, so the window ends logFlush ago.
func (s *Stack) nginxWindow(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, length time.Duration) (metrics.Window, error) {
	to := time.Now().Add(-logFlush).Truncate(time.Second)
	from := to.Add(-length)
	out, err := rt.RouterLog(ctx, from.Add(-2*time.Second))
	if err != nil {
		return metrics.Window{}, err
	}
	return accessLogWindow(out, from, to, m.Services.HealthPath), nil
}

// accessLogWindow reads nginx's access log lines
// ($time_iso8601 | $status | ${request_time}s | $upstream_addr | $request)
// logged in [from, to), leaving out probes and SwiftDeploy's own calls.
func accessLogWindow(log string, from, to time.Time, healthPath string) metrics.Window {
	w := metrics.Window{Seconds: to.Sub(from).Seconds()}
	var latencies []float64
	for _, line := range strings.Split(log, "\n") {
		f := strings.Split(line, " | ")
		if len(f) != 5 {
			continue
		}
		at, err := time.Parse(time.RFC3339, strings.TrimSpace(f[0]))
		if err != nil || at.Before(from) || !at.Before(to) {
			continue
		}
		request := strings.Fields(f[4])
		if len(request) < 2 {
			continue
		}
		path, _, _ := strings.Cut(request[1], "?")
		if path == healthPath || path == "/healthz" || path == "/metrics" || path == "/chaos" || strings.HasPrefix(path, "/.well-known/swiftdeploy/") {
			continue
		}
		status, err := strconv.Atoi(strings.TrimSpace(f[1]))
		if err != nil {
			continue
		}
		w.Requests++
		if status >= 500 {
			w.Errors++
		}
		if secs, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(f[2]), "s"), 64); err == nil {
			latencies = append(latencies, secs*1000)
		}
	}
	if w.Requests == 0 {
		w.NoTraffic = true
		return w
	}
	w.ErrorRatePercent = 100 * w.Errors / w.Requests
	w.P99Ms = math.Round(routelog.P99(latencies)*1000) / 1000
	return w
}
