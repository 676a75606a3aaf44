package stats

import (
	"fmt"
	"math"
)

// QuantileLowerBound is a one-sided lower confidence bound, at level
// 1-alpha, for the q-quantile of the distribution sample was drawn from
// (q = 0.99: its P99): the largest order statistic X₍ₖ₎ of the sample with
// P(Binomial(n, q) ≥ k) ≥ 1-alpha, since X₍ₖ₎ is at most the q-quantile
// exactly when at least k of the n draws are (W. J. Conover, "Practical
// Nonparametric Statistics", 3rd ed., 1999, section 3.2). It assumes
// nothing about the distribution and stays valid with ties, such as
// nginx's millisecond resolution gives (the draws at most the quantile are
// then at least Binomial(n, q)). A single slow request does not raise it:
// of 10 requests, the P99's 95 % bound is the second slowest. ok is false
// when no order statistic is low enough: an empty sample, alpha 0, or
// alpha below (1-q)ⁿ, the chance that every draw is above the quantile.
func QuantileLowerBound(sample []float64, q, alpha float64) (bound float64, ok bool, err error) {
	if !(q > 0 && q < 1) {
		return 0, false, fmt.Errorf("stats: quantile %v is not between 0 and 1", q)
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, false, err
	}
	s, _, err := ascending(sample, nil)
	if err != nil {
		return 0, false, err
	}
	k := quantileLowerRank(int64(len(s)), q, alpha)
	if k == 0 {
		return 0, false, nil
	}
	return s[k-1], true, nil
}

// quantileLowerRank is the greatest k (1-based) with P(Binomial(n, q) ≤
// k-1) ≤ alpha, 0 when there is none.
func quantileLowerRank(n int64, q, alpha float64) int64 {
	if n == 0 || alpha <= 0 {
		return 0
	}
	// The CDF grows with k: add its terms until it passes alpha.
	sum := 0.0
	for j := int64(0); j < n; j++ {
		sum += math.Exp(logBinom(float64(j), float64(n), q, 1-q))
		if sum > alpha {
			return j // P(X ≤ j-1) ≤ alpha < P(X ≤ j): k-1 = j-1
		}
	}
	return n
}
