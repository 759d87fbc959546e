package keys

import (
	"crypto/sha256"
	"math/bits"
	"testing"
)

func TestFilterPermutation(t *testing.T) {
	m1 := BlindingKey{fixedSecret(0x10)}
	m2 := BlindingKey{fixedSecret(0x11)}
	p1, err := m1.FilterPermutation()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := m2.FilterPermutation()
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 {
		t.Fatal("different blinding keys gave the same permutation")
	}
	seen := make([]bool, FilterBits)
	fixed := 0
	for i, v := range p1 {
		if int(v) >= FilterBits || seen[v] {
			t.Fatalf("entry %d = %d: not a permutation", i, v)
		}
		seen[v] = true
		if int(v) == i {
			fixed++
		}
	}
	if fixed > 10 { // a random permutation has one fixed point on average
		t.Errorf("%d fixed points", fixed)
	}
	again, _ := m1.FilterPermutation()
	if again != p1 {
		t.Error("permutation not deterministic")
	}

	// Dice is invariant; popcount preserved.
	tests := []struct {
		name string
		a, b []int
	}{
		{"disjoint", []int{1, 2, 3}, []int{4, 5, 6}},
		{"overlap", []int{0, 7, 8, 1023, 500}, []int{7, 8, 9, 500}},
		{"equal", []int{10, 20, 30}, []int{10, 20, 30}},
	}
	for _, tt := range tests {
		var a, b Filter
		for _, i := range tt.a {
			a.Set(i)
		}
		for _, i := range tt.b {
			b.Set(i)
		}
		pa, pb := p1.Apply(a), p1.Apply(b)
		if common(a, b) != common(pa, pb) || pop(a) != pop(pa) || pop(b) != pop(pb) {
			t.Errorf("%s: permutation changed popcounts", tt.name)
		}
		for _, i := range tt.a {
			if !pa.Has(int(p1[i])) {
				t.Errorf("%s: bit %d not moved to %d", tt.name, i, p1[i])
			}
		}
	}
}

func pop(f Filter) int {
	n := 0
	for _, b := range f {
		n += bits.OnesCount8(b)
	}
	return n
}

func common(a, b Filter) int {
	n := 0
	for i := range a {
		n += bits.OnesCount8(a[i] & b[i])
	}
	return n
}

func TestBloomKeySeparation(t *testing.T) {
	p := ProgrammeSecret{fixedSecret(1)}
	c := Context{Epoch: 1}
	g, err := p.BloomKey("given", c)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := p.BloomKey("family", c)
	g2, _ := p.BloomKey("given", Context{Epoch: 2})
	a := g.Positions(nil, "an", 16)
	if b := f.Positions(nil, "an", 16); equalU16(a, b) {
		t.Error("fields share positions")
	}
	if b := g2.Positions(nil, "an", 16); equalU16(a, b) {
		t.Error("epochs share positions")
	}
	for _, bad := range []string{"", "Given", "a/b", "x y"} {
		if _, err := p.BloomKey(bad, c); err == nil {
			t.Errorf("BloomKey(%q) accepted", bad)
		}
	}
	if n := len(g.Positions(nil, "x", 99)); n != MaxBitsPerGram {
		t.Errorf("bits clamped to %d, want %d", n, MaxBitsPerGram)
	}
	if n := len(g.Positions(nil, "x", 0)); n != 1 {
		t.Errorf("bits 0 gave %d positions, want 1", n)
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestApplyMovesEveryBit checks Apply against its definition, bit by
// bit, on filters of every density: out has bit p[i] set exactly when f
// has bit i set.
func TestApplyMovesEveryBit(t *testing.T) {
	p, err := BlindingKey{fixedSecret(0x12)}.FilterPermutation()
	if err != nil {
		t.Fatal(err)
	}
	for _, density := range []int{0, 1, 10, 50, 90, 100} {
		var f Filter
		for i := range FilterBits {
			// A fixed pseudo-random byte per bit and density.
			if h := sha256.Sum256([]byte{byte(i >> 8), byte(i), byte(density)}); int(h[0])*100 < density*256 {
				f.Set(i)
			}
		}
		out := p.Apply(f)
		for i := range FilterBits {
			if out.Has(int(p[i])) != f.Has(i) {
				t.Fatalf("density %d%%: bit %d (to %d) set %v in f, %v in Apply(f)", density, i, p[i], f.Has(i), out.Has(int(p[i])))
			}
		}
	}
}
