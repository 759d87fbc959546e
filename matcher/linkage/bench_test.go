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

// BenchmarkDice compares pairs of 1024-bit filters as the similarity tier
// does: popcounts cached, the common bits counted per pair (the figure
// DESIGN compares with anonlink's native loop).
func BenchmarkDice(b *testing.B) {
	const n = 1024
	fs := make([]filter, n)
	var x uint64 = 0x9e3779b97f4a7c15
	raw := make([]byte, 128)
	for i := range fs {
		for j := range raw {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			raw[j] = byte(x) & byte(x>>8) // about a quarter of the bits set
		}
		fs[i] = newFilter(raw)
	}
	var sum float64
	pairs := 0
	for b.Loop() {
		for i := 1; i < n; i++ {
			a, c := &fs[i-1], &fs[i]
			sum += 2 * float64(common(a, c)) / float64(a.pop+c.pop)
		}
		pairs += n - 1
	}
	if sum < 0 {
		b.Fatal("negative Dice")
	}
	b.ReportMetric(float64(pairs)/b.Elapsed().Seconds(), "pairs/s")
}
