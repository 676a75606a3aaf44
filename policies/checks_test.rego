package swiftdeploy.lib.checks_test

import data.swiftdeploy.lib.checks

test_fixed2_prints_integers_and_floats_with_two_decimals if {
	checks.fixed2(1) == "1.00"
	checks.fixed2(500) == "500.00"
	checks.fixed2(56.45) == "56.45"
	checks.fixed2(0.005) == "0.01"
	checks.fixed2(2.0) == "2.00"
	checks.fixed2(1e21) == "1000000000000000000000.00"
	checks.fixed2(-3) == "-3.00"
}

test_a_limit_itself_is_neither_below_nor_above if {
	not checks.below(10, 10)
	not checks.above(10, 10.0)
	checks.below(9.99, 10)
	checks.above(10.01, 10)
}

test_only_numbers_are_compared if {
	not checks.below(null, 10)
	not checks.above("11", 10)
	not checks.below(5, null)
}
