package edge

import (
	"fmt"
	"os"
	"time"
)

// Schedule is when the edge's renewer looks at the certificates, when one is
// due, and how long it waits after a failed order before it asks again.
type Schedule struct {
	// Every is how often the renewer looks. A look reads the edge's files
	// only: the CA is asked for a certificate that is due, and only then.
	Every time.Duration `json:"every"`
	// Before, when set, renews a certificate this long before it expires,
	// instead of the standard rule (Cert.RenewAfter).
	Before time.Duration `json:"before,omitempty"`
	// RetryMin is the wait after a first failed order; each further
	// failure doubles it, up to RetryMax.
	RetryMin time.Duration `json:"retry_min"`
	RetryMax time.Duration `json:"retry_max"`
}

// The environment of each deploy of a stack behind the edge sets its
// schedule (Up); the renewer, status and renew read it from the edge's
// folder.
const (
	RenewEveryEnv  = "SWIFTDEPLOY_EDGE_RENEW_EVERY"
	RenewBeforeEnv = "SWIFTDEPLOY_EDGE_RENEW_BEFORE"
)

// DefaultSchedule looks every hour (twice a day is what Let's Encrypt asks
// for at least; a look costs nothing), and after a failed order waits 10
// minutes, then 20, 40... up to 12 hours: Let's Encrypt allows 5 failed
// validations per name and hour, and a CA that is down is not hammered.
func DefaultSchedule() Schedule {
	return Schedule{Every: time.Hour, RetryMin: 10 * time.Minute, RetryMax: 12 * time.Hour}
}

// ScheduleFromEnv is DefaultSchedule with RenewEveryEnv's and
// RenewBeforeEnv's durations, when set.
func ScheduleFromEnv() (Schedule, error) {
	s := DefaultSchedule()
	for _, v := range []struct {
		name string
		to   *time.Duration
	}{{RenewEveryEnv, &s.Every}, {RenewBeforeEnv, &s.Before}} {
		raw := os.Getenv(v.name)
		if raw == "" {
			continue
		}
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return Schedule{}, fmt.Errorf("%s=%q is not a positive duration (like 1h or 720h)", v.name, raw)
		}
		*v.to = d
	}
	return s, nil
}

// RenewAt is when c is due under s.
func (s Schedule) RenewAt(c Cert) time.Time {
	if s.Before > 0 {
		return c.NotAfter.Add(-s.Before)
	}
	return c.RenewAfter()
}

// Due reports whether c is due at now under s.
func (s Schedule) Due(c Cert, now time.Time) bool { return !now.Before(s.RenewAt(c)) }

// RetryAfter is how long to wait after the failures-th failed order in a
// row: RetryMin doubled for each failure before, at most RetryMax, then
// shortened by up to half at random (jitter in [0, 1)), so that edges that
// failed together do not all ask again together.
func (s Schedule) RetryAfter(failures int, jitter float64) time.Duration {
	wait := s.RetryMin
	for i := 1; i < failures && wait < s.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, s.RetryMax)
	return wait - time.Duration(float64(wait)*jitter/2)
}

// NextLook is how long the renewer sleeps before its next look: Every,
// shortened by up to a tenth at random (jitter in [0, 1)), so that the
// looks of edges started together drift apart.
func (s Schedule) NextLook(jitter float64) time.Duration {
	return s.Every - time.Duration(float64(s.Every)*jitter/10)
}
