package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheckTimeout is below Docker's default healthcheck timeout (30 s) and the
// compose file's, so a hung service is reported as unhealthy, not as a timed-out probe.
const healthcheckTimeout = 2 * time.Second

// checkHealth asks url for the service's health and explains any answer but a healthy one.
func checkHealth(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, want 200", url, resp.StatusCode)
	}
	var health healthStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&health); err != nil {
		return fmt.Errorf("GET %s: decode body: %w", url, err)
	}
	if health.Status != "ok" {
		return fmt.Errorf("GET %s: status %q, want \"ok\"", url, health.Status)
	}
	return nil
}
