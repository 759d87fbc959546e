package clk

import (
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/agency/normalize"
	"tfmatch/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/filters.golden")

func testEncoder(t testing.TB) *Encoder {
	t.Helper()
	var p keys.ProgrammeSecret
	if err := p.UnmarshalText([]byte("tfmatch-programme-secret-v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")); err != nil {
		t.Fatal(err)
	}
	e, err := NewEncoder(p, keys.Context{ISAHash: keys.HashISA([]byte("tfmatch example ISA\n")), Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func person(t testing.TB, kv ...string) normalize.Person {
	t.Helper()
	m := map[string]string{normalize.FieldRecordID: "r"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	p, _, err := normalize.Normalize(m)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return p
}

const (
	given  = normalize.FieldGivenName
	family = normalize.FieldFamilyName
	dob    = normalize.FieldDOB
	sex    = normalize.FieldSex
	addr   = normalize.FieldAddress
	pc     = normalize.FieldPostcode
	town   = normalize.FieldTown
)

var base = []string{given, "William", family, "Smith", dob, "1980-03-04", sex, "M", addr, "14 High Street, Leeds", pc, "LS1 1AB"}

// with returns base with the given fields replaced ("" removes one).
func with(kv ...string) []string {
	m := map[string]string{}
	var order []string
	for i := 0; i+1 < len(base); i += 2 {
		m[base[i]] = base[i+1]
		order = append(order, base[i])
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := m[kv[i]]; !ok {
			order = append(order, kv[i])
		}
		m[kv[i]] = kv[i+1]
	}
	var out []string
	for _, k := range order {
		out = append(out, k, m[k])
	}
	return out
}

func encode(t testing.TB, w *Worker, kv ...string) keys.Filter {
	t.Helper()
	f, err := w.Encode(person(t, kv...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDiceBehaviour pins what the weights are for: one error of the kinds
// agencies make keeps a record well above the usual Dice threshold 0.8,
// and so does a changed family name with a typo in the given name, while a
// different person sharing surname, birthday and address (a twin) and a
// namesake at another address stay below it.
func TestDiceBehaviour(t *testing.T) {
	w := testEncoder(t).NewWorker()
	a := encode(t, w, base...)
	tests := []struct {
		name     string
		other    []string
		min, max float64
	}{
		{"same", base, 1, 1},
		{"typo in given", with(given, "Wiliam"), 0.9, 1},
		{"typo in first letter of family", with(family, "Xmith"), 0.9, 1},
		{"typo in both names", with(given, "Willaim", family, "Smyth"), 0.8, 0.9},
		{"day and month swapped", with(dob, "1980-04-03"), 0.88, 1},
		{"year wrong", with(dob, "1981-03-04"), 0.9, 1},
		{"no date of birth", with(dob, ""), 0.8, 0.95},
		{"no address", with(addr, "", pc, ""), 0.8, 0.95},
		{"family changed and typo in given", with(family, "Jones", given, "Willam"), 0.8, 0.9},
		{"names swapped", with(given, "Smith", family, "William"), 0.85, 1},
		{"twin", with(given, "Thomas"), 0, 0.76},
		{"twin of other sex", with(given, "Sarah", sex, "F"), 0, 0.78},
		{"namesake born elsewhere in time and place", with(dob, "1955-11-23", addr, "2 Mill Lane, York", pc, "YO1 7HH"), 0, 0.75},
		{"different person", []string{given, "Ayesha", family, "Khan", dob, "2001-09-17", addr, "9 Park Road, Bradford", pc, "BD1 1AA"}, 0, 0.45},
	}
	for _, tt := range tests {
		b := encode(t, w, tt.other...)
		d := Dice(&a, &b)
		t.Logf("%-45s %.3f", tt.name, d)
		if d < tt.min || d > tt.max {
			t.Errorf("%s: Dice %.3f, want in [%.2f, %.2f]", tt.name, d, tt.min, tt.max)
		}
	}
}

func TestNothingToEncode(t *testing.T) {
	w := testEncoder(t).NewWorker()
	p := person(t, normalize.FieldNINO, "AB123456C", dob, "1980-01-01")
	if _, err := w.Encode(p); err != ErrNothingToEncode {
		t.Errorf("Encode without a name: err %v, want ErrNothingToEncode", err)
	}
}

func TestFillRate(t *testing.T) {
	w := testEncoder(t).NewWorker()
	f := encode(t, w, base...)
	n := 0
	for i := range keys.FilterBits {
		if f.Has(i) {
			n++
		}
	}
	if n < keys.FilterBits/5 || n > keys.FilterBits/2 {
		t.Errorf("%d of %d bits set; want a fifth to a half", n, keys.FilterBits)
	}
}

var goldenPeople = [][]string{
	base,
	{given, "Zoë", family, "O'Brien", dob, "1975-12-01", sex, "F"},
	{given, "michaela", family, "neumann", dob, "1915-11-11", normalize.FieldHouseNumber, "8", normalize.FieldStreet, "stanley street", town, "winston hills", pc, "4223"},
	{family, "Lee", addr, "no fixed abode"},
}

// TestGolden pins the encoding: any change to features, weights or keys
// shows here and must be deliberate (see Compatibility in the package
// comment).
func TestGolden(t *testing.T) {
	w := testEncoder(t).NewWorker()
	var b strings.Builder
	for i, rec := range goldenPeople {
		f := encode(t, w, rec...)
		fmt.Fprintf(&b, "# person %d: %q\n%s\n", i+1, rec, hex.EncodeToString(f[:]))
	}
	path := filepath.Join("testdata", "filters.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("filters differ from %s:\n%s", path, b.String())
	}
}

// FuzzEncode checks that encoding never panics, is deterministic, that a
// record's Dice with itself is 1 and that Dice is symmetric and in [0, 1].
func FuzzEncode(f *testing.F) {
	for _, rec := range goldenPeople {
		m := map[string]string{}
		for i := 0; i+1 < len(rec); i += 2 {
			m[rec[i]] = rec[i+1]
		}
		f.Add(m[given], m[family], m[dob], m[sex], m[addr], m[pc], "Smith")
	}
	e := testEncoder(f)
	f.Fuzz(func(t *testing.T, g, fam, d, s, ad, post, other string) {
		p, _, err := normalize.Normalize(map[string]string{
			normalize.FieldRecordID: "r", given: g, family: fam, dob: d, sex: s, addr: ad, pc: post,
		})
		if err != nil {
			return
		}
		w := e.NewWorker()
		a, err := w.Encode(p)
		if err != nil {
			if p.Given != "" || p.Family != "" {
				t.Fatalf("Encode failed on a named person: %v", err)
			}
			return
		}
		again, _ := e.NewWorker().Encode(p)
		if again != a {
			t.Fatal("not deterministic")
		}
		if d := Dice(&a, &a); d != 1 {
			t.Fatalf("Dice with itself %v", d)
		}
		p.Family = normalize.Name(other)
		b, err := w.Encode(p)
		if err != nil {
			return
		}
		if d1, d2 := Dice(&a, &b), Dice(&b, &a); d1 != d2 || d1 < 0 || d1 > 1 {
			t.Fatalf("Dice %v / %v", d1, d2)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	w := testEncoder(b).NewWorker()
	p := person(b, base...)
	for b.Loop() {
		if _, err := w.Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheSameFilters checks that a Worker's feature cache changes no
// bit: records with many shared and some unique grams (so both lookups
// and hashes, and a cache that fills up) encode as a Worker that caches
// nothing encodes them.
func TestCacheSameFilters(t *testing.T) {
	e := testEncoder(t)
	ref := e.NewWorker()
	ref.limit, ref.unionLimit = 0, 0
	cached := e.NewWorker()
	small := e.NewWorker()
	small.limit, small.unionLimit = 40, 7
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	for i := range 3000 {
		kv := []string{
			given, pick("William", "Bill", "Zoë", "Ann", "Anne", "Mohammed", "Siân", "Jo", "") + pick("", "", "x"),
			family, pick("Smith", "O'Brien", "Nguyễn", "Lee", "Smith-Jones", "Иванов", "李", ""),
			dob, fmt.Sprintf("19%02d-%02d-%02d", rng.IntN(100), 1+rng.IntN(12), 1+rng.IntN(28)),
			sex, pick("M", "F", "", "X"),
			addr, fmt.Sprintf("%d %s, %s", 1+rng.IntN(200), pick("High Street", "Mill Lane", "Park Road", "no fixed abode"), pick("Leeds", "York", "Bradford")),
			pc, pick("LS1 1AB", "YO1 7HH", "BD1 1AA", "4223", ""),
			normalize.FieldOtherID, fmt.Sprintf("X%d", rng.IntN(1000)),
		}
		if i%7 == 0 {
			kv = append(kv, given, fmt.Sprintf("Q%dz", i)) // a name never seen before
		}
		p, _, err := normalize.Normalize(fieldMap(kv))
		if err != nil {
			continue
		}
		want, werr := ref.Encode(p)
		for _, w := range []*Worker{cached, small} {
			got, err := w.Encode(p)
			if err != werr || got != want {
				t.Fatalf("record %d %q: cached encoding differs (err %v, want %v)", i, kv, err, werr)
			}
		}
	}
	if len(cached.cache[iName]) == 0 {
		t.Error("no name feature was remembered in the map (non-ASCII bigrams)")
	}
	if len(cached.pos) == 0 || len(small.pos) != small.limit {
		t.Errorf("cached %d features (%d with a limit of %d)", len(cached.pos), len(small.pos), small.limit)
	}
	if len(cached.unions) == 0 || len(small.unions) != small.unionLimit || len(ref.unions) != 0 {
		t.Errorf("remembered %d values (%d with a limit of %d, %d with none)", len(cached.unions), len(small.unions), small.unionLimit, len(ref.unions))
	}
}

func fieldMap(kv []string) map[string]string {
	m := map[string]string{normalize.FieldRecordID: "r"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// BenchmarkEncodeCold encodes 500 varied records with a new Worker each
// time: a run's first records, whose grams are mostly hashed and
// remembered rather than found.
func BenchmarkEncodeCold(b *testing.B) {
	e := testEncoder(b)
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	var people []normalize.Person
	for range 500 {
		people = append(people, person(b,
			given, pick("William", "Bill", "Zoë", "Ann", "Mohammed", "Oleksandr", "Grace"),
			family, pick("Smith", "O'Brien", "Lewandowski", "Patel", "Smith-Jones"),
			dob, fmt.Sprintf("19%02d-%02d-%02d", rng.IntN(100), 1+rng.IntN(12), 1+rng.IntN(28)),
			sex, pick("M", "F"),
			addr, fmt.Sprintf("%d %s, %s", 1+rng.IntN(200), pick("High Street", "Mill Lane", "Park Road"), pick("Leeds", "York")),
			pc, fmt.Sprintf("LS%d %dAB", 1+rng.IntN(20), rng.IntN(10))))
	}
	b.ResetTimer()
	for b.Loop() {
		w := e.NewWorker()
		for _, p := range people {
			if _, err := w.Encode(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(people)), "ns/record")
}

// TestDateTablesSameFilters checks that the date tables change no bit,
// for dates of birth inside their ranges and outside (a Person made by
// hand may hold any date): a Worker encodes as one that caches nothing.
func TestDateTablesSameFilters(t *testing.T) {
	e := testEncoder(t)
	ref := e.NewWorker()
	ref.limit, ref.unionLimit = 0, 0
	cached := e.NewWorker()
	p := person(t, given, "Ann", family, "Lee")
	dates := []normalize.Date{
		{Year: 1890, Month: 1, Day: 1}, {Year: 2100, Month: 12, Day: 31}, {Year: 1980, Month: 3, Day: 4}, {Year: 1980, Month: 3, Day: 5},
		{Year: 1980, Month: 4, Day: 3}, {Year: 1889, Month: 12, Day: 31}, {Year: 2101, Month: 1, Day: 1},
		{Year: 12345, Month: 1, Day: 1}, {Year: 2345, Month: 1, Day: 1}, {Year: -5, Month: 1, Day: 1},
		{Year: 1980, Month: 0, Day: 5}, {Year: 1980, Month: 13, Day: 5}, {Year: 1980, Month: 2, Day: 32},
		{Year: 1980, Month: 105, Day: 5}, {Year: 1980, Month: 5, Day: 105}, {Year: 1980, Month: -1, Day: -2},
		{Year: 5, Month: 1, Day: 0},
	}
	for range 2 { // the second time round, from the tables
		for _, d := range dates {
			p.DOB = d
			want, _ := ref.Encode(p)
			if got, _ := cached.Encode(p); got != want {
				t.Errorf("date %+v: cached encoding differs", d)
			}
		}
	}
}
