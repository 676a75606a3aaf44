package stats

import (
	"fmt"
	"math"
)

// Alpha spending functions, by name as a policy's data would give them.
const (
	// SpendingPocock is the Lan-DeMets Pocock-type function
	// α(t) = α·ln(1 + (e-1)·t): roughly even spending over the looks, so a
	// clearly broken build is caught at the first looks of a step.
	SpendingPocock = "pocock"
	// SpendingOBrienFleming is the Lan-DeMets O'Brien-Fleming-type
	// function α(t) = 2 - 2Φ(z_{α/2}/√t) = 2·(1-Φ(z_{α/2}/√t)), with α
	// the one-sided level and z_{α/2} the upper α/2 quantile (the form
	// gsDesign's sfLDOF uses for a one-sided α; α(1) = α). It spends almost
	// nothing early (5.7e-10 of 0.05 by t = 0.1) and keeps nearly all of α
	// for the end of the step.
	SpendingOBrienFleming = "obrien_fleming"
)

// AlphaSpent is α(t), the share of the one-sided level alpha that spending
// function kind allows to have been spent by information fraction t: 0 at
// t ≤ 0, alpha at t ≥ 1, increasing between (K. K. G. Lan and D. L.
// DeMets, "Discrete sequential boundaries for clinical trials", Biometrika
// 70, 1983, 659-663).
func AlphaSpent(kind string, alpha, t float64) (float64, error) {
	if err := checkSpending(kind, alpha); err != nil {
		return 0, err
	}
	return alphaSpent(kind, alpha, t), nil
}

func checkSpending(kind string, alpha float64) error {
	if kind != SpendingPocock && kind != SpendingOBrienFleming {
		return fmt.Errorf("stats: no alpha spending function %q (have %s, %s)", kind, SpendingPocock, SpendingOBrienFleming)
	}
	if !(alpha > 0 && alpha < 1) {
		return fmt.Errorf("stats: alpha %v is not between 0 and 1", alpha)
	}
	return nil
}

func alphaSpent(kind string, alpha, t float64) float64 {
	switch {
	case !(t > 0): // NaN too: no information, nothing to spend
		return 0
	case t >= 1:
		return alpha
	case kind == SpendingPocock:
		return alpha * math.Log1p((math.E-1)*t)
	default:
		return 2 * NormalSF(NormalUpperQuantile(alpha/2)/math.Sqrt(t))
	}
}

// InformationFraction is done/planned clamped to [0, 1]: the elapsed part
// of a step's planned duration, or the requests seen of those expected.
// A plan of nothing is complete; a NaN is no information (0).
func InformationFraction(done, planned float64) float64 {
	if !(planned > 0) {
		return 1
	}
	f := done / planned
	if !(f > 0) { // NaN too
		return 0
	}
	return min(1, f)
}

// Sequential spends one test's alpha over repeated looks at accumulating
// data (a release step's window, judged every second or two) so that the
// chance of ever calling a good build worse, over all the looks together,
// stays at most Alpha.
//
// The method: look k at information fraction t_k is given the nominal
// level α(t_k) - α(t_{k-1}), the increment of the spending function since
// the previous look, and the test at that look is significant when its
// p-value is at most that level. By the union bound, P(any look
// significant | H₀) ≤ Σ_k P(p_k ≤ α(t_k) - α(t_{k-1})) = α(t_K) ≤ Alpha,
// since each p_k is a valid p-value (P(p_k ≤ a) ≤ a under H₀). This holds
// whatever the correlation between looks, with no need for the test
// statistic to be normal (it is not, for Fisher's exact test on a few
// requests), and for looks at any times, decided as the step goes.
//
// It is conservative: the looks share most of their data, so their
// statistics are strongly correlated and the union bound counts the same
// false alarm many times over. The exact Lan-DeMets boundaries, which
// integrate over the joint normal distribution of the statistics at the
// looks (Armitage, McPherson and Rowe's recursion), would give each look
// a larger nominal level for the same overall Alpha; they assume normal
// statistics and are not attempted here. The price is power, never a
// false-abort rate above Alpha.
//
// A Sequential is for one test over one window: start another for a new
// step, and one for each test (errors, latency) at each step. Two tests
// each at Alpha make a false abort of a step at most 2·Alpha likely.
type Sequential struct {
	kind  string
	alpha float64
	looks int
	t     float64 // the greatest information fraction looked at so far
	spent float64 // α(t)
}

// Look is one look's allowance: plain numbers, for the evidence.
type Look struct {
	Spending string  `json:"spending"`
	Look     int     `json:"look"`
	Fraction float64 `json:"information_fraction"`
	// Alpha is this look's nominal level: compare the look's p-value with it.
	Alpha float64 `json:"alpha"`
	// Spent is α(t), all the looks' nominal levels so far together.
	Spent float64 `json:"spent"`
	// Total is the level of the whole sequence, α(1).
	Total float64 `json:"total"`
}

// NewSequential starts spending alpha (one-sided, in (0, 1)) by the
// spending function kind.
func NewSequential(kind string, alpha float64) (*Sequential, error) {
	if err := checkSpending(kind, alpha); err != nil {
		return nil, err
	}
	return &Sequential{kind: kind, alpha: alpha}, nil
}

// Look spends what the spending function allows between the previous
// look's information fraction and t (clamped to [0, 1], NaN taken as 0)
// and returns it as this look's nominal level. A t no greater than the previous look's adds
// no information and gets 0; t = 1 gets whatever is left of Alpha.
func (s *Sequential) Look(t float64) Look {
	s.looks++
	if !(t > 0) { // NaN too: no information
		t = 0
	}
	t = min(1, t)
	nominal := 0.0
	if t > s.t {
		spent := alphaSpent(s.kind, s.alpha, t)
		nominal = max(0, spent-s.spent)
		s.t, s.spent = t, spent
	}
	return Look{Spending: s.kind, Look: s.looks, Fraction: t, Alpha: nominal, Spent: s.spent, Total: s.alpha}
}
