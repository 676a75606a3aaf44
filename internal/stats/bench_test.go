package stats

import "testing"

// The judge looks every second or two: these are the costs of one look.

func BenchmarkFisherGreaterMillion(b *testing.B) {
	for b.Loop() {
		fisherGreater(Counts{1000000, 5200}, Counts{1000000, 5000})
	}
}

// BenchmarkCompareErrorsStep is a 10 % step of 50 requests a second after
// 30 s, with ErrorsNeeded's bisection.
func BenchmarkCompareErrorsStep(b *testing.B) {
	for b.Loop() {
		if _, err := CompareErrors(Counts{150, 3}, Counts{1350, 10}, 0.001, 0.95); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompareErrorsMillion is the same at a million requests a build.
func BenchmarkCompareErrorsMillion(b *testing.B) {
	for b.Loop() {
		if _, err := CompareErrors(Counts{1000000, 5200}, Counts{1000000, 5000}, 0.001, 0.95); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareLatency100k(b *testing.B) {
	canary, stable := benchSamples(100000)
	for b.Loop() {
		if _, err := CompareLatency(canary, stable, 0.001, 0.1); err != nil {
			b.Fatal(err)
		}
	}
}
