package linkage

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// tk makes a token whose value stands for label.
func tk(kind matchkey.Kind, label string) store.Token {
	h := sha256.Sum256([]byte(label))
	return store.Token{Kind: kind, Value: [store.TokenLen]byte(h[:store.TokenLen])}
}

func ref(label string) [16]byte {
	var r [16]byte
	h := sha256.Sum256([]byte("ref:" + label))
	copy(r[:], h[:])
	return r
}

// rec makes a record; its ref stands for name, which tests use to find it.
func rec(source, name string, toks ...store.Token) store.Record {
	return store.Record{Source: source, Ref: ref(name), Tokens: toks}
}

// group returns the names of records per person, and per household the
// sorted names of its records, as sorted strings "a b c".
func groups(recs []store.Record, names []string, res *Result) (persons, households []string) {
	per := map[int][]string{}
	hh := map[int][]string{}
	for i, p := range res.PersonOf {
		per[p] = append(per[p], names[i])
		hh[res.HouseholdOf[p]] = append(hh[res.HouseholdOf[p]], names[i])
	}
	flat := func(m map[int][]string) []string {
		var out []string
		for _, v := range m {
			sort.Strings(v)
			out = append(out, strings.Join(v, " "))
		}
		sort.Strings(out)
		return out
	}
	return flat(per), flat(hh)
}

type named struct {
	name string
	r    store.Record
}

func run(t *testing.T, cfg Config, in []named) (*Result, []string, []string) {
	t.Helper()
	recs := make([]store.Record, len(in))
	names := make([]string, len(in))
	for i, n := range in {
		recs[i], names[i] = n.r, n.name
	}
	res, err := Link(recs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, h := groups(recs, names, res)
	return res, p, h
}

func n(source, name string, toks ...store.Token) named {
	return named{name, rec(source, name, toks...)}
}

func TestPersons(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		recs    []named
		persons []string
		blocked string // a guard that must have fired
	}{
		{
			name: "identifier conflict blocks a strong person key",
			recs: []named{
				n("police", "p1", tk(matchkey.NINO, "AB1"), tk(matchkey.NameDOB, "john smith 1980")),
				n("dwp", "d1", tk(matchkey.NINO, "CD2"), tk(matchkey.NameDOB, "john smith 1980")),
			},
			persons: []string{"d1", "p1"},
			blocked: GuardIdentifier,
		},
		{
			name: "shared identifier links despite other kinds",
			recs: []named{
				n("police", "p1", tk(matchkey.NINO, "AB1"), tk(matchkey.NameDOB, "jon smith")),
				n("dwp", "d1", tk(matchkey.NINO, "AB1"), tk(matchkey.NameDOB, "john smith")),
			},
			persons: []string{"d1 p1"},
		},
		{
			name: "weak key links across sources",
			recs: []named{
				n("police", "p1", tk(matchkey.NameDOB, "a 1980-01-02"), tk(matchkey.NameYOBPostcode, "a 1980 X")),
				n("school", "s1", tk(matchkey.NameDOB, "a 1980-01-12"), tk(matchkey.NameYOBPostcode, "a 1980 X")),
			},
			persons: []string{"p1 s1"},
		},
		{
			name: "weak key does not join two records of one source",
			recs: []named{
				n("school", "james", tk(matchkey.NameDOB, "james"), tk(matchkey.InitialSurnameDOBPost, "j smith")),
				n("school", "jack", tk(matchkey.NameDOB, "jack"), tk(matchkey.InitialSurnameDOBPost, "j smith")),
			},
			persons: []string{"jack", "james"},
			blocked: GuardSameSource,
		},
		{
			name: "twins: a weak key does not join clusters that share a source",
			recs: []named{
				n("police", "p-james", tk(matchkey.NameDOB, "james"), tk(matchkey.InitialSurnameDOBPost, "j smith")),
				n("school", "s-james", tk(matchkey.NameDOB, "james"), tk(matchkey.InitialSurnameDOBPost, "j smith")),
				n("school", "s-jack", tk(matchkey.NameDOB, "jack"), tk(matchkey.InitialSurnameDOBPost, "j smith")),
			},
			persons: []string{"p-james s-james", "s-jack"},
			blocked: GuardSameSource,
		},
		{
			name: "strongest person kind joins a within-source duplicate",
			recs: []named{
				n("school", "s1", tk(matchkey.NameDOB, "x")),
				n("school", "s2", tk(matchkey.NameDOB, "x")),
			},
			persons: []string{"s1 s2"},
		},
		{
			name: "identifier joins a within-source duplicate",
			recs: []named{
				n("dwp", "d1", tk(matchkey.NINO, "N")),
				n("dwp", "d2", tk(matchkey.NINO, "N")),
			},
			persons: []string{"d1 d2"},
		},
		{
			name: "configured same-source kinds",
			cfg:  Config{SameSourceKinds: []matchkey.Kind{}},
			recs: []named{
				n("school", "s1", tk(matchkey.NameDOB, "x")),
				n("school", "s2", tk(matchkey.NameDOB, "x")),
			},
			persons: []string{"s1", "s2"},
			blocked: GuardSameSource,
		},
		{
			name: "weaker key cannot pull in a conflicting identifier",
			recs: []named{
				n("police", "p1", tk(matchkey.NINO, "N1"), tk(matchkey.NameDOB, "x")),
				n("school", "s1", tk(matchkey.NameDOB, "x"), tk(matchkey.PhoneticDOB, "ph")),
				n("dwp", "d1", tk(matchkey.NINO, "N2"), tk(matchkey.PhoneticDOB, "ph")),
			},
			persons: []string{"d1", "p1 s1"},
			blocked: GuardIdentifier,
		},
		{
			name: "different identifier kinds do not conflict",
			recs: []named{
				n("school", "s1", tk(matchkey.UPN, "U"), tk(matchkey.NameDOB, "x")),
				n("dwp", "d1", tk(matchkey.NINO, "N"), tk(matchkey.NameDOB, "x")),
			},
			persons: []string{"d1 s1"},
		},
		{
			name: "cluster size cap stops a chain",
			cfg:  Config{MaxPersonRecords: 3},
			recs: []named{
				n("a", "a1", tk(matchkey.NameDOB, "x")),
				n("b", "b1", tk(matchkey.NameDOB, "x")),
				n("c", "c1", tk(matchkey.NameDOB, "y")),
				n("d", "d1", tk(matchkey.NameDOB, "y")),
				n("b", "b1x", tk(matchkey.PhoneticDOB, "p")),
				n("c", "c1x", tk(matchkey.PhoneticDOB, "p")),
				n("a", "a2", tk(matchkey.PhoneticDOB, "q")),
				n("d", "d2", tk(matchkey.PhoneticDOB, "q"), tk(matchkey.NameDOB, "y")),
			},
			persons: []string{"a1 b1", "a2", "b1x c1x", "c1 d1 d2"},
			blocked: GuardPersonSize,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, persons, _ := run(t, tt.cfg, tt.recs)
			if !reflect.DeepEqual(persons, tt.persons) {
				t.Errorf("persons = %q, want %q", persons, tt.persons)
			}
			if tt.blocked != "" && res.Blocked[tt.blocked] == 0 {
				t.Errorf("guard %s did not fire (blocked %v)", tt.blocked, res.Blocked)
			}
			if got := len(res.Links); got != len(tt.recs)-len(tt.persons) {
				t.Errorf("%d links for %d records in %d persons", got, len(tt.recs), len(tt.persons))
			}
		})
	}
}

func TestOversizedPostingListReported(t *testing.T) {
	var recs []named
	for i := range 13 {
		recs = append(recs, n(fmt.Sprint("src", i), fmt.Sprint("r", i), tk(matchkey.NameDOB, "placeholder"), tk(matchkey.NameDOBDayMonth, fmt.Sprint(i))))
	}
	res, persons, _ := run(t, Config{}, recs)
	if len(persons) != 13 {
		t.Errorf("%d persons, want 13 (the shared key must not be used)", len(persons))
	}
	shared := tk(matchkey.NameDOB, "placeholder").Value
	want := []ReviewItem{{Kind: matchkey.NameDOB, Prefix: [12]byte(shared[:12]), Records: 13, Persons: 13}}
	if !reflect.DeepEqual(res.Review, want) {
		t.Errorf("Review = %+v, want %+v", res.Review, want)
	}
}

func TestHouseholds(t *testing.T) {
	addr := func(label string) store.Token { return tk(matchkey.AddressLine, label) }
	uprn := func(label string) store.Token { return tk(matchkey.UPRN, label) }
	grp := func(label string) store.Token { return tk(matchkey.HouseholdGroup, label) }
	id := func(label string) store.Token { return tk(matchkey.NameDOB, label) }
	hostel := func() []named {
		var out []named
		for i := range 13 {
			out = append(out, n("council", fmt.Sprint("h", i), id(fmt.Sprint("h", i)), addr("hostel")))
		}
		return out
	}
	tests := []struct {
		name       string
		recs       []named
		households []string
		review     int
	}{
		{
			name: "shared address and uprn",
			recs: []named{
				n("school", "kid", id("kid"), addr("1 high st")),
				n("dwp", "mum", id("mum"), addr("1 high st"), uprn("U1")),
				n("council", "dad", id("dad"), uprn("U1")),
				n("police", "other", id("other"), addr("2 high st")),
			},
			households: []string{"dad kid mum", "other"},
		},
		{
			name: "no address: own household",
			recs: []named{
				n("school", "a", id("a")),
				n("school", "b", id("b")),
			},
			households: []string{"a", "b"},
		},
		{
			name:       "hostel reported, not merged",
			recs:       hostel(),
			households: []string{"h0", "h1", "h10", "h11", "h12", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"},
			review:     1,
		},
		{
			name: "group tokens only match within their source",
			recs: []named{
				n("dwp", "d1", id("d1"), grp("G")),
				n("dwp", "d2", id("d2"), grp("G")),
				n("council", "c1", id("c1"), grp("G")),
			},
			households: []string{"c1", "d1 d2"},
		},
		{
			name: "stale address outvoted by two sources",
			recs: []named{
				n("dwp", "mum-dwp", id("mum"), addr("new")),
				n("council", "mum-council", id("mum"), addr("new")),
				n("police", "mum-police", id("mum"), addr("old")),
				n("school", "kid", id("kid"), addr("new")),
				n("council", "tenant1", id("t1"), addr("old")),
				n("council", "tenant2", id("t2"), addr("old")),
			},
			households: []string{"kid mum-council mum-dwp mum-police", "tenant1 tenant2"},
		},
		{
			name: "stale address tie settled by a benefit unit",
			recs: []named{
				n("dwp", "mum-dwp", id("mum"), addr("new"), grp("BU")),
				n("police", "mum-police", id("mum"), addr("old")),
				n("dwp", "dad", id("dad"), addr("new"), grp("BU")),
				n("council", "tenant1", id("t1"), addr("old")),
				n("council", "tenant2", id("t2"), addr("old")),
				n("council", "tenant3", id("t3"), addr("old")),
			},
			households: []string{"dad mum-dwp mum-police", "tenant1 tenant2 tenant3"},
		},
		{
			// Nothing says which address is stale: the person joins
			// neither household (joining one by who lives there would
			// guess).
			name: "stale address tie without a grouping leaves no home",
			recs: []named{
				n("school", "kid-school", id("kid"), addr("new")),
				n("police", "kid-police", id("kid"), addr("old")),
				n("school", "sib1", id("sib1"), addr("new")),
				n("school", "sib2", id("sib2"), addr("new")),
				n("council", "tenant", id("t1"), addr("old")),
			},
			households: []string{"kid-police kid-school", "sib1 sib2", "tenant"},
		},
		{
			name: "household reference outweighs a one-source address",
			recs: []named{
				n("council", "mum", id("mum"), addr("home"), grp("F1")),
				n("council", "kid", id("kid"), addr("home"), grp("F1")),
				n("council", "gran", id("gran"), addr("old"), grp("F1")),
				n("police", "tenant", id("t1"), addr("old")),
			},
			households: []string{"gran kid mum", "tenant"},
		},
		{
			name: "two sources for an address outweigh a household reference",
			recs: []named{
				n("council", "mum", id("mum"), addr("home"), grp("F1")),
				n("council", "son-council", id("son"), addr("flat"), grp("F1")),
				n("police", "son-police", id("son"), addr("flat")),
				n("dwp", "flatmate", id("fm"), addr("flat")),
			},
			// The son's home is the flat (two sources); the council's
			// reference still joins him to his mother, and the flat
			// joins his flatmate: one household of three.
			households: []string{"flatmate mum son-council son-police"},
		},
		{
			name: "one-source addresses of two group-mates: neither is used",
			recs: []named{
				n("dwp", "a", id("a"), addr("A"), grp("BU")),
				n("dwp", "b", id("b"), addr("B"), grp("BU")),
				n("council", "at-a", id("x"), addr("A")),
				n("council", "at-b", id("y"), addr("B")),
			},
			households: []string{"a b", "at-a", "at-b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, hh := run(t, Config{}, tt.recs)
			if !reflect.DeepEqual(hh, tt.households) {
				t.Errorf("households = %q, want %q", hh, tt.households)
			}
			if len(res.Review) != tt.review {
				t.Errorf("Review = %+v, want %d items", res.Review, tt.review)
			}
			if res.Households != len(tt.households) {
				t.Errorf("Households = %d, want %d", res.Households, len(tt.households))
			}
		})
	}
}

func TestHouseholdSizeCap(t *testing.T) {
	var recs []named
	// Two addresses of 3 persons each, bridged by a benefit unit of two
	// whose addresses two sources confirm.
	for i := range 3 {
		a := []store.Token{tk(matchkey.NameDOB, fmt.Sprint("a", i)), tk(matchkey.AddressLine, "A")}
		b := []store.Token{tk(matchkey.NameDOB, fmt.Sprint("b", i)), tk(matchkey.AddressLine, "B")}
		if i == 0 {
			recs = append(recs, n("police", "a0-police", a...), n("police", "b0-police", b...))
			a = append(a, tk(matchkey.HouseholdGroup, "G"))
			b = append(b, tk(matchkey.HouseholdGroup, "G"))
		}
		recs = append(recs, n("council", fmt.Sprint("a", i), a...), n("council", fmt.Sprint("b", i), b...))
	}
	tests := []struct {
		cap        int
		households []string
		blocked    int
	}{
		{6, []string{"a0 a0-police a1 a2 b0 b0-police b1 b2"}, 0},
		{5, []string{"a0 a0-police a1 a2", "b0 b0-police b1 b2"}, 1},
	}
	for _, tt := range tests {
		res, _, hh := run(t, Config{MaxHouseholdPersons: tt.cap}, recs)
		if !reflect.DeepEqual(hh, tt.households) {
			t.Errorf("cap %d: households = %q, want %q", tt.cap, hh, tt.households)
		}
		if got := res.Blocked[GuardHouseholdSize]; got != tt.blocked {
			t.Errorf("cap %d: household_size blocked %d, want %d", tt.cap, got, tt.blocked)
		}
	}
	// A group shared by more persons than the cap is reported.
	res, _, _ := run(t, Config{MaxHouseholdPersons: 1}, recs)
	var groupItems []ReviewItem
	for _, it := range res.Review {
		if it.Kind == matchkey.HouseholdGroup {
			groupItems = append(groupItems, it)
		}
	}
	if len(groupItems) != 1 || groupItems[0].Source != "council" || groupItems[0].Persons != 2 {
		t.Errorf("group review items = %+v", groupItems)
	}
}

func TestLinkErrors(t *testing.T) {
	tests := []struct {
		name string
		recs []store.Record
		cfg  Config
		want string
	}{
		{"duplicate ref", []store.Record{rec("a", "x"), rec("b", "x"), rec("a", "x")}, Config{}, "same source and ref"},
		{"empty source", []store.Record{rec("", "x")}, Config{}, "empty source"},
		{"unknown kind", []store.Record{rec("a", "x", store.Token{Kind: "shoe_size"})}, Config{}, "unknown token kind"},
		{"negative cap", nil, Config{MaxPersonRecords: -1}, "negative"},
		{"bad same-source kind", nil, Config{SameSourceKinds: []matchkey.Kind{matchkey.UPRN}}, "not a person"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Link(tt.recs, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// assignment renders a result keyed by (source, ref), independent of input
// order: each record's person and household numbers.
func assignment(recs []store.Record, res *Result) string {
	lines := make([]string, len(recs))
	for i, r := range recs {
		p := res.PersonOf[i]
		lines[i] = fmt.Sprintf("%s %x person=%d household=%d", r.Source, r.Ref[:4], p, res.HouseholdOf[p])
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func summary(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "persons=%d households=%d links=%d household_links=%d\n", res.Persons, res.Households, len(res.Links), len(res.HouseholdLinks))
	for _, in := range matchkey.All() {
		if c := res.LinksByKind[in.Kind]; c > 0 {
			fmt.Fprintf(&b, "links %s=%d\n", in.Kind, c)
		}
	}
	for _, g := range []string{GuardIdentifier, GuardPersonSize, GuardSameSource, GuardHouseholdSize} {
		if c := res.Blocked[g]; c > 0 {
			fmt.Fprintf(&b, "blocked %s=%d\n", g, c)
		}
	}
	for _, r := range res.Review {
		fmt.Fprintf(&b, "review %s %s %x records=%d persons=%d\n", r.Kind, r.Source, r.Prefix[:4], r.Records, r.Persons)
	}
	return b.String()
}

func TestDeterministicUnderPermutation(t *testing.T) {
	recs := synth(3000, 1)
	first, err := Link(recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, wantSum := assignment(recs, first), summary(first)
	golden := "testdata/synth3000.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(wantSum), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != wantSum {
		t.Errorf("summary differs from %s (run with -update if intended):\n%s", golden, wantSum)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 5 {
		perm := append([]store.Record(nil), recs...)
		rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		res, err := Link(perm, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := assignment(perm, res); got != want {
			t.Fatalf("permutation %d: assignment differs", i)
		}
		if got := summary(res); got != wantSum {
			t.Fatalf("permutation %d: summary differs:\n%s\nwant\n%s", i, got, wantSum)
		}
	}
}

// TestSynthQuality checks that linkage recovers the synthetic truth well:
// a regression net for the guards, not a benchmark of real data.
func TestSynthQuality(t *testing.T) {
	recs := synthWithTruth(4000, 3)
	res, err := Link(recs.recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	pp, pr := pairwise(res.PersonOf, recs.person)
	hhOf := make([]int, len(recs.recs))
	for i, p := range res.PersonOf {
		hhOf[i] = res.HouseholdOf[p]
	}
	hp, hr := pairwise(hhOf, recs.household)
	t.Logf("person precision %.4f recall %.4f; household precision %.4f recall %.4f", pp, pr, hp, hr)
	if pp < 0.99 || pr < 0.97 {
		t.Errorf("person precision %.4f recall %.4f, want >= 0.99, 0.97", pp, pr)
	}
	if hp < 0.97 || hr < 0.95 {
		t.Errorf("household precision %.4f recall %.4f, want >= 0.97, 0.95", hp, hr)
	}
}

// pairwise returns precision and recall of the pairs a puts together
// against the truth.
func pairwise(got, truth []int) (precision, recall float64) {
	type pair struct{ g, t int }
	joint := map[pair]int{}
	gs, ts := map[int]int{}, map[int]int{}
	for i := range got {
		joint[pair{got[i], truth[i]}]++
		gs[got[i]]++
		ts[truth[i]]++
	}
	c2 := func(n int) float64 { return float64(n) * float64(n-1) / 2 }
	var tp, gp, tt float64
	for _, n := range joint {
		tp += c2(n)
	}
	for _, n := range gs {
		gp += c2(n)
	}
	for _, n := range ts {
		tt += c2(n)
	}
	return tp / max(gp, 1), tp / max(tt, 1)
}

// TestHouseInBuildingWithFlats: an address without a flat joins
// households in a building of its own, but not in a building where other
// records name flats (there it is most often a flat whose number was left
// off), unless exactly one flat has a resident of the same family name.
func TestHouseInBuildingWithFlats(t *testing.T) {
	building := tk(matchkey.BlockPostcodeNumber, "LS1 1AA/12")
	house := tk(matchkey.House, "LS1 1AA/12")
	flat3 := tk(matchkey.AddressLine, "LS1 1AA/12/3")
	flat4 := tk(matchkey.AddressLine, "LS1 1AA/12/4")
	person := func(src, name string, toks ...store.Token) named {
		return n(src, name, append([]store.Token{tk(matchkey.NameDOB, name)}, toks...)...)
	}
	tests := []struct {
		name       string
		recs       []named
		households []string
		blocked    int
	}{
		{"a house", []named{
			person("council", "a", house, building),
			person("police", "b", house, building),
		}, []string{"a b"}, 0},
		{"a building with flats", []named{
			person("council", "a", flat3, building),
			person("council", "b", flat3, building),
			person("police", "c", house, building),
			person("dwp", "d", house, building),
		}, []string{"a b", "c", "d"}, 1},
		{"no flat, but the family lives at one flat", []named{
			person("council", "mum", flat3, building, tk(matchkey.BlockFamilyPostcode, "smith LS1 1AA")),
			person("council", "lodger", flat4, building, tk(matchkey.BlockFamilyPostcode, "jones LS1 1AA")),
			person("school", "kid", house, building, tk(matchkey.BlockFamilyPostcode, "smith LS1 1AA")),
		}, []string{"kid mum", "lodger"}, 0},
		{"no flat, and the family name at two flats", []named{
			person("council", "mum", flat3, building, tk(matchkey.BlockFamilyPostcode, "smith LS1 1AA")),
			person("council", "other smith", flat4, building, tk(matchkey.BlockFamilyPostcode, "smith LS1 1AA")),
			person("school", "kid", house, building, tk(matchkey.BlockFamilyPostcode, "smith LS1 1AA")),
		}, []string{"kid", "mum", "other smith"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, hh := run(t, Config{}, tt.recs)
			if !reflect.DeepEqual(hh, tt.households) {
				t.Errorf("households = %q, want %q", hh, tt.households)
			}
			if got := res.Blocked[GuardHouseInFlats]; got != tt.blocked {
				t.Errorf("%s blocked %d, want %d", GuardHouseInFlats, got, tt.blocked)
			}
		})
	}
}

// TestDeterministicUnderPermutationLarge is the permutation test on lists
// long enough (more than 65,536 tokens of a kind) for the bucketed sort,
// which renumbers the Builder's entries into canonical order as it
// spreads them: records given in shuffled order must link exactly as in
// (source, ref) order.
func TestDeterministicUnderPermutationLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("links 70,000 records twice")
	}
	recs := synth(70000, 2)
	counts := map[matchkey.Kind]int{}
	for _, r := range recs {
		for _, tk := range r.Tokens {
			counts[tk.Kind]++
		}
	}
	if counts[matchkey.NameDOB] < 1<<bucketBits {
		t.Fatalf("%d name_dob tokens: too few for the bucketed sort", counts[matchkey.NameDOB])
	}
	first, err := Link(recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	perm := append([]store.Record(nil), recs...)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
	res, err := Link(perm, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if assignment(perm, res) != assignment(recs, first) {
		t.Error("assignment differs under permutation")
	}
	if got, want := summary(res), summary(first); got != want {
		t.Errorf("summary differs under permutation:\n%s\nwant\n%s", got, want)
	}
}

// TestSameResultOnAnyNumberOfCores links the same records with one and
// with several goroutines at a time: the phases that run in parallel
// (sorting, the similarity tier's candidates, the household tokens and
// homes) must give exactly the same result.
func TestSameResultOnAnyNumberOfCores(t *testing.T) {
	recs := synth(30000, 5)
	link := func(procs int) *Result {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := Link(recs, Config{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := link(1)
	for _, procs := range []int{2, 4, 8} {
		if got := link(procs); !reflect.DeepEqual(got, want) {
			t.Errorf("GOMAXPROCS %d: result differs from GOMAXPROCS 1:\n%s\nwant\n%s", procs, summary(got), summary(want))
		}
	}
}
