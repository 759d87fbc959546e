package synth_test

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tfmatch/synth"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func generate(t testing.TB, cfg synth.Config) (*synth.District, string) {
	t.Helper()
	d, err := synth.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	cfg := synth.Config{Seed: 42, Households: 1500}
	_, a := generate(t, cfg)
	_, b := generate(t, cfg)
	cfg.Seed = 43
	_, c := generate(t, cfg)
	ta, tb, tc := readTree(t, a), readTree(t, b), readTree(t, c)
	if len(ta) != 13 {
		t.Errorf("wrote %d files, want 13", len(ta))
	}
	for name, data := range ta {
		if !bytes.Equal(data, tb[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		if strings.HasSuffix(name, ".csv") && bytes.Equal(data, tc[name]) {
			t.Errorf("%s is the same for seeds 42 and 43", name)
		}
	}
}

// TestGolden pins the whole output for a tiny district, so any change of
// the model or the formats shows up in review. Regenerate with
// go test ./synth -run TestGolden -update.
func TestGolden(t *testing.T) {
	_, dir := generate(t, synth.Config{Seed: 7, Households: 40})
	golden := filepath.Join("testdata", "golden")
	got := readTree(t, dir)
	if *update {
		if err := os.RemoveAll(golden); err != nil {
			t.Fatal(err)
		}
		for name, data := range got {
			p := filepath.Join(golden, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := readTree(t, golden)
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s: no longer written", name)
		}
	}
	for name, data := range got {
		if !bytes.Equal(data, want[name]) {
			t.Errorf("%s differs from testdata/golden (run with -update if the change is intended)", name)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  synth.Config
		ok   bool
	}{
		{"zero value", synth.Config{}, true},
		{"explicit", synth.Config{Seed: -3, Households: 5, AsOf: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"negative households", synth.Config{Households: -1}, false},
		{"too many households", synth.Config{Households: synth.MaxHouseholds + 1}, false},
		{"as-of too early", synth.Config{AsOf: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"rate above 1", synth.Config{Errors: synth.ErrorModel{Police: synth.Rates{Typo: 1.5}}}, false},
		{"rate NaN", synth.Config{Errors: synth.ErrorModel{DWP: synth.Rates{MissingID: math.NaN()}}}, false},
		{"negative rate means never", synth.Config{Errors: synth.ErrorModel{DWP: synth.Rates{MissingID: -1}}}, true},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, synth.ErrInvalidConfig) {
			t.Errorf("%s: error %v does not wrap ErrInvalidConfig", tt.name, err)
		}
		if _, gerr := synth.Generate(tt.cfg); !tt.ok && gerr == nil {
			t.Errorf("%s: Generate accepted an invalid config", tt.name)
		}
	}
}

func TestResolvedRates(t *testing.T) {
	def, err := synth.DefaultRates(synth.Police)
	if err != nil {
		t.Fatal(err)
	}
	e := synth.ErrorModel{Police: synth.Rates{Typo: 0.5, Nickname: -1}}
	r, err := e.Resolved(synth.Police)
	if err != nil {
		t.Fatal(err)
	}
	if r.Typo != 0.5 || r.Nickname != 0 || r.StaleAddress != def.StaleAddress {
		t.Errorf("resolved %+v: want Typo 0.5, Nickname 0, StaleAddress default %v", r, def.StaleAddress)
	}
	r, _ = synth.ErrorModel{None: true, Police: synth.Rates{Typo: 0.5}}.Resolved(synth.Police)
	if r != (synth.Rates{}) {
		t.Errorf("None: resolved %+v, want all zero", r)
	}
	if _, err := synth.DefaultRates("health"); err == nil {
		t.Error("DefaultRates accepted an unknown agency")
	}
	if _, err := synth.Mapping("health"); err == nil {
		t.Error("Mapping accepted an unknown agency")
	}
}

// TestTruthConsistent checks the truth files against the extracts and
// against each other, and that the district looks like the model says.
func TestTruthConsistent(t *testing.T) {
	const households = 4000
	d, dir := generate(t, synth.Config{Seed: 9, Households: households})
	sum := d.Summary()
	if sum.Households != households {
		t.Errorf("summary: %d households, want %d", sum.Households, households)
	}

	// households.csv: every person once.
	hh := map[string]string{}
	households2 := map[string]int{}
	for _, r := range readCSV(t, filepath.Join(dir, "truth", "households.csv"))[1:] {
		if _, dup := hh[r[0]]; dup {
			t.Fatalf("households.csv: person %s twice", r[0])
		}
		hh[r[0]] = r[1]
		households2[r[1]]++
	}
	if len(hh) != sum.Persons || len(households2) != households {
		t.Errorf("households.csv: %d persons in %d households, summary says %d in %d", len(hh), len(households2), sum.Persons, households)
	}

	// persons.csv and indicators.csv: exactly the extract rows.
	owner := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(dir, "truth", "persons.csv"))[1:] {
		if _, ok := hh[r[2]]; !ok {
			t.Fatalf("persons.csv: unknown person %s", r[2])
		}
		owner[r[0]+"/"+r[1]] = r[2]
	}
	inds := readIndicators(t, dir)
	if len(inds) != len(owner) {
		t.Errorf("indicators.csv has %d records, persons.csv %d", len(inds), len(owner))
	}
	idCol := map[string]string{synth.Council: "PERSON_ID", synth.Education: "PupilID", synth.Police: "NOMINAL_ID", synth.DWP: "CLAIM_REF"}
	rows := 0
	for _, a := range synth.Agencies() {
		recs := readCSV(t, filepath.Join(dir, a+".csv"))
		col := index(recs[0], idCol[a])
		seen := map[string]bool{}
		for _, r := range recs[1:] {
			key := a + "/" + r[col]
			if seen[key] {
				t.Fatalf("%s: record id %s twice", a, r[col])
			}
			seen[key] = true
			if _, ok := owner[key]; !ok {
				t.Fatalf("%s: record %s not in persons.csv", a, r[col])
			}
		}
		if len(recs)-1 != sum.Records[a] {
			t.Errorf("%s: %d rows, summary says %d", a, len(recs)-1, sum.Records[a])
		}
		rows += len(recs) - 1
	}
	if rows != len(owner) {
		t.Errorf("extracts have %d rows, persons.csv %d", rows, len(owner))
	}

	// Each agency contributes its indicators, and only those.
	contributes := map[string][4]bool{
		synth.Council:   {true, false, false, true},
		synth.Education: {false, true, false, false},
		synth.Police:    {true, false, false, false},
		synth.DWP:       {false, false, true, false},
	}
	count := map[string][4]int{}
	for key, v := range inds {
		a := key[:strings.IndexByte(key, '/')]
		c := count[a]
		for i, b := range v {
			if b {
				c[i]++
				if !contributes[a][i] {
					t.Fatalf("%s: record %s has indicator %s", a, key, synth.Indicators()[i])
				}
			}
		}
		count[a] = c
	}
	for a, want := range contributes {
		for i, w := range want {
			if w && count[a][i] == 0 {
				t.Errorf("%s: no record with indicator %s", a, synth.Indicators()[i])
			}
		}
	}

	// flagged.csv: recompute from indicators at household level.
	var byHH = map[string][4]bool{}
	for key, v := range inds {
		h := hh[owner[key]]
		agg := byHH[h]
		for i := range v {
			agg[i] = agg[i] || v[i]
		}
		byHH[h] = agg
	}
	want := map[string]string{}
	partial := 0
	for h, v := range byHH {
		if rule := synth.Rule(v[0], v[1], v[2], v[3]); rule != "" {
			want[h] = rule
		} else if v[0] || v[1] || v[2] {
			partial++
		}
	}
	flagged := readCSV(t, filepath.Join(dir, "truth", "flagged.csv"))[1:]
	for _, r := range flagged {
		if want[r[0]] != r[1] {
			t.Errorf("flagged.csv: %s rule %s, indicators give %q", r[0], r[1], want[r[0]])
		}
		v := byHH[r[0]]
		for i := range v {
			if (r[2+i] == "1") != v[i] {
				t.Errorf("flagged.csv: %s %s = %s, indicators give %v", r[0], synth.Indicators()[i], r[2+i], v[i])
			}
		}
	}
	if len(flagged) != len(want) {
		t.Errorf("flagged.csv has %d households, indicators give %d", len(flagged), len(want))
	}
	if sum.Flagged[synth.RuleAllThree]+sum.Flagged[synth.RuleTwoPlusLocal] != len(flagged) {
		t.Errorf("summary flagged %v, flagged.csv %d", sum.Flagged, len(flagged))
	}
	// Roughly 1.5-3% of households flagged, many more with some criterion.
	if rate := float64(len(flagged)) / households; rate < 0.012 || rate > 0.035 {
		t.Errorf("%.2f%% of households flagged, want about 1.5-3%%", 100*rate)
	}
	if partial < 3*len(flagged) {
		t.Errorf("only %d households meet some criterion without being flagged (%d flagged): too few near misses", partial, len(flagged))
	}
}

func index(header []string, col string) int {
	for i, h := range header {
		if h == col {
			return i
		}
	}
	return -1
}

// TestExtractFormats checks identifiers and dates in every row.
func TestExtractFormats(t *testing.T) {
	_, dir := generate(t, synth.Config{Seed: 12, Households: 3000})
	re := map[string]*regexp.Regexp{
		"DD/MM/YYYY":  regexp.MustCompile(`^(0[1-9]|[12][0-9]|3[01])/(0[1-9]|1[0-2])/(19|20)[0-9]{2}$`),
		"YYYY-MM-DD":  regexp.MustCompile(`^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`),
		"YYYYMMDD":    regexp.MustCompile(`^(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$`),
		"DD-MON-YYYY": regexp.MustCompile(`^(0[1-9]|[12][0-9]|3[01])-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)-(19|20)[0-9]{2}$`),
		"NINO":        regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$`),
		"UPN":         regexp.MustCompile(`^[A-HJ-NP-RT-Z][0-9]{12}$`),
		"NHS":         regexp.MustCompile(`^[0-9]{10}$`),
		"UPRN":        regexp.MustCompile(`^[0-9]{12}$`),
	}
	columns := map[string]map[string]string{
		synth.Council:   {"DATE_OF_BIRTH": "DD/MM/YYYY", "HOUSING_ASB_EVICTION_DATE": "DD/MM/YYYY", "NHS_NUMBER": "NHS", "UPRN": "UPRN"},
		synth.Education: {"DOB": "YYYY-MM-DD", "UPN": "UPN"},
		synth.Police:    {"DOB": "YYYYMMDD", "OFFENCE_DATE": "DD/MM/YYYY", "ASB_DATE": "YYYY-MM-DD"},
		synth.DWP:       {"DOB": "DD-MON-YYYY", "CLAIM_START": "DD/MM/YYYY", "CLAIM_END": "DD/MM/YYYY", "NINO": "NINO"},
	}
	postcode := regexp.MustCompile(`^(?i)LS[0-9]{1,2} *[0-9][A-Z]{2}$`)
	for a, cols := range columns {
		recs := readCSV(t, filepath.Join(dir, a+".csv"))
		nonEmpty := map[string]int{}
		for _, r := range recs[1:] {
			if len(r) != len(recs[0]) {
				t.Fatalf("%s: row with %d columns, header has %d", a, len(r), len(recs[0]))
			}
			for col, kind := range cols {
				v := r[index(recs[0], col)]
				if v == "" {
					continue
				}
				nonEmpty[col]++
				if !re[kind].MatchString(v) {
					t.Errorf("%s %s: %q is not %s", a, col, v, kind)
				}
			}
			var pcCol string
			for _, c := range []string{"POSTCODE", "Postcode"} {
				if i := index(recs[0], c); i >= 0 {
					pcCol = r[i]
				}
			}
			if pcCol != "" && !postcode.MatchString(pcCol) {
				t.Errorf("%s: postcode %q", a, pcCol)
			}
		}
		for col := range cols {
			if nonEmpty[col] == 0 {
				t.Errorf("%s: column %s always empty", a, col)
			}
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strings.Repeat("0", 0)+itoa(n), func(b *testing.B) {
			var persons int
			for b.Loop() {
				d, err := synth.Generate(synth.Config{Households: n})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.WriteDir(b.TempDir()); err != nil {
					b.Fatal(err)
				}
				persons = d.Summary().Persons
			}
			b.ReportMetric(float64(persons)*float64(b.N)/b.Elapsed().Seconds(), "persons/s")
		})
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return "households=" + s
}
