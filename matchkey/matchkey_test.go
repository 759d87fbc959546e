package matchkey

import (
	"testing"
)

// reference is the obvious lookup, to hold the table to.
func reference() map[string]Info {
	m := map[string]Info{}
	for _, in := range All() {
		m[string(in.Kind)] = in
	}
	return m
}

func TestLookupEveryKind(t *testing.T) {
	if n := len(All()); 2*n > indexSlots {
		t.Fatalf("%d kinds fill more than half of the %d slots of the index", n, indexSlots)
	}
	for _, want := range All() {
		got, ok := Lookup(want.Kind)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", want.Kind, got, ok, want)
		}
		got, ok = LookupBytes([]byte(want.Kind))
		if !ok || got != want {
			t.Errorf("LookupBytes(%q) = %+v, %v; want %+v", want.Kind, got, ok, want)
		}
		if !Valid(want.Kind) {
			t.Errorf("Valid(%q) = false", want.Kind)
		}
	}
	for i, want := range All() {
		if got, ok := Index(want.Kind); !ok || got != i {
			t.Errorf("Index(%q) = %d, %v; want %d", want.Kind, got, ok, i)
		}
		if i > 0 && All()[i-1].Strength >= want.Strength {
			t.Errorf("All: %q (strength %d) after %q (strength %d); want strongest first",
				want.Kind, want.Strength, All()[i-1].Kind, All()[i-1].Strength)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	unknown := []string{"", "n", "NINO", "nino ", " nino", "block", "block_", "blockname", "name_do"}
	for _, in := range All() {
		k := string(in.Kind)
		unknown = append(unknown, k[:len(k)-1], k+"x", "x"+k[1:], k[:len(k)-1]+"\x00")
	}
	ref := reference()
	for _, k := range unknown {
		if _, known := ref[k]; known {
			continue // a prefix of one kind may be another
		}
		if in, ok := Lookup(Kind(k)); ok {
			t.Errorf("Lookup(%q) = %+v, want unknown", k, in)
		}
		if in, ok := LookupBytes([]byte(k)); ok {
			t.Errorf("LookupBytes(%q) = %+v, want unknown", k, in)
		}
		if i, ok := Index(Kind(k)); ok {
			t.Errorf("Index(%q) = %d, want unknown", k, i)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, in := range All() {
		f.Add(string(in.Kind))
	}
	f.Add("")
	f.Add("block_name\xff")
	ref := reference()
	f.Fuzz(func(t *testing.T, k string) {
		want, wantOK := ref[k]
		got, ok := Lookup(Kind(k))
		if ok != wantOK || got != want {
			t.Fatalf("Lookup(%q) = %+v, %v; want %+v, %v", k, got, ok, want, wantOK)
		}
		got, ok = LookupBytes([]byte(k))
		if ok != wantOK || got != want {
			t.Fatalf("LookupBytes(%q) = %+v, %v; want %+v, %v", k, got, ok, want, wantOK)
		}
	})
}

func BenchmarkLookupBytes(b *testing.B) {
	var names [][]byte
	for _, in := range All() {
		names = append(names, []byte(in.Kind))
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := LookupBytes(names[i%len(names)]); !ok {
			b.Fatal("not found")
		}
	}
}
