package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Health is the body of GET /healthz.
type Health struct {
	Status        string  `json:"status"`
	Mode          string  `json:"mode"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// getRouting asks nginx's admin listener which routing its workers use
// (render.RoutingPath).
func getRouting(ctx context.Context, admin *http.Client) (string, error) {
	var r struct {
		Routing string `json:"routing"`
	}
	err := getJSON(ctx, admin, adminURL(render.RoutingPath), "routing", nil, &r)
	return r.Routing, err
}

// getJSON reads a 200 JSON answer from url into v; what names it in errors.
func getJSON(ctx context.Context, client *http.Client, url, what string, header http.Header, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(body), 120))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("unreadable %s answer: %w", what, err)
	}
	return nil
}

// waitFor polls check every interval until it reports done, ctx ends, or it
// fails for good, showing progress for what.
func (s *Stack) waitFor(ctx context.Context, what string, interval time.Duration, check func(context.Context) (bool, string, error)) (time.Duration, error) {
	progress := s.Out.Progress(what)
	defer progress.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		done, status, err := check(ctx)
		if err != nil {
			return progress.Elapsed(), err
		}
		if done {
			return progress.Elapsed(), nil
		}
		progress.Update(status)
		select {
		case <-ctx.Done():
			return progress.Elapsed(), fmt.Errorf("gave up waiting for %s after %s: %s", what, progress.Elapsed().Round(time.Second), status)
		case <-ticker.C:
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
