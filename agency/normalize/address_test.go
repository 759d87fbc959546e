package normalize

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Address
	}{
		{"FLAT 2, 14 HIGH ST, LEEDS", Address{Flat: "2", Number: "14", Street: "high street", Town: "leeds"}},
		{"2/14 High Street", Address{Flat: "2", Number: "14", Street: "high street"}},
		{"14a High St", Address{Number: "14a", Street: "high street"}},
		{"14 A High Street, Bradford", Address{Number: "14a", Street: "high street", Town: "bradford"}},
		{"Flat B 3 Cross Road", Address{Flat: "b", Number: "3", Street: "cross road"}},
		{"Rose Cottage, Mill Lane", Address{Number: "rose cottage", Street: "mill lane"}},
		{"The Old Rectory, Church Ln, Little Snoring", Address{Number: "old rectory", Street: "church lane", Town: "little snoring"}},
		{"Flat 3, Rose Court, High St, Leeds", Address{Flat: "3", Number: "rose court", Street: "high street", Town: "leeds"}},
		{"2, 14 High St", Address{Flat: "2", Number: "14", Street: "high street"}},
		{"Flat 02, 014 High St", Address{Flat: "2", Number: "14", Street: "high street"}},
		{"Apartment 12, Riverside House, 5 Quay St, Manchester M3 3AB", Address{Postcode: "M3 3AB", Flat: "12", Number: "5", Street: "quay street", Town: "manchester"}},
		{"Ground Floor Flat, 22 Acacia Ave, Leeds, ls6 2ab", Address{Postcode: "LS6 2AB", Flat: "gf", Number: "22", Street: "acacia avenue", Town: "leeds"}},
		{"GFF 22 Acacia Avenue", Address{Flat: "gf", Number: "22", Street: "acacia avenue"}},
		{"St Mary's Rd, St Albans AL1 3AB", Address{Postcode: "AL1 3AB", Street: "saint marys road", Town: "saint albans"}},
		{"12 Park View Rd, Headingley, Leeds LS6 3AB", Address{Postcode: "LS6 3AB", Number: "12", Street: "park view road", Town: "leeds"}},
		{"14-16 Market Pl", Address{Number: "14-16", Street: "market place"}},
		{"No. 7 Elm Gr", Address{Number: "7", Street: "elm grove"}},
		{"14,High Street,LEEDS,LS11AB", Address{Postcode: "LS1 1AB", Number: "14", Street: "high street", Town: "leeds"}},
		{"Unit 4 9 Cl. Gdns", Address{Flat: "4", Number: "9", Street: "close gardens"}},
		{"NO FIXED ABODE", Address{NoFixedAbode: true}},
		{"NFA", Address{NoFixedAbode: true}},
		{"No fixed address, Leeds", Address{NoFixedAbode: true}},
		{"N.F.A.", Address{NoFixedAbode: true}},
		{"Somewhere ZZ99 3VZ", Address{NoFixedAbode: true}},
		{"", Address{}},
		{",,,", Address{}},
	}
	for _, tt := range tests {
		if got := ParseAddress(tt.in); got != tt.want {
			t.Errorf("ParseAddress(%q) =\n\t%+v, want\n\t%+v", tt.in, got, tt.want)
		}
	}
}

func TestStreet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"High St", "high street"},
		{"High St.", "high street"},
		{"St Mary's Road", "saint marys road"},
		{"St. John's Rd", "saint johns road"},
		{"Church Rd", "church road"},
		{"Acacia Ave", "acacia avenue"},
		{"Oak Cl", "oak close"},
		{"Mill Dr", "mill drive"},
		{"Park Cres", "park crescent"},
		{"Mill Ln", "mill lane"},
		{"Kew Gdns", "kew gardens"},
		{"Market Pl", "market place"},
		{"Berkeley Sq", "berkeley square"},
		{"Earls Ct", "earls court"},
		{"Victoria Terr", "victoria terrace"},
		{"St", "street"},
		{"street", "street"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Street(tt.in); got != tt.want {
			t.Errorf("Street(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFlat(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Flat 2", "2"}, {"2", "2"}, {"FLAT 02", "2"}, {"Apartment B", "b"},
		{"Flat No. 3", "3"}, {"Ground Floor Flat", "gf"}, {"First Floor", "1f"},
		{"GFF", "gf"}, {"Unit 4a", "4a"}, {"", ""},
	}
	for _, tt := range tests {
		if got := Flat(tt.in); got != tt.want {
			t.Errorf("Flat(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHouseNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"14", "14"}, {"014", "14"}, {"14A", "14a"}, {"14 a", "14a"}, {"No. 14", "14"},
		{"14-16", "14-16"}, {"Rose Cottage", "rose cottage"}, {"The Old Rectory", "old rectory"},
		{"Ivy Cott", "ivy cottage"}, {"", ""},
	}
	for _, tt := range tests {
		if got := HouseNumber(tt.in); got != tt.want {
			t.Errorf("HouseNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"FLAT 2, 14 HIGH ST, LEEDS", "2/14 High Street", "Flat B 3 Cross Road",
		"Rose Cottage, Mill Lane", "Ground Floor Flat, 22 Acacia Ave, ls6 2ab",
		"NFA", "Flat, 2, 14 High St", "a/b/c", "1-2-3", "flat flat 1", "st st st",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := ParseAddress(s)
		if a.NoFixedAbode && (a != Address{NoFixedAbode: true}) {
			t.Fatalf("ParseAddress(%q) = %+v: NFA with other fields", s, a)
		}
		if a.Postcode != "" {
			if pc, ok := Postcode(a.Postcode); !ok || pc != a.Postcode {
				t.Fatalf("ParseAddress(%q) postcode %q is not canonical", s, a.Postcode)
			}
		}
		// Every part is already normalised: normalising it again is a no-op.
		if got := Street(a.Street); got != a.Street {
			t.Fatalf("ParseAddress(%q) street %q → %q", s, a.Street, got)
		}
		if got := Town(a.Town); got != a.Town {
			t.Fatalf("ParseAddress(%q) town %q → %q", s, a.Town, got)
		}
		if got := HouseNumber(a.Number); got != a.Number {
			t.Fatalf("ParseAddress(%q) number %q → %q", s, a.Number, got)
		}
		if got := Flat(a.Flat); got != a.Flat {
			t.Fatalf("ParseAddress(%q) flat %q → %q", s, a.Flat, got)
		}
		for _, p := range []string{a.Flat, a.Number, a.Street, a.Town} {
			if strings.TrimSpace(p) != p || strings.Contains(p, "  ") {
				t.Fatalf("ParseAddress(%q) = %+v: stray spaces", s, a)
			}
		}
	})
}

// FuzzTextNormalizers checks that the string-to-string normalisers are
// idempotent.
func FuzzTextNormalizers(f *testing.F) {
	for _, s := range []string{"St Mary's Rd", "High St", "st", "14/2-3", "Flat 02", "Mr.", "Female", "2614", "sw1a-1aa", "nsw 2000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range map[string]func(string) string{
			"Street": Street, "Town": Town, "Flat": Flat, "HouseNumber": HouseNumber, "Sex": Sex, "Title": Title, "RawPostcode": RawPostcode,
		} {
			v := fn(s)
			if again := fn(v); again != v {
				t.Fatalf("%s not idempotent: %q → %q → %q", name, s, v, again)
			}
		}
	})
}

func TestRawPostcode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2614", "2614"},
		{" 2614 ", "2614"},
		{"sw1a-1aa", "SW1A1AA"},
		{"12", ""},
		{"n/a", ""},
		{"10115 berlin-mitte", ""},
		{"D02 X285", "D02X285"},
	}
	for _, tt := range tests {
		if got := RawPostcode(tt.in); got != tt.want {
			t.Errorf("RawPostcode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMayBeNFA checks that the quick pre-check never rules out a text that
// isNFA accepts, over the texts isNFA names and random texts built from
// their pieces.
func TestMayBeNFA(t *testing.T) {
	pieces := []string{"nfa", "n", "f", "a", "no", "fixed", "abode", "address", "residence", "of", "homeless",
		"zz99", "3vz", "zz993vz", "xno", "snfa", "nfa/1", "rhino", "14", "high", "st", "leeds"}
	check := func(text string) {
		t.Helper()
		words := strings.Fields(strings.ReplaceAll(text, ",", " "))
		if len(words) > 0 && isNFA(strings.Join(words, " ")) && !mayBeNFA(words) {
			t.Errorf("mayBeNFA rules out %q, which isNFA accepts", text)
		}
	}
	for _, text := range []string{"nfa", "n f a", "nfa nfa", "no fixed abode", "of no fixed abode", "no fixed address",
		"no fixed residence", "homeless", "no abode", "no fixed", "nfa leeds", "leeds nfa", "rhino fixed abode",
		"flat zz99 3vz", "zz993vz", "x, no fixed, abode"} {
		check(text)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for j := range 1 + r.IntN(5) {
			if j > 0 {
				b.WriteString([]string{" ", ", "}[r.IntN(2)])
			}
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		check(b.String())
	}
}
