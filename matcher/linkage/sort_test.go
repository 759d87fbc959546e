package linkage

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"tfmatch/matchkey"
)

// randomEntries returns n entries over records 0..recs-1 with repeated
// tokens, one token held by many, tokens that share their top bits and
// tokens that differ only in their last bits.
func randomEntries(rng *rand.Rand, n, recs int) []entry {
	es := make([]entry, n)
	popular := entry{hi: rng.Uint64(), lo: rng.Uint32()}
	for i := range es {
		e := entry{hi: rng.Uint64(), lo: rng.Uint32(), rec: int32(rng.IntN(recs))}
		switch rng.IntN(5) {
		case 4: // a token that many records share
			if rng.IntN(20) == 0 {
				e.hi, e.lo = popular.hi, popular.lo
			}
		case 0: // the same token as an earlier entry
			if i > 0 {
				j := rng.IntN(i)
				e.hi, e.lo = es[j].hi, es[j].lo
			}
		case 1: // same top bits as an earlier entry
			if i > 0 {
				e.hi = es[rng.IntN(i)].hi&^0xffff | uint64(rng.IntN(1<<16))
			}
		case 2: // same first word as an earlier entry
			if i > 0 {
				e.hi = es[rng.IntN(i)].hi
			}
		}
		es[i] = e
	}
	return es
}

// TestSortEntries checks sortEntries against slices.SortFunc on lists
// short and long enough to take the bucketed path (with buckets sorted by
// insertion and, where a token is repeated, by comparison), and on a
// group kind's lists, ordered by source first.
func TestSortEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const recs = 50_000
	src := make([]int32, recs)
	for r := range src {
		src[r] = int32(r * 3 / recs) // three sources, as canonical order has them
	}
	for _, tt := range []struct {
		n      int
		src    []int32
		skewed bool // nearly all tokens in one top bucket, a few alone in others
	}{{1000, nil, false}, {200_000, nil, false}, {1 << 20, nil, false}, {70_000, nil, true}, {1000, src, false}, {200_000, src, false}} {
		es := randomEntries(rng, tt.n, recs)
		if tt.skewed {
			for i := 100; i < len(es); i++ {
				es[i].hi &= 1<<(64-topBits) - 1
			}
		}
		cmp := cmpEntry
		if tt.src != nil {
			cmp = cmpEntryBySource(tt.src)
		}
		want := slices.Clone(es)
		slices.SortFunc(want, cmp)
		if got := sortEntries(es, tt.src); !slices.Equal(got, want) {
			t.Errorf("%d entries, by source %v, skewed %v: sortEntries differs from slices.SortFunc", tt.n, tt.src != nil, tt.skewed)
		}
	}
}

// TestForEachGroup checks that forEachGroup finds every token's records
// once each, and that a group kind's tokens are shared only within a
// source.
func TestForEachGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	const recs = 300
	src := make([]int32, recs)
	for r := range src {
		src[r] = int32(r / 100)
	}
	for _, bySource := range []bool{false, true} {
		es := make([]entry, 5000)
		for i := range es {
			es[i] = entry{hi: uint64(rng.IntN(40)), lo: uint32(rng.IntN(2)), rec: int32(rng.IntN(recs))}
		}
		type key struct {
			hi  uint64
			lo  uint32
			src int32
		}
		want := map[key]map[int32]bool{}
		var s []int32
		if bySource {
			s = src
		}
		for _, e := range es {
			k := key{e.hi, e.lo, -1}
			if bySource {
				k.src = src[e.rec]
			}
			if want[k] == nil {
				want[k] = map[int32]bool{}
			}
			want[k][e.rec] = true
		}
		seen := map[key]bool{}
		forEachGroup(slices.Clone(es), s, func(g []entry) {
			k := key{g[0].hi, g[0].lo, -1}
			if bySource {
				k.src = src[g[0].rec]
			}
			if seen[k] {
				t.Errorf("by source %v: token %v in two groups", bySource, k)
			}
			seen[k] = true
			got := map[int32]bool{}
			for _, e := range g {
				if e.hi != k.hi || e.lo != k.lo || (bySource && src[e.rec] != k.src) {
					t.Errorf("by source %v: group of %v holds %+v", bySource, k, e)
				}
				if got[e.rec] {
					t.Errorf("by source %v: record %d twice in group %v", bySource, e.rec, k)
				}
				got[e.rec] = true
			}
			if len(got) != len(want[k]) {
				t.Errorf("by source %v: group %v has %d records, want %d", bySource, k, len(got), len(want[k]))
			}
		})
		if len(seen) != len(want) {
			t.Errorf("by source %v: %d groups, want %d", bySource, len(seen), len(want))
		}
	}
}

// TestBlocks checks that blocks keeps the groups of 2 to maxRecords
// records, in order, and counts the larger ones.
func TestBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	for _, maxRecords := range []int{2, 5, 64} {
		var bl blocks
		var want [][]int32
		skipped := 0
		rec := int32(0)
		for range 500 {
			g := make([]entry, rng.IntN(maxRecords+3))
			var recs []int32
			for i := range g {
				g[i] = entry{hi: 1, rec: rec}
				recs = append(recs, rec)
				rec++
			}
			bl.add(g, maxRecords)
			switch {
			case len(g) > maxRecords:
				skipped++
			case len(g) >= 2:
				want = append(want, recs)
			}
		}
		var got [][]int32
		bl.each(func(g []int32) { got = append(got, slices.Clone(g)) })
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("max %d: each gives %v, want %v", maxRecords, got, want)
		}
		if bl.skipped != skipped {
			t.Errorf("max %d: %d skipped, want %d", maxRecords, bl.skipped, skipped)
		}
	}
}

// mergeComponentsRef is mergeComponents as it was written first, with
// maps: the reference TestMergeComponents checks against.
func mergeComponentsRef(props [][2]int32, find func(int32) int32, guard func(roots []int32) string, union func(a, b int32), blocked map[string]int) {
	parent := map[int32]int32{}
	var cfind func(x int32) int32
	cfind = func(x int32) int32 {
		p, ok := parent[x]
		if !ok || p == x {
			return x
		}
		r := cfind(p)
		parent[x] = r
		return r
	}
	var live [][2]int32
	for _, pr := range props {
		ra, rb := find(pr[0]), find(pr[1])
		if ra == rb {
			continue
		}
		live = append(live, pr)
		ca, cb := cfind(ra), cfind(rb)
		if ca != cb {
			parent[max(ca, cb)] = min(ca, cb)
		}
	}
	comps := map[int32][]int32{}
	for x := range parent {
		c := cfind(x)
		comps[c] = append(comps[c], x)
	}
	ok := map[int32]bool{}
	for c, roots := range comps {
		if _, in := parent[c]; !in {
			roots = append(roots, c)
		}
		slices.Sort(roots)
		roots = slices.Compact(roots)
		if g := guard(roots); g != "" {
			blocked[g]++
			continue
		}
		ok[c] = true
	}
	for _, pr := range live {
		if ok[cfind(find(pr[0]))] {
			union(pr[0], pr[1])
		}
	}
}

// TestMergeComponents applies random kinds of proposals over a
// union-find, with a guard that refuses some components, through
// mergeComponents and through the reference, and compares the unions
// made, the sets and the counts of refusals.
func TestMergeComponents(t *testing.T) {
	const n = 400
	type uf struct {
		parent []int32
		unions [][2]int32
	}
	newUF := func() *uf {
		u := &uf{parent: make([]int32, n)}
		for i := range u.parent {
			u.parent[i] = int32(i)
		}
		return u
	}
	find := func(u *uf) func(int32) int32 {
		return func(x int32) int32 {
			for u.parent[x] != x {
				x = u.parent[x]
			}
			return x
		}
	}
	union := func(u *uf) func(a, b int32) {
		return func(a, b int32) {
			ra, rb := find(u)(a), find(u)(b)
			if ra != rb {
				u.parent[max(ra, rb)] = min(ra, rb)
				u.unions = append(u.unions, [2]int32{a, b})
			}
		}
	}
	// The guard refuses a component of more than 5 sets, or whose
	// smallest set is a multiple of 7, and checks that roots are sorted
	// and distinct.
	guard := func(roots []int32) string {
		if !slices.IsSorted(roots) || len(slices.Compact(slices.Clone(roots))) != len(roots) {
			t.Fatalf("roots %v not sorted and distinct", roots)
		}
		switch {
		case len(roots) > 5:
			return "size"
		case roots[0]%7 == 0:
			return "seven"
		}
		return ""
	}
	rng := rand.New(rand.NewPCG(5, 8))
	got, want := newUF(), newUF()
	cs := newComponents(n)
	gotBlocked, wantBlocked := map[string]int{}, map[string]int{}
	for kind := range 30 {
		props := make([][2]int32, rng.IntN(60))
		for i := range props {
			props[i] = [2]int32{int32(rng.IntN(n)), int32(rng.IntN(n))}
		}
		mergeComponents(cs, slices.Clone(props), find(got), guard, union(got), gotBlocked)
		mergeComponentsRef(slices.Clone(props), find(want), guard, union(want), wantBlocked)
		if !slices.Equal(got.unions, want.unions) || !slices.Equal(got.parent, want.parent) {
			t.Fatalf("kind %d: unions %v, want %v", kind, got.unions, want.unions)
		}
		for x := range n {
			if cs.parent[x] != -1 || cs.ok[x] {
				t.Fatalf("kind %d: scratch not reset at %d", kind, x)
			}
		}
	}
	if !maps.Equal(gotBlocked, wantBlocked) {
		t.Errorf("blocked %v, want %v", gotBlocked, wantBlocked)
	}
	if len(got.unions) == 0 || len(gotBlocked) < 2 {
		t.Errorf("%d unions, blocked %v: the test exercises too little", len(got.unions), gotBlocked)
	}
}

// TestSortByPair checks the radix sort of candidates against a sort by
// comparison, on lists long enough for the radix.
func TestSortByPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 5, 1000, 5000, 70000} {
		for _, hi := range []int32{3, 1 << 10, 1 << 20, 1<<31 - 1} {
			cands := make([]candidate, n)
			for i := range cands {
				a, b := rng.Int32N(hi), rng.Int32N(hi)
				cands[i] = candidate{a: min(a, b), b: max(a, b), dice: float64(i)}
			}
			want := slices.Clone(cands)
			slices.SortStableFunc(want, cmpPair)
			sortByPair(cands)
			// Candidates of one pair (merged by the caller) may come in
			// any order; the radix sort keeps them in theirs.
			if n >= 1<<10 && !slices.Equal(cands, want) {
				t.Fatalf("n=%d, records below %d: radix order differs from a stable sort", n, hi)
			}
			if !slices.EqualFunc(cands, want, func(x, y candidate) bool { return cmpPair(x, y) == 0 }) {
				t.Fatalf("n=%d, records below %d: not sorted by pair", n, hi)
			}
		}
	}
}

// TestSortGroupKind checks that a long group-kind list, sorted by token
// in buckets and then put in source order, comes out as sorting it by
// cmpEntryBySource does: with the tokens of one kind from one source and
// from three, shared across sources.
func TestSortGroupKind(t *testing.T) {
	for _, nsrc := range []int{1, 3} {
		b := NewBuilder()
		rng := rand.New(rand.NewPCG(5, uint64(nsrc)))
		const n = 1<<bucketBits + 5000
		for i := range n {
			var ref [16]byte
			ref[0], ref[1], ref[2] = byte(i>>16), byte(i>>8), byte(i)
			if _, err := b.Add(fmt.Sprint("source", rng.IntN(nsrc)), ref, nil); err != nil {
				t.Fatal(err)
			}
			var v [16]byte
			v[0], v[15] = byte(rng.IntN(256)), byte(rng.IntN(4000)) // shared by many
			v[14] = byte(rng.IntN(16))
			if err := b.AddToken(matchkey.UnitGroup, &v); err != nil {
				t.Fatal(err)
			}
		}
		l, err := b.linker(Config{}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		k, _ := matchkey.Index(matchkey.UnitGroup)
		want := slices.Clone(l.kinds[k].raw.flatten())
		for i := range want {
			want[i].rec = l.canon[want[i].rec]
		}
		slices.SortFunc(want, cmpEntryBySource(l.src))
		// flatten emptied the list: put it back, in another order.
		in := slices.Clone(want)
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		l.kinds[k].raw = &chunked[entry]{}
		for _, e := range in {
			e.rec = l.orig[e.rec]
			l.kinds[k].raw.append(e)
		}
		l.sortKinds()
		if !slices.Equal(l.kinds[k].entries, want) {
			t.Errorf("%d sources: group kind sorted differently", nsrc)
		}
	}
}
