# Package swiftdeploy.lib.checks holds the pieces every policy domain shares: failing
# closed on missing input or thresholds, comparing only numbers, and printing numbers.
# It is not a domain (domains are the packages directly under swiftdeploy) and holds no
# limit of its own.
package swiftdeploy.lib.checks

# missing_input is the violation for a field of input that is absent or not of the kind
# wanted: no measurement means no decision in favour.
missing_input(field, kind) := {
	"rule": "missing_input",
	"observed": input_or_null(field),
	"limit": kind,
	"message": sprintf("input %s is missing or not %s", [field, kind]),
}

# missing_threshold is the violation for a limit that is absent or not a number: a rule
# comparing against nothing would never fire, and so would allow.
missing_threshold(domain, key) := {
	"rule": "missing_threshold",
	"observed": null,
	"limit": key,
	"message": sprintf("threshold data.swiftdeploy.thresholds.%s.%s is missing or not a number", [domain, key]),
}

# below and above compare numbers only (null sorts below every number in Rego); exactly at
# a limit is allowed.
below(observed, limit) if {
	is_number(observed)
	is_number(limit)
	observed < limit
}

above(observed, limit) if {
	is_number(observed)
	is_number(limit)
	observed > limit
}

# input_or_null reads input[field] also when there is no input at all.
input_or_null(field) := value if {
	value := input[field]
} else := null

# fixed2 prints a number with two decimals. Whole numbers reach Rego as integers (from
# data.json, and from Go's float64 812.0 alike), and sprintf hands those to Go's fmt as
# integers, for which %.2f prints "%!f(int64=1)"; %T tells the two apart.
fixed2(x) := sprintf("%.2f", [x]) if {
	sprintf("%T", [x]) == "float64"
} else := sprintf("%d.00", [x])

# sig prints a number with two significant digits, for p-values and alphas: 0.0014, 1.2e-120, 0.
sig(x) := sprintf("%.2g", [x]) if {
	sprintf("%T", [x]) == "float64"
} else := sprintf("%d", [x])
