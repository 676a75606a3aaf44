package stats

import "math"

// NormalCDF is Φ(z), the standard normal distribution function, from
// math.Erfc so that the lower tail keeps full relative precision far out
// (Φ(-37) is about 6e-300, not 0).
func NormalCDF(z float64) float64 {
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// NormalSF is 1-Φ(z), the upper tail, with full relative precision for a
// large z where 1-NormalCDF(z) would round to 0.
func NormalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// NormalQuantile is Φ⁻¹(p): the z with Φ(z) = p, -Inf at 0, +Inf at 1 and
// NaN outside [0, 1]. It is Wichura's algorithm AS 241 (PPND16, Applied
// Statistics 37(3), 1988, 477-484), rational approximations good to about
// 1 part in 10^16, the algorithm R's qnorm uses.
//
// For an upper-tail probability α use NormalUpperQuantile(α) rather than
// NormalQuantile(1-α): 1-α rounds away α's low digits when α is small.
func NormalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	q := p - 0.5
	if math.Abs(q) <= 0.425 {
		r := 0.180625 - q*q
		return q * (((((((2.5090809287301226727e3*r+3.3430575583588128105e4)*r+6.7265770927008700853e4)*r+
			4.5921953931549871457e4)*r+1.3731693765509461125e4)*r+1.9715909503065514427e3)*r+
			1.3314166789178437745e2)*r + 3.3871328727963666080) /
			(((((((5.2264952788528545610e3*r+2.8729085735721942674e4)*r+3.9307895800092710610e4)*r+
				2.1213794301586595867e4)*r+5.3941960214247511077e3)*r+6.8718700749205790830e2)*r+
				4.2313330701600911252e1)*r + 1)
	}
	// The smaller tail, p or 1-p, is exact here: 1-p for p > 0.925 loses
	// nothing that p itself still held.
	r := p
	if q > 0 {
		r = 1 - p
	}
	z := tailQuantile(r)
	if q < 0 {
		return -z
	}
	return z
}

// NormalUpperQuantile is the z with 1-Φ(z) = alpha, that is
// -NormalQuantile(alpha), written out so that a small alpha keeps its
// precision: NormalUpperQuantile(0.025) is 1.959963984540054.
func NormalUpperQuantile(alpha float64) float64 {
	return -NormalQuantile(alpha)
}

// tailQuantile is AS 241's two tail branches: -Φ⁻¹(r) for 0 < r < 0.075.
func tailQuantile(r float64) float64 {
	r = math.Sqrt(-math.Log(r))
	if r <= 5 {
		r -= 1.6
		return (((((((7.74545014278341407640e-4*r+2.27238449892691845833e-2)*r+2.41780725177450611770e-1)*r+
			1.27045825245236838258)*r+3.64784832476320460504)*r+5.76949722146069140550)*r+
			4.63033784615654529590)*r + 1.42343711074968357734) /
			(((((((1.05075007164441684324e-9*r+5.47593808499534494600e-4)*r+1.51986665636164571966e-2)*r+
				1.48103976427480074590e-1)*r+6.89767334985100004550e-1)*r+1.67638483018380384940)*r+
				2.05319162663775882187)*r + 1)
	}
	r -= 5
	return (((((((2.01033439929228813265e-7*r+2.71155556874348757815e-5)*r+1.24266094738807843860e-3)*r+
		2.65321895265761230930e-2)*r+2.96560571828504891230e-1)*r+1.78482653991729133580)*r+
		5.46378491116411436990)*r + 6.65790464350110377720) /
		(((((((2.04426310338993978564e-15*r+1.42151175831644588870e-7)*r+1.84631831751005468180e-5)*r+
			7.86869131145613259100e-4)*r+1.48753612908506148525e-2)*r+1.36929880922735805310e-1)*r+
			5.99832206555887937690e-1)*r + 1)
}
