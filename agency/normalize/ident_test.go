package normalize

import "testing"

// identCase is one input and its expected canonical form ("" = invalid).
type identCase struct{ in, want string }

func checkIdent(t *testing.T, name string, f func(string) (string, bool), tests []identCase) {
	t.Helper()
	for _, tt := range tests {
		got, ok := f(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s(%q) = %q, %v; want %q", name, tt.in, got, ok, tt.want)
		}
	}
}

func TestNINO(t *testing.T) {
	checkIdent(t, "NINO", NINO, []identCase{
		{"AB123456C", "AB123456"},
		{"ab 12 34 56 c", "AB123456"},
		{"AB-12-34-56-D", "AB123456"},
		{"AB123456", "AB123456"}, // suffix missing: accepted
		{"JZ987654A", "JZ987654"},
		{"AB123456E", ""},  // suffix not A-D
		{"DA123456A", ""},  // D not allowed first
		{"FA123456A", ""},  // F not allowed first
		{"QA123456A", ""},  // Q not allowed first
		{"AO123456A", ""},  // O not allowed second
		{"AV123456A", ""},  // V not allowed second
		{"BG123456A", ""},  // not allocated
		{"GB123456A", ""},  // not allocated
		{"NK123456A", ""},  // not allocated
		{"KN123456A", ""},  // not allocated
		{"TN123456A", ""},  // temporary
		{"NT123456A", ""},  // not allocated
		{"ZZ123456A", ""},  // not allocated
		{"AB000000A", ""},  // placeholder
		{"AB12345C", ""},   // five digits
		{"AB1234567C", ""}, // seven digits
		{"A1123456C", ""},
		{"AB12E456C", ""},
		{"", ""},
	})
}

func TestNHSNumber(t *testing.T) {
	checkIdent(t, "NHSNumber", NHSNumber, []identCase{
		{"9434765919", "9434765919"},
		{"943 476 5919", "9434765919"},
		{"943-476-5919", "9434765919"},
		{"4010232137", "4010232137"},
		{"9434765918", ""},  // wrong check digit
		{"1234567890", ""},  // check digit would be 10
		{"0000000000", ""},  // placeholder passes arithmetic
		{"1111111111", ""},  // placeholder passes arithmetic
		{"943476591", ""},   // nine digits
		{"94347659190", ""}, // eleven digits
		{"94347659l9", ""},
		{"", ""},
	})
}

func TestUPN(t *testing.T) {
	checkIdent(t, "UPN", UPN, []identCase{
		{"B801200005001", "B801200005001"},
		{"b801200005001", "B801200005001"},
		{"B 8012 0000 5001", "B801200005001"},
		{"M80120000500A", "M80120000500A"}, // temporary UPN
		{"D93812345678Z", "D93812345678Z"}, // temporary UPN
		{"A801200005001", ""},              // wrong check letter
		{"B80120000500I", ""},              // I is not in the alphabet
		{"X80120000A001", ""},              // letter in the middle
		{"B80120000500", ""},               // too short
		{"1801200005001", ""},              // check character not a letter
		{"", ""},
	})
}

func TestUPRN(t *testing.T) {
	checkIdent(t, "UPRN", UPRN, []identCase{
		{"100023336956", "100023336956"},
		{"000100023336956", "100023336956"},
		{"100023336956.0", "100023336956"},
		{" 1000 2333 6956 ", "100023336956"},
		{"12", "12"},
		{"1000233369561", ""}, // thirteen digits
		{"1.00023E+11", ""},
		{"0", ""},
		{"10002333695A", ""},
		{"", ""},
	})
}

func fuzzIdent(f *testing.F, fn func(string) (string, bool), seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := fn(s)
		if !ok {
			if v != "" {
				t.Fatalf("(%q) = %q with ok=false", s, v)
			}
			return
		}
		if again, ok2 := fn(v); !ok2 || again != v {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, v, again, ok2)
		}
	})
}

func FuzzNINO(f *testing.F) {
	fuzzIdent(f, NINO, "AB123456C", "ab 12 34 56", "TN010180M", "AB123456Z")
}

func FuzzNHSNumber(f *testing.F) {
	fuzzIdent(f, NHSNumber, "943 476 5919", "0000000000", "4010232137")
}

func FuzzUPN(f *testing.F) {
	fuzzIdent(f, UPN, "B801200005001", "M80120000500A", "A801200005001")
}

func FuzzUPRN(f *testing.F) {
	fuzzIdent(f, UPRN, "100023336956", "000012", "1.0", "12.000")
}

func TestOtherID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"5304218", "5304218"},
		{" ab-12 34 ", "AB1234"},
		{"C/0099/x", "C0099X"},
		{"123", ""},
		{"0000000", ""},
		{"XXXX", ""},
		{"", ""},
		{"Zoë-1234", "ZO1234"},
	}
	for _, tt := range tests {
		if got := OtherID(tt.in); got != tt.want {
			t.Errorf("OtherID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzOtherID(f *testing.F) {
	for _, s := range []string{"5304218", "ab-12 34", "0000", "Zoë-1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := OtherID(s)
		if again := OtherID(got); again != got {
			t.Fatalf("OtherID not idempotent: %q -> %q -> %q", s, got, again)
		}
		for _, r := range got {
			if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
				t.Fatalf("OtherID(%q) = %q holds %q", s, got, r)
			}
		}
	})
}
