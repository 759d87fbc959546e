package synth

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// only returns rates with every error off except the named one.
func only(name string, p float64) Rates {
	var r Rates
	for _, f := range r.fields() {
		*f.p = -1
		if f.name == name {
			*f.p = p
		}
	}
	return r
}

// TestErrorRates measures each recording error in generated council
// records (compared with the true values) and checks the observed rate
// against the configured one.
func TestErrorRates(t *testing.T) {
	type obs struct{ eligible, hit bool }
	tests := []struct {
		rate    string
		p       float64
		measure func(d *District, x *ids, p *person, row []string) obs
	}{
		{"Typo", 0.10, func(d *District, x *ids, p *person, row []string) obs {
			return obs{true, row[2] != d.t.names[p.given]}
		}},
		{"Nickname", 0.30, func(d *District, x *ids, p *person, row []string) obs {
			return obs{len(d.t.nicknames[p.given]) > 0, row[2] != d.t.names[p.given]}
		}},
		{"DropMiddle", 0.40, func(d *District, x *ids, p *person, row []string) obs {
			return obs{p.middle > 0, row[3] == ""}
		}},
		{"NameSwap", 0.05, func(d *District, x *ids, p *person, row []string) obs {
			return obs{true, row[2] != d.t.names[p.given]}
		}},
		{"OldSurname", 0.25, func(d *District, x *ids, p *person, row []string) obs {
			if p.prevFamily == 0 {
				return obs{}
			}
			return obs{true, row[4] == d.t.names[p.prevFamily-1]}
		}},
		{"DOBSwap", 0.10, func(d *District, x *ids, p *person, row []string) obs {
			_, m, day := civilFromDays(p.dob)
			return obs{day <= 12 && day != m, row[5] != formatDate(p.dob, layoutDMYSlash)}
		}},
		{"DOBOffByOne", 0.10, func(d *District, x *ids, p *person, row []string) obs {
			return obs{true, row[5] != formatDate(p.dob, layoutDMYSlash)}
		}},
		{"MissingPostcode", 0.10, func(d *District, x *ids, p *person, row []string) obs {
			return obs{d.households[p.hh].dwelling >= 0, row[12] == ""}
		}},
		{"PostcodeFormat", 0.20, func(d *District, x *ids, p *person, row []string) obs {
			dw := d.households[p.hh].dwelling
			return obs{dw >= 0, dw >= 0 && row[12] != d.postcodes[d.dwellings[dw].postcode]}
		}},
		{"StaleAddress", 0.10, func(d *District, x *ids, p *person, row []string) obs {
			dw := d.households[p.hh].dwelling
			return obs{dw >= 0, dw >= 0 && row[13] != x.uprnOf(dw)}
		}},
		{"MissingFlat", 0.30, func(d *District, x *ids, p *person, row []string) obs {
			dw := d.households[p.hh].dwelling
			return obs{dw >= 0 && d.dwellings[dw].flat > 0, !strings.HasPrefix(row[8], "Flat ")}
		}},
		{"StreetAbbrev", 0.50, func(d *District, x *ids, p *person, row []string) obs {
			dw := d.households[p.hh].dwelling
			if dw < 0 {
				return obs{}
			}
			st := d.t.streetTypes[d.streets[d.dwellings[dw].street].typ]
			line := strings.Join(row[8:11], ", ")
			return obs{st.abbrev != st.name, !strings.Contains(line, " "+st.name)}
		}},
		{"MissingID", 0.30, func(d *District, x *ids, p *person, row []string) obs {
			return obs{true, row[7] == ""}
		}},
		{"NoFixedAbode", 0.05, func(d *District, x *ids, p *person, row []string) obs {
			return obs{d.households[p.hh].dwelling >= 0, row[8] == noFixedAbode}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rate, func(t *testing.T) {
			d, err := Generate(Config{Seed: 21, Households: 3000, Errors: ErrorModel{Council: only(tt.rate, tt.p)}})
			if err != nil {
				t.Fatal(err)
			}
			x := d.newIDs()
			rd := d.newRenderer(agCouncil, x)
			n, hits := 0, 0
			for k := range d.recs[agCouncil] {
				rd.row(k)
				o := tt.measure(d, x, &d.persons[d.recs[agCouncil][k].p], rd.out)
				if o.eligible {
					n++
					if o.hit {
						hits++
					}
				}
			}
			if n < 100 {
				t.Fatalf("only %d eligible records", n)
			}
			got := float64(hits) / float64(n)
			tol := 4*math.Sqrt(tt.p*(1-tt.p)/float64(n)) + 0.01
			if math.Abs(got-tt.p) > tol {
				t.Errorf("%s: observed %.3f over %d records, configured %.3f (tolerance %.3f)", tt.rate, got, n, tt.p, tol)
			}
		})
	}
}

// TestNoErrors checks that with errors off every record carries the true
// values.
func TestNoErrors(t *testing.T) {
	d, err := Generate(Config{Seed: 2, Households: 2000, Errors: ErrorModel{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	x := d.newIDs()
	rd := d.newRenderer(agPolice, x)
	for k := range d.recs[agPolice] {
		rd.row(k)
		p := &d.persons[d.recs[agPolice][k].p]
		fam := d.t.names[p.family]
		if p.family2 > 0 {
			fam += "-" + d.t.names[p.family2-1]
		}
		if rd.out[1] != strings.ToUpper(fam) || rd.out[2] != d.t.names[p.given] || rd.out[4] != formatDate(p.dob, layoutCompact) {
			t.Fatalf("police row %v differs from the truth", rd.out[:5])
		}
		if dw := d.households[p.hh].dwelling; dw >= 0 && rd.out[6] != d.postcodes[d.dwellings[dw].postcode] {
			t.Fatalf("police row postcode %q, want %q", rd.out[6], d.postcodes[d.dwellings[dw].postcode])
		}
	}
}

func TestTypo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []string{"Smith", "Zoë", "O'Brien", "Li", "Ng"} {
		for i := 0; i < 200; i++ {
			got := typo(r, s)
			if got == "" || !utf8.ValidString(got) {
				t.Fatalf("typo(%q) = %q", s, got)
			}
			if d := utf8.RuneCountInString(got) - utf8.RuneCountInString(s); d < -1 || d > 1 {
				t.Fatalf("typo(%q) = %q: length changed by %d", s, got, d)
			}
		}
	}
}

func FuzzTypo(f *testing.F) {
	for _, s := range []string{"Smith", "Zoë", "O'Brien", "", "a", "ßß"} {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, s string, seed uint64) {
		if !utf8.ValidString(s) {
			return
		}
		r := rand.New(rand.NewPCG(seed, 0))
		got := typo(r, s)
		if d := utf8.RuneCountInString(got) - utf8.RuneCountInString(s); d < -1 || d > 1 {
			t.Fatalf("typo(%q) = %q: length changed by %d", s, got, d)
		}
		if s != "" && got == "" {
			t.Fatalf("typo(%q) is empty", s)
		}
	})
}

func FuzzPlainName(f *testing.F) {
	for _, s := range []string{"O'Brien", "Smith-Jones", "Zoë", "D'Souza-Łukasz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		r := rand.New(rand.NewPCG(3, 4))
		once := plainName(r, s)
		if strings.ContainsAny(once, "'-") {
			t.Fatalf("plainName(%q) = %q keeps punctuation", s, once)
		}
		if twice := plainName(r, once); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
	})
}
