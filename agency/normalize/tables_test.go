package normalize

import (
	"strings"
	"testing"
)

// The address word tables are switches (see streetWord); these maps are
// the tables as they were first written, and the tests below hold the
// switches to them.

// streetWords expands street-type and other address abbreviations.
var refStreetWords = map[string]string{
	"rd": "road", "st": "street", "str": "street", "ave": "avenue",
	"av": "avenue", "avn": "avenue", "cl": "close", "clo": "close",
	"dr": "drive", "drv": "drive", "cres": "crescent", "cresc": "crescent",
	"ln": "lane", "gdns": "gardens", "gdn": "garden", "pl": "place",
	"sq": "square", "ct": "court", "crt": "court", "terr": "terrace",
	"ter": "terrace", "tce": "terrace", "gr": "grove", "grv": "grove",
	"gro": "grove", "pk": "park", "wy": "way", "wk": "walk", "hts": "heights",
	"pde": "parade", "mt": "mount", "blvd": "boulevard", "bldgs": "buildings",
	"bldg": "building", "cott": "cottage", "cotts": "cottages",
	"est": "estate", "hse": "house", "mws": "mews", "apts": "apartments",
	"lwr": "lower", "upr": "upper", "gt": "great", "nth": "north",
	"sth": "south", "app": "approach", "cir": "circus",
	"clse": "close", "cnr": "corner", "fm": "farm", "grn": "green",
	"hl": "hill", "rw": "row", "vw": "view", "yd": "yard",
}

// streetTypes are words that end a street name.
var refStreetTypes = map[string]bool{
	"road": true, "street": true, "lane": true, "avenue": true, "close": true,
	"drive": true, "crescent": true, "gardens": true, "garden": true,
	"place": true, "square": true, "court": true, "terrace": true,
	"grove": true, "park": true, "way": true, "walk": true, "row": true,
	"hill": true, "rise": true, "mews": true, "view": true, "green": true,
	"parade": true, "mount": true, "vale": true, "wharf": true, "yard": true,
	"quay": true, "boulevard": true, "approach": true, "circus": true,
	"croft": true, "gate": true, "heights": true, "meadow": true,
	"meadows": true, "path": true, "promenade": true, "broadway": true,
	"wynd": true, "brae": true, "loan": true, "fold": true, "chase": true,
	"end": true, "side": true, "bank": true, "dale": true, "field": true,
	"fields": true, "passage": true, "ride": true, "glade": true,
}

// flatMarkers introduce a flat or other sub-building identifier.
var refFlatMarkers = map[string]bool{
	"flat": true, "flt": true, "apartment": true, "apt": true,
	"appartment": true, "unit": true, "room": true, "rm": true,
	"maisonette": true, "suite": true, "bedsit": true,
}

// floors maps floor words to the flat identifier used for a flat known
// only by its floor ("ground floor flat" → "gf").
var refFloors = map[string]string{
	"basement": "bf", "lower": "lg", "ground": "gf", "first": "1f",
	"1st": "1f", "second": "2f", "2nd": "2f", "third": "3f", "3rd": "3f",
	"fourth": "4f", "4th": "4f", "top": "tf", "upper": "uf",
}

// floorCodes are the compact floor-flat codes people also type.
var refFloorCodes = map[string]string{
	"gff": "gf", "gfl": "gf", "bsmt": "bf", "fff": "1f", "sff": "2f", "tff": "tf",
}

// checkAddressTables fails t when a switch and its reference map disagree
// about w.
func checkAddressTables(t *testing.T, w string) {
	t.Helper()
	if got, ok := streetWord(w); got != refStreetWords[w] || ok != (refStreetWords[w] != "") {
		t.Errorf("streetWord(%q) = %q, %v; want %q", w, got, ok, refStreetWords[w])
	}
	if got := isStreetType(w); got != refStreetTypes[w] {
		t.Errorf("isStreetType(%q) = %v", w, got)
	}
	if got := isFlatMarker(w); got != refFlatMarkers[w] {
		t.Errorf("isFlatMarker(%q) = %v", w, got)
	}
	if got := floorFlat(w); got != refFloors[w] {
		t.Errorf("floorFlat(%q) = %q, want %q", w, got, refFloors[w])
	}
	if got := floorCode(w); got != refFloorCodes[w] {
		t.Errorf("floorCode(%q) = %q, want %q", w, got, refFloorCodes[w])
	}
}

func TestAddressTables(t *testing.T) {
	checkWords(t, checkAddressTables,
		[]map[string]string{refStreetWords, refFloors, refFloorCodes},
		[]map[string]bool{refStreetTypes, refFlatMarkers},
		"", "floor", "no", "number", "high", "14", "saint")
}

// checkWords runs check on every key and value of the reference tables,
// on extra, and on each one's near misses: a letter more, a letter less
// at either end, another case.
func checkWords(t *testing.T, check func(*testing.T, string), strs []map[string]string, sets []map[string]bool, extra ...string) {
	t.Helper()
	words := extra
	for _, m := range strs {
		for k, v := range m {
			words = append(words, k, v)
		}
	}
	for _, m := range sets {
		for k := range m {
			words = append(words, k)
		}
	}
	for _, w := range words {
		check(t, w)
		check(t, w+"s")
		check(t, strings.ToUpper(w))
		if w != "" {
			check(t, w[1:])
			check(t, w[:len(w)-1])
		}
	}
}

func FuzzAddressTables(f *testing.F) {
	for _, w := range []string{"rd", "street", "flat", "gff", "1st", "x"} {
		f.Add(w)
	}
	f.Fuzz(checkAddressTables)
}

// FuzzPostcodePair checks that postcodePair is Postcode of the two words
// joined.
func FuzzPostcodePair(f *testing.F) {
	for _, p := range [][2]string{{"ls1", "1ab"}, {"sw1a", "2aa"}, {"gir", "0aa"}, {"m1", "1ae"}, {"ls1-", "1ab"}, {"ls1", "o1ab"}, {"ab", "cde"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, ok := postcodePair(a, b)
		want, wantOK := Postcode(a + b)
		if got != want || ok != wantOK {
			t.Errorf("postcodePair(%q, %q) = %q, %v; Postcode = %q, %v", a, b, got, ok, want, wantOK)
		}
	})
}

// FuzzIndexSeparator checks indexSeparator against strings.IndexAny.
func FuzzIndexSeparator(f *testing.F) {
	for _, s := range []string{"", "flat 2, 14 high st", "a;b", "a|b", "a\nb", "a\r\nb", "no separator", "é,x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := indexSeparator(s), strings.IndexAny(s, ",;\n\r|"); got != want {
			t.Errorf("indexSeparator(%q) = %d, want %d", s, got, want)
		}
	})
}

// The name word tables (title, isStrongTitle, isSuffix, particle) as
// they were first written, as maps.
var refTitles = map[string]string{
	"mr": "mr", "mister": "mr", "mrs": "mrs", "ms": "ms", "miss": "miss",
	"mx": "mx", "master": "master", "mstr": "master",
	"dr": "dr", "doctor": "dr", "rev": "rev", "revd": "rev", "reverend": "rev",
	"prof": "prof", "professor": "prof", "sir": "sir", "dame": "dame",
	"lord": "lord", "lady": "lady", "fr": "fr", "father": "fr",
	"capt": "capt", "captain": "capt", "sgt": "sgt", "cllr": "cllr",
}

var refStrongTitles = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true,
	"dr": true, "rev": true, "prof": true, "cllr": true, "sgt": true,
}

var refSuffixes = map[string]bool{
	"jr": true, "jnr": true, "junior": true, "sr": true, "snr": true,
	"senior": true, "ii": true, "iii": true, "iv": true, "esq": true,
}

var refParticles = map[string]string{
	"van": "van", "von": "von", "der": "der", "den": "den", "de": "de",
	"da": "da", "di": "di", "del": "del", "della": "della", "des": "des",
	"du": "du", "la": "la", "le": "le", "los": "los", "las": "las",
	"dos": "dos", "das": "das", "ten": "ten", "ter": "ter", "al": "al",
	"el": "el", "bin": "bin", "ibn": "ibn", "ap": "ap", "mac": "mac",
	"mc": "mc", "o": "o", "st": "st", "saint": "st",
}

// checkNameTables fails t when a name-word switch and its reference map
// disagree about w.
func checkNameTables(t *testing.T, w string) {
	t.Helper()
	if got := title(w); got != refTitles[w] {
		t.Errorf("title(%q) = %q, want %q", w, got, refTitles[w])
	}
	if got := isStrongTitle(w); got != refStrongTitles[w] {
		t.Errorf("isStrongTitle(%q) = %v", w, got)
	}
	if got := isSuffix(w); got != refSuffixes[w] {
		t.Errorf("isSuffix(%q) = %v", w, got)
	}
	want, wantOK := refParticles[w]
	if got, ok := particle(w); got != want || ok != wantOK {
		t.Errorf("particle(%q) = %q, %v; want %q, %v", w, got, ok, want, wantOK)
	}
}

func TestNameTables(t *testing.T) {
	checkWords(t, checkNameTables,
		[]map[string]string{refTitles, refParticles},
		[]map[string]bool{refStrongTitles, refSuffixes},
		"", "smith", "mary", "x")
}

func FuzzNameTables(f *testing.F) {
	for _, w := range []string{"mr", "mister", "saint", "van", "jnr", "x"} {
		f.Add(w)
	}
	f.Fuzz(checkNameTables)
}
