package normalize

import (
	"slices"
	"strings"
	"testing"
)

func TestPostcode(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means invalid
	}{
		{"M1 1AE", "M1 1AE"},      // A9 9AA
		{"b33 8th", "B33 8TH"},    // A99 9AA
		{"CR2 6XH", "CR2 6XH"},    // AA9 9AA
		{"DN55 1PT", "DN55 1PT"},  // AA99 9AA
		{"W1A 1HQ", "W1A 1HQ"},    // A9A 9AA
		{"EC1A 1BB", "EC1A 1BB"},  // AA9A 9AA
		{"GIR 0AA", "GIR 0AA"},    // special
		{"gir0aa", "GIR 0AA"},     // special, compact
		{"ls11ab", "LS1 1AB"},     // no space
		{" LS1  1AB ", "LS1 1AB"}, // extra spaces
		{"LS1-1AB", "LS1 1AB"},    // dash
		{"LS1 OAB", "LS1 0AB"},    // letter O for zero in inward code
		{"QS1 1AB", ""},           // Q not allowed first
		{"AI1 1AB", ""},           // I not allowed second
		{"W1I 1HQ", ""},           // I not allowed third in A9A
		{"EC1C 1BB", ""},          // C not allowed fourth in AA9A
		{"LS1 1AC", ""},           // C not allowed in inward
		{"LS1 1A", ""},            // too short
		{"LS123 1AB", ""},         // too long
		{"LS1 AAB", ""},           // inward must start with digit
		{"ZZ99 3VZ", ""},          // NHS pseudo-postcode: Z not allowed second
		{"LS1 1AB!", ""},          // junk
		{"NFA", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := Postcode(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Postcode(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestFindPostcode(t *testing.T) {
	tests := []struct {
		words []string
		want  string
		rest  []string
	}{
		{[]string{"14", "high", "street", "leeds", "ls1", "1ab"}, "LS1 1AB", []string{"14", "high", "street", "leeds"}},
		{[]string{"leeds", "ls11ab"}, "LS1 1AB", []string{"leeds"}},
		{[]string{"14", "high", "street"}, "", []string{"14", "high", "street"}},
	}
	for _, tt := range tests {
		pc, i, j := findPostcode(tt.words)
		rest := tt.words
		if pc != "" {
			rest = append(slices.Clone(tt.words[:i]), tt.words[j:]...)
		}
		if pc != tt.want || !slices.Equal(rest, tt.rest) {
			t.Errorf("findPostcode(%q) = %q, rest %q; want %q, %q", tt.words, pc, rest, tt.want, tt.rest)
		}
	}
}

func FuzzPostcode(f *testing.F) {
	for _, s := range []string{"M1 1AE", "ec1a1bb", "GIR 0AA", "LS1 OAB", "ZZ99 3VZ", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pc, ok := Postcode(s)
		if !ok {
			if pc != "" {
				t.Fatalf("Postcode(%q) = %q with ok=false", s, pc)
			}
			return
		}
		again, ok2 := Postcode(pc)
		if !ok2 || again != pc {
			t.Fatalf("Postcode not idempotent: %q → %q → %q, %v", s, pc, again, ok2)
		}
		if strings.Count(pc, " ") != 1 || pc[len(pc)-4] != ' ' || strings.ToUpper(pc) != pc {
			t.Fatalf("Postcode(%q) = %q is not canonical", s, pc)
		}
		// A postcode is also found inside free text.
		if got := ParseAddress("1 Some Street, Town " + strings.ToLower(pc)).Postcode; got != pc {
			t.Fatalf("ParseAddress did not find postcode %q (got %q)", pc, got)
		}
	})
}

// FuzzValidPostcodeNotNFA checks what normalizeAddress relies on to test
// a postcode field as a postcode before as "no fixed abode" text: no text
// that Postcode accepts is such text.
func FuzzValidPostcodeNotNFA(f *testing.F) {
	for _, s := range []string{"LS1 1AB", "ls11ab", "NFA", "nfa 1ab", "ZZ99 3VZ", "zz993vz", "homeless", "GIR 0AA", "SW1A 2AA", "N1 9GU", "NF1 0AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, ok := Postcode(s); ok && isNFAText(s) {
			t.Errorf("Postcode accepts %q, which is no fixed abode text", s)
		}
	})
}
