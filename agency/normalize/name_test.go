package normalize

import (
	"slices"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Zoë", "zoe"},
		{"José", "jose"},
		{"O'Brien", "obrien"},
		{"O’Brien", "obrien"},
		{"O`Brien", "obrien"},
		{"O´Brien", "obrien"},
		{"Smith-Jones", "smith jones"},
		{"  MARY   jane ", "mary jane"},
		{"Łukasz Gößmann", "lukasz gossmann"},
		{"Ødegård", "odegard"},
		{"Siobhán Ní Bhriain", "siobhan ni bhriain"},
		{"J.", "j"},
		{"John2", "john"},
		{"Ｊｏｈｎ", "john"}, // fullwidth
		{"Анна", "анна"},
		{"", ""},
		{"-.,", ""},
	}
	for _, tt := range tests {
		if got := Name(tt.in); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFamilyName(t *testing.T) {
	tests := []struct {
		in        string
		want      string
		wantParts []string
	}{
		{"Smith", "smith", []string{"smith"}},
		{"Smith-Jones", "smithjones", []string{"smith", "jones"}},
		{"Smith Jones", "smithjones", []string{"smith", "jones"}},
		{"SMITH–JONES", "smithjones", []string{"smith", "jones"}}, // en dash
		{"O'Brien", "obrien", []string{"obrien"}},
		{"O Brien", "obrien", []string{"obrien"}},
		{"van der Berg", "vanderberg", []string{"vanderberg"}},
		{"Mc Donald", "mcdonald", []string{"mcdonald"}},
		{"Saint John", "stjohn", []string{"stjohn"}},
		{"St. John", "stjohn", []string{"stjohn"}},
		{"Smith Jr", "smith", []string{"smith"}},
		{"Smith III", "smith", []string{"smith"}},
		{"Le", "le", []string{"le"}},
		{"García-López", "garcialopez", []string{"garcia", "lopez"}},
		{"", "", nil},
	}
	for _, tt := range tests {
		got, parts := FamilyName(tt.in)
		if got != tt.want || !slices.Equal(parts, tt.wantParts) {
			t.Errorf("FamilyName(%q) = %q, %q; want %q, %q", tt.in, got, parts, tt.want, tt.wantParts)
		}
	}
}

func TestGivenNames(t *testing.T) {
	tests := []struct {
		given, middle string
		want          string
		wantMiddle    []string
	}{
		{"John", "", "john", nil},
		{"Mary Jane", "", "mary", []string{"jane"}},
		{"Mary-Jane", "", "mary", []string{"jane"}},
		{"Mary", "Jane Anne", "mary", []string{"jane", "anne"}},
		{"Mary Jane", "Jane", "mary", []string{"jane"}},
		{"Mr John", "", "john", nil},
		{"Mr", "", "", nil},
		{"Master", "", "master", nil}, // weak title alone: kept
		{"", "Paul", "paul", nil},
		{"J.", "", "j", nil},
		{"", "", "", nil},
	}
	for _, tt := range tests {
		got, mid := GivenNames(tt.given, tt.middle)
		if got != tt.want || !slices.Equal(mid, tt.wantMiddle) {
			t.Errorf("GivenNames(%q, %q) = %q, %q; want %q, %q", tt.given, tt.middle, got, mid, tt.want, tt.wantMiddle)
		}
	}
}

func TestParseFullName(t *testing.T) {
	tests := []struct {
		in   string
		want FullName
	}{
		{"John Smith", FullName{Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"SMITH, John Paul", FullName{Given: "john", Middle: []string{"paul"}, Family: "smith", FamilyParts: []string{"smith"}}},
		{"Smith, Mr John", FullName{Title: "mr", Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"John SMITH", FullName{Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"SMITH John", FullName{Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"SMITH-JONES Mary Ann", FullName{Given: "mary", Middle: []string{"ann"}, Family: "smithjones", FamilyParts: []string{"smith", "jones"}}},
		{"Mr John Paul Smith Jr", FullName{Title: "mr", Given: "john", Middle: []string{"paul"}, Family: "smith", FamilyParts: []string{"smith"}}},
		{"John Smith, Jr", FullName{Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"Dr Zoë O'Brien-Jones", FullName{Title: "dr", Given: "zoe", Family: "obrienjones", FamilyParts: []string{"obrien", "jones"}}},
		{"Mary van der Berg", FullName{Given: "mary", Family: "vanderberg", FamilyParts: []string{"vanderberg"}}},
		{"Mohammed Al Hassan", FullName{Given: "mohammed", Family: "alhassan", FamilyParts: []string{"alhassan"}}},
		{"JOHN SMITH", FullName{Given: "john", Family: "smith", FamilyParts: []string{"smith"}}},
		{"Smith", FullName{Family: "smith", FamilyParts: []string{"smith"}}},
		{"Mrs Smith", FullName{Title: "mrs", Family: "smith", FamilyParts: []string{"smith"}}},
		{"O'BRIEN, Mrs Siobhán", FullName{Title: "mrs", Given: "siobhan", Family: "obrien", FamilyParts: []string{"obrien"}}},
		{"", FullName{}},
	}
	for _, tt := range tests {
		got := ParseFullName(tt.in)
		if got.Title != tt.want.Title || got.Given != tt.want.Given || !slices.Equal(got.Middle, tt.want.Middle) ||
			got.Family != tt.want.Family || !slices.Equal(got.FamilyParts, tt.want.FamilyParts) {
			t.Errorf("ParseFullName(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestTitle(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Mr", "mr"}, {"MR.", "mr"}, {"Mister", "mr"}, {"Revd", "rev"},
		{"Doctor", "dr"}, {"Ms", "ms"}, {"Miss", "miss"}, {"Smith", ""},
	}
	for _, tt := range tests {
		if got := Title(tt.in); got != tt.want {
			t.Errorf("Title(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGivenVariants(t *testing.T) {
	tests := []struct {
		given, sex string
		want       []string
	}{
		{"bill", "", []string{"bill", "william"}},
		{"billy", "m", []string{"billy", "william"}},
		{"will", "", []string{"will", "william"}},
		{"william", "", []string{"william"}},
		{"liz", "", []string{"liz", "elizabeth"}},
		{"beth", "f", []string{"beth", "elizabeth"}},
		{"bob", "", []string{"bob", "robert"}},
		{"jim", "", []string{"jim", "james"}},
		{"kathryn", "", []string{"kathryn", "catherine"}},
		{"katherine", "", []string{"katherine", "catherine"}},
		{"muhammad", "", []string{"muhammad", "mohammed"}},
		{"mohamed", "m", []string{"mohamed", "mohammed"}},
		{"alex", "", []string{"alex", "alexander", "alexandra"}},
		{"alex", "m", []string{"alex", "alexander"}},
		{"alex", "f", []string{"alex", "alexandra"}},
		{"sam", "f", []string{"sam", "samantha"}},
		{"sam", "u", []string{"sam", "samuel", "samantha"}},
		{"zebedee", "", []string{"zebedee"}},
		{"", "", nil},
	}
	for _, tt := range tests {
		if got := GivenVariants(tt.given, tt.sex); !slices.Equal(got, tt.want) {
			t.Errorf("GivenVariants(%q, %q) = %q, want %q", tt.given, tt.sex, got, tt.want)
		}
	}
}

func TestNicknameTable(t *testing.T) {
	tab, err := parseNicknames(nicknameData)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab) < 300 {
		t.Errorf("nickname table has %d variants, want a few hundred", len(tab))
	}
	for v, fs := range tab {
		for _, f := range fs {
			if f.name == v {
				t.Errorf("variant %q maps to itself", v)
			}
		}
	}
	bad := []string{
		"william m bill",         // no colon
		"william x: bill",        // bad sex
		"William m: bill",        // not folded
		"william m: Bill",        // not folded
		"william m f: bill",      // extra field
		"william m: bill o'neil", // not folded
	}
	for _, line := range bad {
		if _, err := parseNicknames(line); err == nil {
			t.Errorf("parseNicknames(%q) succeeded, want error", line)
		}
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"Zoë", "O'Brien", "Smith-Jones", "Ｊｏｈｎ", "İstanbul", "ǅemal", "ﬁona", "a\u0301", "´a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Name(s)
		if Name(n) != n {
			t.Fatalf("Name not idempotent: %q → %q → %q", s, n, Name(n))
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("Name(%q) = %q has stray spaces", s, n)
		}
		fam, parts := FamilyName(s)
		if fam != strings.Join(parts, "") {
			t.Fatalf("FamilyName(%q) = %q, parts %q do not join to it", s, fam, parts)
		}
		if f2, _ := FamilyName(fam); f2 != fam {
			t.Fatalf("FamilyName not idempotent: %q → %q → %q", s, fam, f2)
		}
	})
}

func FuzzParseFullName(f *testing.F) {
	for _, s := range []string{"SMITH, John Paul", "Mr John Smith Jr", "Mary van der Berg", "SMITH John", ",", "Dr, Mr", "a, b, c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fn := ParseFullName(s)
		for _, part := range append([]string{fn.Given, fn.Family}, fn.Middle...) {
			if Name(part) != part || strings.Contains(part, " ") && part != fn.Family {
				t.Fatalf("ParseFullName(%q) = %+v: part %q is not one folded word", s, fn, part)
			}
		}
		if fn.Family != strings.Join(fn.FamilyParts, "") {
			t.Fatalf("ParseFullName(%q) = %+v: parts do not join to family", s, fn)
		}
		if fn.Given != "" && fn.Family == "" {
			t.Fatalf("ParseFullName(%q) = %+v: given name without family name", s, fn)
		}
	})
}
