package derive

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"tfmatch/agency/normalize"
	"tfmatch/matchkey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fieldCount is the documented number of fields of each kind.
var fieldCount = map[matchkey.Kind]int{
	matchkey.NINO: 1, matchkey.NHS: 1, matchkey.UPN: 1,
	matchkey.NameDOB: 3, matchkey.NameDOBDayMonth: 5, matchkey.NameSwappedDOB: 3,
	matchkey.InitialSurnameDOBPost: 4, matchkey.PhoneticDOB: 3, matchkey.NameYOBPostcode: 4,
	matchkey.GivenDOBPostcode: 3, matchkey.NameDayMonthPostcode: 5,
	matchkey.UPRN: 1, matchkey.AddressLine: 3, matchkey.House: 2,
	matchkey.BlockPhoneticYear: 3, matchkey.BlockName: 2, matchkey.BlockFamilyDOB: 2, matchkey.BlockGivenDOB: 2,
	matchkey.BlockFamilyPostcode: 2, matchkey.BlockGivenPostcode: 2, matchkey.BlockPhoneticPost: 3,
	matchkey.BlockDOBPostcode: 2, matchkey.BlockPostcodeNumber: 2,
	matchkey.BlockPhoneticFamilyDOB: 2, matchkey.BlockGivenPhoneticFamily: 2, matchkey.BlockOtherIDNear: 1,
}

// person normalises a record given as alternating field names and values,
// with a record id added.
func person(t testing.TB, kv ...string) normalize.Person {
	t.Helper()
	m := map[string]string{normalize.FieldRecordID: "r"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	p, _, err := normalize.Normalize(m)
	if err != nil {
		t.Fatalf("Normalize(%v): %v", m, err)
	}
	return p
}

const (
	given  = normalize.FieldGivenName
	middle = normalize.FieldMiddleNames
	family = normalize.FieldFamilyName
	full   = normalize.FieldFullName
	dob    = normalize.FieldDOB
	sex    = normalize.FieldSex
	pc     = normalize.FieldPostcode
	addr   = normalize.FieldAddress
	nino   = normalize.FieldNINO
)

// checkShape asserts the invariants every key list must hold.
func checkShape(t testing.TB, keys []Key, class matchkey.Class) {
	t.Helper()
	for i, k := range keys {
		info, ok := matchkey.Lookup(k.Kind)
		if !ok {
			t.Fatalf("key %d: unknown kind %q", i, k.Kind)
		}
		if class == matchkey.Person && (info.Class == matchkey.Address || info.Class == matchkey.Block) || class != matchkey.Person && info.Class != class {
			t.Fatalf("key %d: kind %q in the wrong list", i, k.Kind)
		}
		if len(k.Fields) != fieldCount[k.Kind] {
			t.Fatalf("key %d: kind %q has %d fields, want %d", i, k.Kind, len(k.Fields), fieldCount[k.Kind])
		}
		for j, f := range k.Fields {
			if f == "" && !(k.Kind == matchkey.AddressLine && j == 2) {
				t.Fatalf("key %d (%s): empty field %d", i, k.Kind, j)
			}
		}
		for j := range i {
			if keys[j].Equal(k) {
				t.Fatalf("key %d duplicates key %d: %v", i, j, k)
			}
		}
		if i > 0 {
			prev, _ := matchkey.Lookup(keys[i-1].Kind)
			if prev.Strength > info.Strength {
				t.Fatalf("key %d (%s) after weaker kind %s", i, k.Kind, keys[i-1].Kind)
			}
		}
	}
}

// shared returns the kinds of the keys a and b have in common.
func shared(a, b []Key) []matchkey.Kind {
	var out []matchkey.Kind
	for _, x := range a {
		for _, y := range b {
			if x.Equal(y) {
				out = append(out, x.Kind)
			}
		}
	}
	return out
}

func TestVariantsShareAKey(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want matchkey.Kind // a kind that must be among the shared ones
	}{
		{"nickname", []string{given, "Bill", family, "Smith", dob, "1980-03-04"},
			[]string{given, "William", family, "Smith", dob, "1980-03-04"}, matchkey.NameDOB},
		{"two nicknames", []string{given, "Liz", family, "Jones", dob, "1990-05-06"},
			[]string{given, "Beth", family, "Jones", dob, "1990-05-06"}, matchkey.NameDOB},
		{"spelling variant", []string{given, "Mohamed", family, "Ali", dob, "2001-02-03"},
			[]string{given, "Muhammad", family, "Ali", dob, "2001-02-03"}, matchkey.NameDOB},
		{"accents", []string{given, "Zoë", family, "Brontë", dob, "2005-06-07"},
			[]string{given, "ZOE", family, "BRONTE", dob, "2005-06-07"}, matchkey.NameDOB},
		{"apostrophe", []string{given, "Sean", family, "O’Brien", dob, "1999-09-09"},
			[]string{given, "Sean", family, "OBRIEN", dob, "1999-09-09"}, matchkey.NameDOB},
		{"hyphen vs space", []string{given, "Mary", family, "Smith-Jones", dob, "1985-01-02"},
			[]string{given, "Mary", family, "Smith Jones", dob, "1985-01-02"}, matchkey.NameDOB},
		{"one part of a double surname", []string{given, "Mary", family, "Smith-Jones", dob, "1985-01-02"},
			[]string{given, "Mary", family, "Jones", dob, "1985-01-02"}, matchkey.NameDOB},
		{"day/month swap", []string{given, "Karen", family, "Walsh", dob, "1979-04-11"},
			[]string{given, "Karen", family, "Walsh", dob, "1979-11-04"}, matchkey.NameDOBDayMonth},
		{"name swap", []string{given, "Hussain", family, "Ahmed", dob, "1970-07-17"},
			[]string{given, "Ahmed", family, "Hussain", dob, "1970-07-17"}, matchkey.NameSwappedDOB},
		{"typo in given name", []string{given, "Jonathon", family, "Pickering", dob, "2010-10-10", pc, "LS6 2AB"},
			[]string{given, "Jonahtan", family, "Pickering", dob, "2010-10-10", pc, "ls62ab"}, matchkey.InitialSurnameDOBPost},
		{"phonetic typo in family name", []string{given, "Robert", family, "Ashcraft", dob, "1960-01-01"},
			[]string{given, "Rupert", family, "Ashcroft", dob, "1960-01-01"}, matchkey.PhoneticDOB},
		{"initial only", []string{given, "J.", family, "Pickering", dob, "2010-10-10", pc, "LS6 2AB"},
			[]string{given, "James", family, "Pickering", dob, "2010-10-10", pc, "LS6 2AB"}, matchkey.InitialSurnameDOBPost},
		{"dob typo, same postcode", []string{given, "Amy", family, "Clarke", dob, "2012-03-14", pc, "M1 1AE"},
			[]string{given, "Amy", family, "Clarke", dob, "2012-03-15", addr, "3 Oak Rd, Manchester M1  1AE"}, matchkey.NameYOBPostcode},
		{"full name vs split", []string{full, "CLARKE, Amy Louise", dob, "2012-03-14"},
			[]string{given, "Amy", middle, "Louise", family, "Clarke", dob, "2012-03-14"}, matchkey.NameDOB},
		{"known by middle name", []string{given, "Thomas", middle, "Edward", family, "Green", dob, "2003-03-03"},
			[]string{given, "Edward", family, "Green", dob, "2003-03-03"}, matchkey.NameDOB},
		{"title in given name", []string{given, "Mr Gary", family, "Hart", dob, "1977-07-07"},
			[]string{given, "Gary", family, "Hart", dob, "1977-07-07"}, matchkey.NameDOB},
		{"NINO formatting", []string{family, "Hart", nino, "ab 12 34 56 c"},
			[]string{given, "Gary", family, "Hart", nino, "AB123456"}, matchkey.NINO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := PersonKeys(person(t, tt.a...)), PersonKeys(person(t, tt.b...))
			kinds := shared(a, b)
			found := false
			for _, k := range kinds {
				found = found || k == tt.want
			}
			if !found {
				t.Errorf("shared kinds %v, want %s among them\na: %v\nb: %v", kinds, tt.want, a, b)
			}
		})
	}
}

func TestLookalikesShareNoPersonKey(t *testing.T) {
	home := []string{addr, "14 High St, Leeds LS1 1AB"}
	tests := []struct {
		name string
		a, b []string
	}{
		{"twins", append([]string{given, "Oliver", family, "Brown", dob, "2012-05-05"}, home...),
			append([]string{given, "Harry", family, "Brown", dob, "2012-05-05"}, home...)},
		{"twins, similar names", append([]string{given, "Emily", family, "Brown", dob, "2012-05-05"}, home...),
			append([]string{given, "Sophie", family, "Brown", dob, "2012-05-05"}, home...)},
		{"twins with different initials, same sound", append([]string{given, "Colin", family, "Brown", dob, "2012-05-05"}, home...),
			append([]string{given, "Killian", family, "Brown", dob, "2012-05-05"}, home...)},
		{"father and son", append([]string{given, "John", family, "Brown", dob, "1970-01-20"}, home...),
			append([]string{given, "John", family, "Brown", dob, "1995-08-02", full, "John Brown Jr"}, home...)},
		{"mother and daughter", append([]string{given, "Sarah", family, "Brown", dob, "1970-06-03"}, home...),
			append([]string{given, "Sarah", family, "Brown", dob, "1995-03-06"}, home...)},
		{"siblings born the same year", append([]string{given, "Leah", family, "Brown", dob, "2012-01-05"}, home...),
			append([]string{given, "Mia", family, "Brown", dob, "2012-12-20"}, home...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := PersonKeys(person(t, tt.a...)), PersonKeys(person(t, tt.b...))
			if kinds := shared(a, b); len(kinds) > 0 {
				t.Errorf("different people share person keys of kinds %v", kinds)
			}
			// Living together, they do share their address.
			if len(shared(AddressKeys(person(t, tt.a...)), AddressKeys(person(t, tt.b...)))) == 0 {
				t.Errorf("people at one address share no address key")
			}
		})
	}
}

// TestTwinsWeakKinds pins the documented limitation: twins whose given
// names share an initial or a Soundex code share those weak keys, and only
// those.
func TestTwinsWeakKinds(t *testing.T) {
	tests := []struct {
		a, b string
		want []matchkey.Kind
	}{
		{"Jack", "James", []matchkey.Kind{matchkey.InitialSurnameDOBPost}},
		{"Alexander", "Alexandra", []matchkey.Kind{matchkey.InitialSurnameDOBPost, matchkey.PhoneticDOB}},
		{"Daniel", "Danielle", []matchkey.Kind{matchkey.InitialSurnameDOBPost, matchkey.PhoneticDOB}},
	}
	for _, tt := range tests {
		a := PersonKeys(person(t, given, tt.a, family, "Brown", dob, "2012-05-05", pc, "LS1 1AB"))
		b := PersonKeys(person(t, given, tt.b, family, "Brown", dob, "2012-05-05", pc, "LS1 1AB"))
		if kinds := shared(a, b); fmt.Sprint(kinds) != fmt.Sprint(tt.want) {
			t.Errorf("%s/%s: shared kinds = %v, want %v", tt.a, tt.b, kinds, tt.want)
		}
	}
}

func TestMissingInputsSkipKinds(t *testing.T) {
	dobKinds := []matchkey.Kind{matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.NameSwappedDOB,
		matchkey.InitialSurnameDOBPost, matchkey.PhoneticDOB, matchkey.NameYOBPostcode,
		matchkey.GivenDOBPostcode, matchkey.NameDayMonthPostcode}
	postKinds := []matchkey.Kind{matchkey.InitialSurnameDOBPost, matchkey.NameYOBPostcode,
		matchkey.GivenDOBPostcode, matchkey.NameDayMonthPostcode}
	tests := []struct {
		name    string
		rec     []string
		absent  []matchkey.Kind
		present []matchkey.Kind
	}{
		{"no dob", []string{given, "Ann", family, "Lee", pc, "LS1 1AB", nino, "AB123456C"}, dobKinds, []matchkey.Kind{matchkey.NINO}},
		{"no postcode", []string{given, "Ann", family, "Lee", dob, "1990-01-01"}, postKinds,
			[]matchkey.Kind{matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.NameSwappedDOB, matchkey.PhoneticDOB}},
		{"invalid postcode", []string{given, "Ann", family, "Lee", dob, "1990-01-01", pc, "LS1 1A"}, postKinds, nil},
		{"no fixed abode", []string{given, "Ann", family, "Lee", dob, "1990-01-01", addr, "NFA LS1 1AB"}, postKinds, nil},
		{"initial only", []string{given, "A", family, "Lee", dob, "1990-01-01", pc, "LS1 1AB"},
			[]matchkey.Kind{matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.NameSwappedDOB, matchkey.PhoneticDOB,
				matchkey.NameYOBPostcode, matchkey.GivenDOBPostcode, matchkey.NameDayMonthPostcode},
			[]matchkey.Kind{matchkey.InitialSurnameDOBPost}},
		{"no given name", []string{family, "Lee", dob, "1990-01-01", pc, "LS1 1AB"}, dobKinds, nil},
		{"all present", []string{given, "Ann", family, "Lee", dob, "1990-01-01", pc, "LS1 1AB"}, nil, dobKinds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := PersonKeys(person(t, tt.rec...))
			checkShape(t, keys, matchkey.Person)
			has := map[matchkey.Kind]bool{}
			for _, k := range keys {
				has[k.Kind] = true
			}
			for _, k := range tt.absent {
				if has[k] {
					t.Errorf("kind %s emitted, want none", k)
				}
			}
			for _, k := range tt.present {
				if !has[k] {
					t.Errorf("kind %s missing", k)
				}
			}
		})
	}
}

func TestAddressKeys(t *testing.T) {
	tests := []struct {
		name string
		rec  []string
		want []Key
	}{
		{"flat", []string{addr, "Flat 2, 14 High St, Leeds LS1 1AB"},
			[]Key{{matchkey.AddressLine, []string{"LS1 1AB", "14", "2"}}}},
		{"no flat", []string{addr, "14 High St, Leeds LS1 1AB"},
			[]Key{{matchkey.House, []string{"LS1 1AB", "14"}}}},
		{"house name", []string{addr, "Rose Cottage, Mill Lane", pc, "ls11ab"},
			[]Key{{matchkey.House, []string{"LS1 1AB", "rose cottage"}}}},
		{"uprn", []string{normalize.FieldUPRN, "00100023336956", addr, "2/14 High St LS1 1AB"},
			[]Key{{matchkey.UPRN, []string{"100023336956"}}, {matchkey.AddressLine, []string{"LS1 1AB", "14", "2"}}}},
		{"no postcode", []string{addr, "14 High St, Leeds"}, nil},
		{"no number", []string{addr, "High St, Leeds LS1 1AB"}, nil},
		{"no fixed abode", []string{normalize.FieldUPRN, "12", addr, "No fixed abode", pc, "LS1 1AB"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AddressKeys(person(t, append([]string{family, "Lee"}, tt.rec...)...))
			checkShape(t, got, matchkey.Address)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("AddressKeys = %v, want %v", got, tt.want)
			}
		})
	}
	// Spelling differences in one address give one key.
	a := AddressKeys(person(t, family, "Lee", addr, "FLAT 2, 14 HIGH ST, LEEDS, LS11AB"))
	b := AddressKeys(person(t, family, "Lee", addr, "2/14 High Street", pc, "ls1 1ab"))
	if len(shared(a, b)) != 1 {
		t.Errorf("one address, two spellings: keys %v and %v", a, b)
	}
	// Different flats of one building do not share.
	c := AddressKeys(person(t, family, "Lee", addr, "Flat 3, 14 High St, LS1 1AB"))
	if len(shared(a, c)) != 0 {
		t.Errorf("different flats share an address key: %v and %v", a, c)
	}
}

// goldenPeople are example records whose full key lists are pinned in
// testdata/keys.golden.
var goldenPeople = [][]string{
	{given, "Bill", family, "Smith", dob, "1980-03-04", sex, "M", pc, "ls1 1ab", addr, "Flat 2, 14 High St, Leeds"},
	{given, "Mary Jane", family, "Smith-Jones", dob, "1985-01-12", pc, "EC1A 1BB", nino, "AB 12 34 56 C"},
	{full, "O'BRIEN, Mrs Zoë", dob, "1975-12-01", normalize.FieldNHSNumber, "943 476 5919", addr, "Rose Cottage, Mill Ln, Bramley LS13 3AB"},
	{given, "Mo", family, "Al Hassan", dob, "2008-07-21", normalize.FieldUPN, "B801200005001", normalize.FieldUPRN, "100023336956", addr, "2/14 St Mary's Rd, St Albans AL1 3AB"},
	{given, "Alex", family, "van der Berg", dob, "2011-11-11", sex, "F"},
	{given, "J", family, "Pickering", dob, "2010-10-10", pc, "LS6 2AB"},
	{given, "Thomas", middle, "Edward", family, "Green", dob, "2003-03-03"},
	{given, "Anna", family, "Kowalska", addr, "No fixed abode", nino, "JZ987654A"},
	{family, "Lee", dob, "1990-01-01", pc, "M1 1AE"},
	{given, "Chris", family, "Ng", dob, "1999-09-09", pc, "B33 8TH", addr, "Ground floor flat, 22 Acacia Ave"},
	{given, "michaela", family, "neumann", dob, "1915-11-11", pc, "4223"},
}

func TestGolden(t *testing.T) {
	var b strings.Builder
	for i, rec := range goldenPeople {
		p := person(t, rec...)
		fmt.Fprintf(&b, "# person %d: %q\n", i+1, rec)
		pk, ak, bk := PersonKeys(p), AddressKeys(p), BlockKeys(p)
		checkShape(t, pk, matchkey.Person)
		checkShape(t, ak, matchkey.Address)
		checkShape(t, bk, matchkey.Block)
		for _, k := range slices.Concat(pk, ak, bk) {
			fmt.Fprintf(&b, "%s", k.Kind)
			for _, f := range k.Fields {
				fmt.Fprintf(&b, "\t%q", f)
			}
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	got := b.String()
	path := filepath.Join("testdata", "keys.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("keys differ from %s (check, then run go test -update):\n%s", path, got)
	}
}

// TestDeriverReuse checks that a Deriver, reused from one person to the
// next (in both orders, so buffers left by a longer key list are
// overwritten), returns exactly the keys of the one-shot functions.
func TestDeriverReuse(t *testing.T) {
	var people []normalize.Person
	for _, rec := range goldenPeople {
		people = append(people, person(t, rec...))
	}
	reversed := slices.Clone(people)
	slices.Reverse(reversed)
	var d Deriver
	for pass, order := range [][]normalize.Person{people, reversed} {
		for i, p := range order {
			pk, ak, bk := d.Keys(p)
			for _, c := range []struct {
				name      string
				got, want []Key
			}{
				{"person", pk, PersonKeys(p)},
				{"address", ak, AddressKeys(p)},
				{"block", bk, BlockKeys(p)},
			} {
				if len(c.got) != len(c.want) || len(c.want) > 0 && !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("pass %d person %d: %s keys %v, want %v", pass, i, c.name, c.got, c.want)
				}
			}
		}
	}
}

// goldenPerson is a person with keys of most kinds, several given-name
// variants and a two-part family name.
var goldenPerson = func() normalize.Person {
	p, _, err := normalize.Normalize(map[string]string{normalize.FieldRecordID: "r", given: "Alex John",
		family: "Smith-Jones", dob: "1980-03-04", pc: "LS1 1AB", addr: "Flat 2, 14 High St", normalize.FieldOtherID: "X1234567"})
	if err != nil {
		panic(err)
	}
	return p
}()

// FuzzKeys checks the key invariants over arbitrary normalised records.
func FuzzKeys(f *testing.F) {
	for _, rec := range goldenPeople {
		m := map[string]string{}
		for i := 0; i+1 < len(rec); i += 2 {
			m[rec[i]] = rec[i+1]
		}
		f.Add(m[given], m[family], m[full], m[dob], m[sex], m[pc], m[addr])
	}
	f.Fuzz(func(t *testing.T, g, fam, fn, d, s, post, ad string) {
		p, _, err := normalize.Normalize(map[string]string{
			normalize.FieldRecordID: "r", given: g, family: fam, full: fn, dob: d, sex: s, pc: post, addr: ad,
		})
		if err != nil {
			return
		}
		checkShape(t, PersonKeys(p), matchkey.Person)
		checkShape(t, AddressKeys(p), matchkey.Address)
		checkShape(t, BlockKeys(p), matchkey.Block)
		// A Deriver that made another person's keys before makes the
		// same keys as the one-shot functions.
		var dv Deriver
		dv.Keys(goldenPerson)
		pk, ak, bk := dv.Keys(p)
		for _, c := range [][2][]Key{{pk, PersonKeys(p)}, {ak, AddressKeys(p)}, {bk, BlockKeys(p)}} {
			if len(c[0]) != len(c[1]) || len(c[0]) > 0 && !reflect.DeepEqual(c[0], c[1]) {
				t.Fatalf("Deriver keys %v, want %v", c[0], c[1])
			}
		}
	})
}

func BenchmarkPipeline(b *testing.B) {
	rec := map[string]string{
		normalize.FieldRecordID: "NOM-000123", given: "William John", family: "O'Brien-Smith", dob: "1980-03-04",
		sex: "M", nino: "AB 12 34 56 C", addr: "Flat 2, 14 High St, Leeds, LS1 1AB",
	}
	n := 0
	for b.Loop() {
		p, _, err := normalize.Normalize(rec)
		if err != nil {
			b.Fatal(err)
		}
		n += len(PersonKeys(p)) + len(AddressKeys(p))
	}
	if n == 0 {
		b.Fatal("no keys")
	}
}

func TestTwo(t *testing.T) {
	for n := range 100 {
		if got, want := two(n), fmt.Sprintf("%02d", n); got != want {
			t.Errorf("two(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNearIDKeys(t *testing.T) {
	keysOf := func(id string) map[string]bool {
		ks := newKeySet(8, 8)
		nearIDKeys(&ks, id)
		out := map[string]bool{}
		for _, k := range ks.result() {
			if k.Kind != matchkey.BlockOtherIDNear || len(k.Fields) != 1 {
				t.Fatalf("key %+v, want one field of kind %s", k, matchkey.BlockOtherIDNear)
			}
			out[k.Fields[0]] = true
		}
		return out
	}
	share := func(a, b string) bool {
		kb := keysOf(b)
		for k := range keysOf(a) {
			if kb[k] {
				return true
			}
		}
		return false
	}
	tests := []struct {
		a, b  string
		share bool
	}{
		{"7156463", "7156463", true},  // equal
		{"7156463", "7156436", true},  // neighbours swapped
		{"3776965", "3776945", true},  // one substituted
		{"3776965", "37769655", true}, // one inserted
		{"3776965", "376965", false},  // too short to have keys
		{"7156463", "2711549", false}, // unrelated
		{"7156463", "7165436", false}, // two errors
	}
	for _, tt := range tests {
		if got := share(tt.a, tt.b); got != tt.share {
			t.Errorf("%s and %s share a key: %v, want %v", tt.a, tt.b, got, tt.share)
		}
	}
	if n := len(keysOf("7156463")); n != 8 {
		t.Errorf("7156463: %d keys, want 8 (itself and 7 with one left out)", n)
	}
	if n := len(keysOf("1155663")); n != 5 {
		t.Errorf("1155663: %d keys, want 5 (equal neighbours give one string)", n)
	}
}

// TestBlockKeysInStrengthOrder checks that blockKeys, which adds the
// block kinds in a written-out order instead of sorting, makes every block
// kind of the registry, in the registry's strength order.
func TestBlockKeysInStrengthOrder(t *testing.T) {
	p := person(t, given, "Bill", family, "Smith", dob, "1980-03-04", sex, "M", pc, "LS1 1AB",
		addr, "14 High St, Leeds", normalize.FieldOtherID, "X1234567")
	keys := BlockKeys(p)
	checkShape(t, keys, matchkey.Block)
	seen := map[matchkey.Kind]bool{}
	for _, k := range keys {
		seen[k.Kind] = true
	}
	for _, in := range matchkey.All() {
		if in.Class == matchkey.Block && !seen[in.Kind] {
			t.Errorf("no %s key: the test person should have every block kind", in.Kind)
		}
	}
	if len(p.GivenVariants) < 2 {
		t.Fatalf("want a person with several given-name variants, have %v", p.GivenVariants)
	}
}
