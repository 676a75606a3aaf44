package stack

import (
	"strings"
	"testing"
	"time"
)

func TestAWindowFromNginxsAccessLogCountsWhatClientsSawLeavingProbesOut(t *testing.T) {
	log := strings.Join([]string{
		"2026-12-01T03:00:09+00:00 | 500 | 0.001s | 172.20.0.3:8000 | GET / HTTP/1.1",
		"2026-12-01T03:00:10+00:00 | 200 | 0.002s | 172.20.0.3:8000 | GET / HTTP/1.1",
		"2026-12-01T03:00:11+00:00 | 502 | 1.000s | 172.20.0.3:8000 | GET /api/items?page=2 HTTP/1.1",
		"2026-12-01T03:00:12+00:00 | 200 | 0.003s | 172.20.0.3:8000 | POST /api/items HTTP/1.1",
		"2026-12-01T03:00:12+00:00 | 200 | 0.001s | 172.20.0.3:8000 | GET /health.txt HTTP/1.1",
		"2026-12-01T03:00:12+00:00 | 404 | 0.001s | 172.20.0.3:8000 | GET /metrics HTTP/1.1",
		"2026/12/01 03:00:12 [warn] 21#21: an error log line",
		"2026-12-01T03:00:13+00:00 | 500 | 0.001s | 172.20.0.3:8000 | GET / HTTP/1.1",
	}, "\n")
	from := time.Date(2026, 12, 1, 3, 0, 10, 0, time.UTC)
	w := accessLogWindow(log, from, from.Add(3*time.Second), "/health.txt")
	if w.Requests != 3 || w.Errors != 1 || w.Seconds != 3 {
		t.Fatalf("window %+v, want 3 requests, 1 error over 3 s", w)
	}
	if w.P99Ms < 900 || w.P99Ms > 1000 {
		t.Errorf("P99 %.1f ms, want close to the slowest request's 1000 ms", w.P99Ms)
	}
	if empty := accessLogWindow("", from, from.Add(time.Second), "/healthz"); !empty.NoTraffic {
		t.Errorf("an empty log gives %+v, want no traffic", empty)
	}
}
