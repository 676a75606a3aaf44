package routelog

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCosts reads what a busy change leaves in the log: 200,000
// requests over five parts, the old build retiring in the last. What it
// costs is what every change's command adds once it is over.
func BenchmarkCosts(b *testing.B) {
	const lines = 200_000
	var log bytes.Buffer
	for i := range lines {
		addr := "172.20.0.3:3000"
		if i%2 == 1 {
			addr = "172.20.0.4:3000"
		}
		fmt.Fprintf(&log, "%d.%03d|app|200|%s|200|0.002|/||0.002\n", 100+i/1000, i%1000, addr)
	}
	var spans []Span
	for p := range 5 {
		spans = append(spans, Span{From: time.Unix(int64(100+p*40), 0), To: time.Unix(int64(140+p*40), 0)})
	}
	spans[4].Retiring = []Retiring{{Addrs: []string{"172.20.0.3"}, Since: time.Unix(270, 0)}}
	b.SetBytes(int64(log.Len()))
	b.ResetTimer()
	for b.Loop() {
		costs, err := Costs(bytes.NewReader(log.Bytes()), spans)
		if err != nil || Sum(costs).Requests != lines {
			b.Fatalf("costs %+v, %v: want all %d requests", costs, err, lines)
		}
	}
}
