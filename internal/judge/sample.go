package judge

import "slices"

// Sample is a build's request times as history keeps them: each distinct
// time once, ascending, with how many of the sample took it. At nginx's
// millisecond resolution a sample of thousands holds a few dozen distinct
// times, and its ranks, all the latency test reads, are kept exactly.
type Sample struct {
	Ms []float64 `json:"ms"`
	N  []int     `json:"n"`
}

// SampleOf is ms as history keeps it; ms is left alone.
func SampleOf(ms []float64) Sample {
	sorted := slices.Sorted(slices.Values(ms))
	s := Sample{Ms: []float64{}, N: []int{}}
	for _, v := range sorted {
		if last := len(s.Ms) - 1; last >= 0 && s.Ms[last] == v {
			s.N[last]++
			continue
		}
		s.Ms = append(s.Ms, v)
		s.N = append(s.N, 1)
	}
	return s
}

// maxExpand bounds a sample read back from history, whatever its counts
// say (a hand-edited line must not take the memory of a replay).
const maxExpand = 1 << 16

// Expand is the sample's times, ascending; a count missing or below 1
// counts 1, and no more than maxExpand times come out.
func (s Sample) Expand() []float64 {
	var out []float64
	for i, v := range s.Ms {
		n := 1
		if i < len(s.N) && s.N[i] > 1 {
			n = s.N[i]
		}
		for range min(n, maxExpand-len(out)) {
			out = append(out, v)
		}
	}
	return out
}
