// Package stats holds the statistics of the release judge: tests that say
// how sure a verdict is that the canary is worse than stable, from the
// counts and per-request times of one window. It is pure Go on the
// standard library's math.
package stats
