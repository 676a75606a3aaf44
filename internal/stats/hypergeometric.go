package stats

import "math"

// The hypergeometric probabilities behind Fisher's exact test, in log space
// by Loader's saddle-point method (C. Loader, "Fast and Accurate Computation
// of Binomial Probabilities", 2000), as R's dbinom and dhyper compute them:
// each log-probability is a sum of small, well-conditioned terms instead of
// a difference of log-factorials of about 1.3e7 for a million requests,
// whose rounding alone would cost eight of float64's sixteen digits.

// stirlerrSmall is stirlerr(n) = log(n!) - log(√(2π n)·(n/e)^n) for
// n = 0..15, from mpmath at 40 digits (0 at n = 0 by convention; it is never
// used there).
var stirlerrSmall = [16]float64{
	0,
	0.08106146679532725822,
	0.041340695955409294094,
	0.027677925684998339149,
	0.020790672103765093112,
	0.016644691189821192163,
	0.013876128823070747999,
	0.011896709945891770095,
	0.010411265261972096497,
	0.0092554621827127329177,
	0.0083305634333628712565,
	0.007573675487951840795,
	0.0069428401072095298657,
	0.0064089941880042070684,
	0.0059513701127588477356,
	0.005554733551962801371,
}

// stirlerr is the error of Stirling's formula for log(n!), n a whole number:
// the table up to 15, the asymptotic series 1/12n - 1/360n³ + ... beyond,
// with as many terms as n needs for full precision (Loader's cut-offs).
func stirlerr(n float64) float64 {
	const (
		s0 = 1.0 / 12
		s1 = 1.0 / 360
		s2 = 1.0 / 1260
		s3 = 1.0 / 1680
		s4 = 1.0 / 1188
	)
	if n <= 15 {
		return stirlerrSmall[int(n)]
	}
	nn := n * n
	switch {
	case n > 500:
		return (s0 - s1/nn) / n
	case n > 80:
		return (s0 - (s1-s2/nn)/nn) / n
	case n > 35:
		return (s0 - (s1-(s2-s3/nn)/nn)/nn) / n
	default:
		return (s0 - (s1-(s2-(s3-s4/nn)/nn)/nn)/nn) / n
	}
}

// bd0 is the deviance term x·log(x/m) + m - x, by a series in (x-m)/(x+m)
// when x is near m, where the direct formula would cancel.
func bd0(x, m float64) float64 {
	if math.Abs(x-m) < 0.1*(x+m) {
		v := (x - m) / (x + m)
		s := (x - m) * v
		ej := 2 * x * v
		v *= v
		for j := 1; j < 1000; j++ {
			ej *= v
			s1 := s + ej/float64(2*j+1)
			if s1 == s {
				return s
			}
			s = s1
		}
		return s
	}
	return x*math.Log(x/m) + m - x
}

// logBinom is log P(Binomial(n, p) = x) for whole x and n, with q = 1-p
// given separately so that neither loses digits.
func logBinom(x, n, p, q float64) float64 {
	switch {
	case p == 0:
		if x == 0 {
			return 0
		}
		return math.Inf(-1)
	case q == 0:
		if x == n {
			return 0
		}
		return math.Inf(-1)
	case x < 0 || x > n:
		return math.Inf(-1)
	case x == 0:
		if n == 0 {
			return 0
		}
		if p < 0.1 {
			return -bd0(n, n*q) - n*p
		}
		return n * math.Log(q)
	case x == n:
		if q < 0.1 {
			return -bd0(n, n*p) - n*q
		}
		return n * math.Log(p)
	}
	lc := stirlerr(n) - stirlerr(x) - stirlerr(n-x) - bd0(x, n*p) - bd0(n-x, n*q)
	lf := math.Log(2*math.Pi) + math.Log(x) + math.Log1p(-x/n)
	return lc - 0.5*lf
}

// hyper is the hypergeometric distribution of X, how many of n draws
// without replacement from an urn of r red and b blue balls are red: here
// how many of a window's failed requests fell on the canary, given how many
// requests each build answered and how many failed in all.
type hyper struct{ r, b, n int64 }

// support is X's least and greatest possible value.
func (h hyper) support() (lo, hi int64) {
	return max(0, h.n-h.b), min(h.n, h.r)
}

// logPMF is log P(X = x), as binomials with p = n/(r+b) (R's dhyper).
func (h hyper) logPMF(x int64) float64 {
	if lo, hi := h.support(); x < lo || x > hi {
		return math.Inf(-1)
	}
	total := float64(h.r + h.b)
	p := float64(h.n) / total
	q := float64(h.r+h.b-h.n) / total
	return logBinom(float64(x), float64(h.r), p, q) +
		logBinom(float64(h.n-x), float64(h.b), p, q) -
		logBinom(float64(h.n), total, p, q)
}

// mean is E[X].
func (h hyper) mean() float64 {
	return float64(h.n) * float64(h.r) / float64(h.r+h.b)
}

// upper is P(X ≥ x). The tail on the far side of the mean from x's is
// summed, term by term from x's probability with the ratio of consecutive
// terms (each a few roundings, the terms falling away from the mean until
// negligible), and the other tail is its complement: a tail beyond the
// mean keeps its relative precision however small, and a tail that holds
// the mean is about a half or more (the median is within 1 of the mean) and
// loses nothing to the subtraction.
// The sum stops where terms fall below 1e-17 of it, after a few dozen
// standard deviations: some thousands of terms for a million requests.
func (h hyper) upper(x int64) float64 {
	lo, hi := h.support()
	switch {
	case x <= lo:
		return 1
	case x > hi:
		return 0
	}
	if float64(x) > h.mean() {
		return math.Exp(h.logPMF(x)) * h.sumUp(x, hi)
	}
	lower := math.Exp(h.logPMF(x-1)) * h.sumDown(x-1, lo)
	return max(0, 1-lower)
}

// sumUp is Σ P(X = k)/P(X = from) for k from from to hi.
func (h hyper) sumUp(from, hi int64) float64 {
	r, b, n := float64(h.r), float64(h.b), float64(h.n)
	term, sum := 1.0, 1.0
	for k := float64(from); k < float64(hi); k++ {
		term *= (r - k) * (n - k) / ((k + 1) * (b - n + k + 1))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// sumDown is Σ P(X = k)/P(X = from) for k from from down to lo.
func (h hyper) sumDown(from, lo int64) float64 {
	r, b, n := float64(h.r), float64(h.b), float64(h.n)
	term, sum := 1.0, 1.0
	for k := float64(from); k > float64(lo); k-- {
		term *= k * (b - n + k) / ((r - k + 1) * (n - k + 1))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}
