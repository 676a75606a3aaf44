package stats

import "fmt"

// Counts are one build's requests over a window and how many of them failed.
type Counts struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
}

func (c Counts) check(build string) error {
	if c.Requests < 0 || c.Errors < 0 || c.Errors > c.Requests {
		return fmt.Errorf("stats: %s has %d errors in %d requests", build, c.Errors, c.Requests)
	}
	return nil
}

// rate is the share that failed, 0 without requests.
func (c Counts) rate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// FisherGreater is the p-value of Fisher's exact test, one-sided, that the
// canary's error proportion is greater than stable's: given both builds'
// requests and the window's failures in all, the probability that chance
// alone (each failure as likely to fall on any request) puts at least as
// many of them on the canary as it got. It is R's
// fisher.test(matrix(c(canary.Errors, stable.Errors, canary ok, stable ok), 2),
// alternative = "greater")$p.value.
//
// The test is exact and therefore conservative: its p-value is a valid one
// (P(p ≤ α) ≤ α when the builds are alike) at any sample size, never an
// approximation that small windows would break. It is 1 when either build
// has no requests.
func FisherGreater(canary, stable Counts) (float64, error) {
	if err := canary.check("the canary"); err != nil {
		return 1, err
	}
	if err := stable.check("stable"); err != nil {
		return 1, err
	}
	return fisherGreater(canary, stable), nil
}

func fisherGreater(canary, stable Counts) float64 {
	failed := canary.Errors + stable.Errors
	h := hyper{r: failed, b: canary.Requests + stable.Requests - failed, n: canary.Requests}
	return h.upper(canary.Errors)
}
