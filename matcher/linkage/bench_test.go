package linkage

import (
	"fmt"
	"testing"
)

// BenchmarkLink links synthetic districts of 100k and 1M records (about
// seven tokens each). Run with -benchtime=1x for the large size.
func BenchmarkLink(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := synth(n, 42)
			b.ResetTimer()
			for b.Loop() {
				if _, err := Link(recs, Config{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
