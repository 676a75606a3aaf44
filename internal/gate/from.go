package gate

import (
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/hoststats"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
)

// FromHost is a measurement of the host as the infrastructure policy reads it.
func FromHost(s hoststats.Stats) Infrastructure {
	return Infrastructure{DiskFreeGB: Number(s.DiskFreeGB), CPULoad1m: Number(s.CPULoad1m), MemFreePercent: Number(s.MemFreePercent)}
}

// FromWindow is a measured window as the canary policy reads it, for action
// (promote or rollback) switching the app from the current mode to target.
func FromWindow(w metrics.Window, current, target, action string) Canary {
	return Canary{CurrentMode: current, TargetMode: target, Action: action,
		WindowSeconds: Number(w.Seconds), Requests: Number(w.Requests),
		ErrorRatePercent: Number(w.ErrorRatePercent), P99Ms: Number(w.P99Ms), NoTraffic: w.NoTraffic}
}

// FromFigures is one build over a release step as the release policy reads
// it: what nginx logged of it, and its own view (nil when it has no /metrics).
func FromFigures(nginx routelog.Figures, app *history.BuildFigures) Build {
	b := Build{Figures: Figures{Requests: Number(nginx.Requests), ErrorRatePercent: Number(nginx.ErrorRatePercent), P99Ms: Number(nginx.P99Ms)}}
	if app != nil {
		b.App = &Figures{Requests: Number(app.Requests), ErrorRatePercent: Number(app.ErrorRatePercent), P99Ms: Number(app.P99Ms)}
	}
	return b
}
