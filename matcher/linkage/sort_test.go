package linkage

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortEntries checks the bucketed sort against slices.SortFunc on
// lists large enough to take the bucketed path, with repeated tokens,
// tokens that share their top bits and lists of several sources.
func TestSortEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, srcs := range []int32{1, 3} {
		es := make([]entry, 200_000)
		for i := range es {
			e := entry{hi: rng.Uint64(), rec: int32(rng.IntN(50_000)), src: int32(rng.IntN(int(srcs)))}
			switch rng.IntN(4) {
			case 0: // the same token as an earlier entry
				if i > 0 {
					j := rng.IntN(i)
					e.hi, e.lo, e.src = es[j].hi, es[j].lo, es[j].src
				}
			case 1: // same top bits as an earlier entry
				if i > 0 {
					e.hi = es[rng.IntN(i)].hi&^0xffff | uint64(rng.IntN(1<<16))
				}
			}
			e.lo ^= uint64(rng.IntN(3)) << (8 * rng.IntN(8))
			es[i] = e
		}
		want := slices.Clone(es)
		slices.SortFunc(want, cmpEntry)
		if got := sortEntries(es); !slices.Equal(got, want) {
			t.Errorf("%d sources: sortEntries differs from slices.SortFunc", srcs)
		}
	}
}
