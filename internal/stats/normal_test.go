package stats

import (
	"math"
	"testing"
)

// The reference values below were computed with mpmath 1.3.0 at 50
// significant digits (mp.ncdf for Φ; Φ⁻¹ by mp.findroot on
// log(mp.ncdf(x)) - log(p)), rounded to 17 digits. The familiar ones agree
// with R: pnorm(1.96) = 0.9750021048517795, qnorm(0.975) = 1.959963984540054,
// qnorm(0.95) = 1.644853626951472.

func TestNormalCDFAgainstMpmath(t *testing.T) {
	for _, c := range []struct{ z, cdf float64 }{
		{-40, 3.6558935409150297037e-350},
		{-10, 7.619853024160526066e-24},
		{-5, 2.8665157187919391167e-7},
		{-1.96, 0.024997895148220436213},
		{-1, 0.15865525393145705141},
		{0, 0.5},
		{0.5, 0.69146246127401310364},
		{1, 0.84134474606854294859},
		{1.96, 0.97500210485177956379},
		{3, 0.99865010196836990547},
	} {
		// Below about -38.5 the value is subnormal and keeps fewer digits.
		rel := 1e-14
		if c.cdf < 1e-300 {
			rel = 1e-2
		}
		expectClose(t, "NormalCDF", NormalCDF(c.z), c.cdf, rel)
	}
}

func TestNormalSFKeepsTheUpperTail(t *testing.T) {
	for _, c := range []struct{ z, sf float64 }{
		{1.96, 0.024997895148220436213},
		{3, 0.0013498980316300945267},
		{5, 2.8665157187919391167e-7},
		// 1 - Φ(8.5) rounds to 0 in float64; the tail does not.
		{8.5, 9.4795348222033183542e-18},
		{-1, 0.84134474606854294859},
	} {
		expectClose(t, "NormalSF", NormalSF(c.z), c.sf, 1e-14)
	}
}

func TestNormalQuantileAgainstMpmath(t *testing.T) {
	for _, c := range []struct{ p, z float64 }{
		{1e-300, -37.047096299361199237},
		{1e-20, -9.2623400897984075796},
		{1e-10, -6.3613409024040561991},
		{1e-05, -4.2648907939228246102},
		{0.001, -3.0902323061678135354},
		{0.01, -2.3263478740408410931},
		{0.025, -1.9599639845400542118},
		{0.05, -1.644853626951472688},
		{0.3, -0.52440051270804081597},
		// 0.7, 0.95, ... as float64 are not exactly 1 - 0.3, 1 - 0.05: each
		// reference is for the float64 nearest the decimal.
		{0.7, 0.52440051270804065631},
		{0.95, 1.6448536269514722843},
		{0.975, 1.9599639845400538556},
		{0.99, 2.3263478740408407676},
		{0.999, 3.0902323061678132778},
	} {
		expectClose(t, "NormalQuantile", NormalQuantile(c.p), c.z, 1e-15)
	}
	if got := NormalQuantile(0.5); got != 0 {
		t.Errorf("NormalQuantile(0.5) = %g, want 0", got)
	}
	expectClose(t, "NormalUpperQuantile(0.025)", NormalUpperQuantile(0.025), 1.9599639845400542118, 1e-15)
}

func TestNormalQuantileEdges(t *testing.T) {
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) {
		t.Error("NormalQuantile(0), (1) should be -Inf, +Inf")
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if !math.IsNaN(NormalQuantile(p)) {
			t.Errorf("NormalQuantile(%g) should be NaN", p)
		}
	}
}

// TestNormalQuantileInvertsTheCDF checks every branch of AS 241 (|p-0.5| ≤
// 0.425, the tail up to r = 5, beyond it) against the CDF over p from 1e-300
// to 0.5 and its mirror.
func TestNormalQuantileInvertsTheCDF(t *testing.T) {
	for e := -300.0; e <= math.Log10(0.5); e += 0.01 {
		p := math.Pow(10, e)
		z := NormalQuantile(p)
		// Φ's relative sensitivity to z is |z|·φ(z)/Φ(z) ≈ z²: allow for it.
		tol := 4e-15 * math.Max(1, z*z)
		expectClose(t, "NormalCDF(NormalQuantile(p))", NormalCDF(z), p, tol)
		expectClose(t, "NormalSF(NormalUpperQuantile(p))", NormalSF(NormalUpperQuantile(p)), p, tol)
		if q := NormalQuantile(1 - p); p > 1e-3 && !near(q, -z, 1e-12) {
			t.Errorf("NormalQuantile(1-%g) = %g, want %g", p, q, -z)
		}
	}
}
