package synth

import (
	"testing"
	"unicode/utf8"
)

// Published examples: NHS numbers from NHS Digital's documentation and
// test data, UPNs from the DfE algorithm's worked examples (as used by
// python-stdnum), NINOs in HMRC's documented format.
func TestIdentifierVectors(t *testing.T) {
	tests := []struct {
		kind  string
		valid func(string) bool
		in    string
		want  bool
	}{
		{"nhs", validNHSNumber, "9434765919", true},
		{"nhs", validNHSNumber, "9434765870", true},
		{"nhs", validNHSNumber, "4010232137", true},
		{"nhs", validNHSNumber, "9434765918", false}, // wrong check digit
		{"nhs", validNHSNumber, "943476591", false},  // too short
		{"nhs", validNHSNumber, "943476591X", false},
		{"nhs", validNHSNumber, "0000000010", false}, // check would be 10
		{"upn", validUPN, "B801200005001", true},
		{"upn", validUPN, "A801200005001", false}, // wrong check letter
		{"upn", validUPN, "B80120000500", false},
		{"upn", validUPN, "X80120000A001", false}, // letters only last
		{"nino", validNINO, "AB123456C", true},
		{"nino", validNINO, "JG103759A", true},
		{"nino", validNINO, "QQ123456C", false}, // Q is not a first letter
		{"nino", validNINO, "GB123456A", false}, // never allocated
		{"nino", validNINO, "AO123456A", false}, // O is not a second letter
		{"nino", validNINO, "AB123456E", false}, // suffix A-D only
		{"nino", validNINO, "AB12345C", false},
	}
	for _, tt := range tests {
		if got := tt.valid(tt.in); got != tt.want {
			t.Errorf("%s %q: valid = %v, want %v", tt.kind, tt.in, got, tt.want)
		}
	}
}

func TestUPNCheckLetter(t *testing.T) {
	// Every single-character change of a UPN's body changes its check
	// letter (weights 2..13 are all coprime to 23).
	u := makeUPN(383, 2001, 21, 7)
	if !validUPN(u) {
		t.Fatalf("makeUPN gave invalid %s", u)
	}
	for i := 1; i < 13; i++ {
		b := []byte(u)
		b[i] = '0' + (b[i]-'0'+1)%10
		if validUPN(string(b)) {
			t.Errorf("%s (changed at %d) still valid", b, i)
		}
	}
}

func TestGeneratedIdentifiersValidAndDistinct(t *testing.T) {
	d := &District{cfg: Config{Seed: 5}}
	x := d.newIDs()
	seen := map[string]bool{}
	for i := int32(0); i < 20000; i++ {
		for _, v := range []string{x.ninoOf(i), x.nhsOf(i), x.upnOf(i, daysFromCivil(2015, 3, 1)), x.uprnOf(i)} {
			if seen[v] {
				t.Fatalf("identifier %s issued twice", v)
			}
			seen[v] = true
		}
		if n := x.ninoOf(i); !validNINO(n) {
			t.Fatalf("invalid NINO %s", n)
		}
		if n := x.nhsOf(i); !validNHSNumber(n) {
			t.Fatalf("invalid NHS number %s", n)
		}
		if u := x.upnOf(i, daysFromCivil(2015, 3, 1)); !validUPN(u) {
			t.Fatalf("invalid UPN %s", u)
		}
		if u := x.uprnOf(i); len(u) != 12 {
			t.Fatalf("UPRN %s is not 12 digits", u)
		}
	}
}

func TestPermIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 17, 1000, 4096, 4097, 65535} {
		p := newPerm(n, n*7+1)
		seen := make([]bool, n)
		for i := uint64(0); i < n; i++ {
			v := p.at(i)
			if v >= n || seen[v] {
				t.Fatalf("n=%d: at(%d) = %d out of range or repeated", n, i, v)
			}
			seen[v] = true
		}
	}
}

func TestDates(t *testing.T) {
	asof := daysFromCivil(2026, 10, 31)
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"age day before birthday", ageAt(daysFromCivil(2008, 11, 1), asof), 17},
		{"age on birthday", ageAt(daysFromCivil(2008, 10, 31), asof), 18},
		{"age leap day", ageAt(daysFromCivil(2008, 2, 29), daysFromCivil(2026, 2, 28)), 17},
		{"age leap day, 1 March", ageAt(daysFromCivil(2008, 2, 29), daysFromCivil(2026, 3, 1)), 18},
		{"months 12", monthsSince(daysFromCivil(2025, 10, 31), asof), 12},
		{"months 11", monthsSince(daysFromCivil(2025, 11, 1), asof), 11},
		{"months end of month", monthsSince(daysFromCivil(2026, 1, 31), daysFromCivil(2026, 2, 28)), 0},
		{"months future", monthsSince(daysFromCivil(2026, 12, 15), asof), -1},
		{"epoch", int(daysFromCivil(1970, 1, 1)), 0},
		{"leap 2000", int(daysFromCivil(2000, 3, 1) - daysFromCivil(2000, 2, 28)), 2},
		{"not leap 1900", int(daysFromCivil(1900, 3, 1) - daysFromCivil(1900, 2, 28)), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	for _, tt := range []struct {
		layout int
		want   string
	}{{layoutDMYSlash, "01/04/2013"}, {layoutISO, "2013-04-01"}, {layoutCompact, "20130401"}, {layoutDMonY, "01-APR-2013"}} {
		if got := formatDate(daysFromCivil(2013, 4, 1), tt.layout); got != tt.want {
			t.Errorf("layout %d: got %s, want %s", tt.layout, got, tt.want)
		}
	}
	// In-window and out-of-window dates are classified the same by any
	// month arithmetic: check against the whole calendar.
	for d := daysFromCivil(2000, 1, 1); d < daysFromCivil(2030, 1, 1); d += 5 {
		if m := monthsSince(d-330, d); m >= 11 {
			t.Fatalf("330 days before %v is %d months", d, m)
		}
		if m := monthsSince(d-395, d); m < 12 {
			t.Fatalf("395 days before %v is %d months", d, m)
		}
	}
}

func FuzzCivilDate(f *testing.F) {
	for _, s := range []int32{0, -1, 365, 11016, 20757, -719468, 2932896} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, days int32) {
		if days < -1_000_000 || days > 3_000_000 {
			return
		}
		y, m, d := civilFromDays(days)
		if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
			t.Fatalf("%d -> %d-%d-%d is not a date", days, y, m, d)
		}
		if back := daysFromCivil(y, m, d); back != days {
			t.Fatalf("%d -> %d-%d-%d -> %d", days, y, m, d, back)
		}
	})
}

func FuzzIdentifierValidators(f *testing.F) {
	for _, s := range []string{"9434765919", "B801200005001", "AB123456C", "", "ÿÿÿÿÿÿÿÿÿ", "A80120000500Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// No panic; and a valid NHS number or UPN stops being valid when
		// its check character changes.
		if validNHSNumber(s) {
			b := []byte(s)
			b[9] = '0' + (b[9]-'0'+1)%10
			if validNHSNumber(string(b)) {
				t.Fatalf("%s and %s both valid", s, b)
			}
		}
		if validUPN(s) {
			b := []byte(s)
			b[0] = upnLetters[(indexByte(upnLetters, b[0])+1)%23]
			if validUPN(string(b)) {
				t.Fatalf("%s and %s both valid", s, b)
			}
		}
		_ = validNINO(s)
	})
}

func FuzzStripAccents(f *testing.F) {
	for _, s := range []string{"Zoë", "Łukasz", "O'Brien", "Smith-Jones", "Dvořák", "", "\xff", "ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		once := stripAccents(s)
		if twice := stripAccents(once); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}
