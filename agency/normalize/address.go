package normalize

import (
	"strings"
)

// Address is a normalised postal address. Text parts are folded (lower
// case, no accents or punctuation, single spaces), street-type
// abbreviations are expanded, and the postcode is canonical (see
// Postcode). Number holds the house number ("14", "14a", "14-16") or, for
// a named house, its name ("rose cottage").
type Address struct {
	UPRN     string
	Postcode string
	Flat     string
	Number   string
	Street   string
	Town     string
	// RawPostcode is a recorded postcode that is not a UK one (an
	// overseas or foreign postcode such as an Australian "2614"), as
	// RawPostcode returns it; empty when Postcode is set. It never feeds
	// an exact address key, only blocking and the similarity tier.
	RawPostcode string
	// NoFixedAbode is set for "no fixed abode" and its variants; the other
	// fields are then empty.
	NoFixedAbode bool
}

// streetWord returns the expansion of a street-type or other address
// abbreviation (rd → road), and false when w is none. The tables here are
// switches rather than maps: a switch on a short word costs a few
// comparisons where a map lookup hashes it, and ParseAddress asks several
// per word.
func streetWord(w string) (string, bool) {
	switch w {
	case "rd":
		return "road", true
	case "st", "str":
		return "street", true
	case "ave", "av", "avn":
		return "avenue", true
	case "cl", "clo", "clse":
		return "close", true
	case "dr", "drv":
		return "drive", true
	case "cres", "cresc":
		return "crescent", true
	case "ln":
		return "lane", true
	case "gdns":
		return "gardens", true
	case "gdn":
		return "garden", true
	case "pl":
		return "place", true
	case "sq":
		return "square", true
	case "ct", "crt":
		return "court", true
	case "terr", "ter", "tce":
		return "terrace", true
	case "gr", "grv", "gro":
		return "grove", true
	case "pk":
		return "park", true
	case "wy":
		return "way", true
	case "wk":
		return "walk", true
	case "hts":
		return "heights", true
	case "pde":
		return "parade", true
	case "mt":
		return "mount", true
	case "blvd":
		return "boulevard", true
	case "bldgs":
		return "buildings", true
	case "bldg":
		return "building", true
	case "cott":
		return "cottage", true
	case "cotts":
		return "cottages", true
	case "est":
		return "estate", true
	case "hse":
		return "house", true
	case "mws":
		return "mews", true
	case "apts":
		return "apartments", true
	case "lwr":
		return "lower", true
	case "upr":
		return "upper", true
	case "gt":
		return "great", true
	case "nth":
		return "north", true
	case "sth":
		return "south", true
	case "app":
		return "approach", true
	case "cir":
		return "circus", true
	case "cnr":
		return "corner", true
	case "fm":
		return "farm", true
	case "grn":
		return "green", true
	case "hl":
		return "hill", true
	case "rw":
		return "row", true
	case "vw":
		return "view", true
	case "yd":
		return "yard", true
	}
	return "", false
}

// isStreetType reports whether w is a word that ends a street name.
func isStreetType(w string) bool {
	switch w {
	case "road", "street", "lane", "avenue", "close", "drive", "crescent",
		"gardens", "garden", "place", "square", "court", "terrace", "grove",
		"park", "way", "walk", "row", "hill", "rise", "mews", "view", "green",
		"parade", "mount", "vale", "wharf", "yard", "quay", "boulevard",
		"approach", "circus", "croft", "gate", "heights", "meadow", "meadows",
		"path", "promenade", "broadway", "wynd", "brae", "loan", "fold",
		"chase", "end", "side", "bank", "dale", "field", "fields", "passage",
		"ride", "glade":
		return true
	}
	return false
}

// isFlatMarker reports whether w introduces a flat or other sub-building
// identifier.
func isFlatMarker(w string) bool {
	switch w {
	case "flat", "flt", "apartment", "apt", "appartment", "unit", "room", "rm",
		"maisonette", "suite", "bedsit":
		return true
	}
	return false
}

// floorFlat returns the flat identifier used for a flat known only by its
// floor ("ground floor flat" → "gf") when w is a floor word, else "".
func floorFlat(w string) string {
	switch w {
	case "basement":
		return "bf"
	case "lower":
		return "lg"
	case "ground":
		return "gf"
	case "first", "1st":
		return "1f"
	case "second", "2nd":
		return "2f"
	case "third", "3rd":
		return "3f"
	case "fourth", "4th":
		return "4f"
	case "top":
		return "tf"
	case "upper":
		return "uf"
	}
	return ""
}

// floorCode returns the flat identifier for w when it is one of the
// compact floor-flat codes people also type (gff → gf), else "".
func floorCode(w string) string {
	switch w {
	case "gff", "gfl":
		return "gf"
	case "bsmt":
		return "bf"
	case "fff":
		return "1f"
	case "sff":
		return "2f"
	case "tff":
		return "tf"
	}
	return ""
}

// isNFA reports whether folded text means "no fixed abode".
func isNFA(t string) bool {
	switch t {
	case "nfa", "n f a", "nfa nfa", "no fixed abode", "of no fixed abode",
		"no fixed address", "no fixed residence", "homeless", "no abode", "no fixed":
		return true
	}
	return strings.HasPrefix(t, "nfa ") || strings.HasSuffix(t, " nfa") ||
		strings.Contains(t, "no fixed abode") || strings.Contains(t, "no fixed address") ||
		strings.Contains(t, "zz99 3vz") || strings.Contains(t, "zz993vz")
}

// isNFAText reports whether unfolded text means "no fixed abode":
// isNFA(fold(s, foldAddress)) without keeping the folded text.
func isNFAText(s string) bool {
	var buf [64]byte
	return isNFA(string(appendFold(buf[:0], s, foldAddress)))
}

// nhsNFAPostcode is the pseudo-postcode the NHS records for a person of no
// fixed abode; other ZZ99 pseudo-postcodes mean "not known".
const nhsNFAPostcode = "ZZ993VZ"

// Street folds a street name and expands abbreviations (High St → high
// street, Church Rd → church road). "St" at the start of a street of more
// than one word is Saint (St Mary's Rd → saint marys road). Street is
// idempotent.
func Street(s string) string {
	f := fold(s, foldAddress)
	var wb [8]string
	return expandText(f, appendWords(wb[:0], f))
}

// Town folds a town or locality name, reading a leading "St" as Saint
// (St Albans → saint albans). Town is idempotent.
func Town(s string) string {
	// Folded text has its words separated by single spaces, so it is its
	// words joined again.
	f := fold(s, foldAddress)
	if strings.HasPrefix(f, "st ") {
		return "saint" + f[len("st"):]
	}
	return f
}

// expandWord returns the expansion of the i-th of n folded words of a
// street or house name, and false when it has none.
func expandWord(x string, i, n int) (string, bool) {
	if x == "st" && i == 0 && n > 1 {
		return "saint", true
	}
	return streetWord(x)
}

// expandWords expands abbreviations in folded words and joins them. It
// does not change w.
func expandWords(w []string) string { return expandText("", w) }

// expandText is expandWords for the words w of the folded text f when f
// is not "": when no word is expanded the result is f itself.
func expandText(f string, w []string) string {
	i := 0
	for i < len(w) {
		if _, ok := expandWord(w[i], i, len(w)); ok {
			break
		}
		i++
	}
	switch {
	case i == len(w) && f != "":
		return f
	case i == len(w) && len(w) <= 1:
		return strings.Join(w, " ")
	}
	var buf [64]byte
	b := buf[:0]
	for k, x := range w {
		if k > 0 {
			b = append(b, ' ')
		}
		if e, ok := expandWord(x, k, len(w)); ok {
			x = e
		}
		b = append(b, x...)
	}
	return string(b)
}

// houseName expands a house or building name, dropping a leading "the"
// (The Old Rectory → old rectory). It does not change w.
func houseName(w []string) string {
	if len(w) > 1 && w[0] == "the" {
		w = w[1:]
	}
	return expandWords(w)
}

// joinWords is strings.Join(w, " ") with the words of a short text
// joined on the stack before the one allocation of the result.
func joinWords(w []string) string {
	if len(w) <= 1 {
		return strings.Join(w, " ")
	}
	var buf [64]byte
	b := buf[:0]
	for k, x := range w {
		if k > 0 {
			b = append(b, ' ')
		}
		b = append(b, x...)
	}
	return string(b)
}

// Flat normalises a flat or sub-building identifier: marker words (Flat,
// Apartment, Unit...) are removed, a floor description becomes a short code
// ("Ground Floor Flat" → "gf") and leading zeros of a number are dropped
// ("Flat 02" → "2"). Flat is idempotent.
func Flat(s string) string {
	var wb [8]string
	w := appendWords(wb[:0], fold(s, foldAddress))
	out := w[:0]
	for i := 0; i < len(w); i++ {
		x := w[i]
		if isFlatMarker(x) || x == "no" || x == "number" {
			continue
		}
		if c := floorCode(x); c != "" {
			out = append(out, c)
			continue
		}
		if c := floorFlat(x); c != "" && i+1 < len(w) && w[i+1] == "floor" {
			out = append(out, c)
			i++
			continue
		}
		out = append(out, trimZeros(x))
	}
	return joinWords(out)
}

// HouseNumber normalises a house number or name: a number keeps an
// attached letter ("14 A" → "14a"), leading zeros go, a name is folded and
// expanded with a leading "the" dropped. HouseNumber is idempotent.
func HouseNumber(s string) string {
	var wb [8]string
	w := appendWords(wb[:0], fold(s, foldAddress))
	if len(w) == 0 {
		return ""
	}
	if w[0] == "no" && len(w) > 1 && isHouseNumber(w[1]) {
		w = w[1:]
	}
	if isHouseNumber(w[0]) {
		n := trimZeros(w[0])
		if len(w) == 2 && len(w[1]) == 1 && isAlpha(w[1]) && isDigit(n[len(n)-1]) {
			return n + w[1]
		}
		if len(w) == 1 {
			return n
		}
		w[0] = n
		return joinWords(w)
	}
	return houseName(w)
}

// isHouseNumber reports whether a folded word is a house number: digits,
// optionally one trailing letter ("14a"), or a range ("14-16").
func isHouseNumber(w string) bool {
	if w == "" || !isDigit(w[0]) {
		return false
	}
	i := 0
	for i < len(w) && isDigit(w[i]) {
		i++
	}
	rest := w[i:]
	switch {
	case rest == "":
		return true
	case len(rest) == 1 && rest[0] >= 'a' && rest[0] <= 'z':
		return true
	case rest[0] == '-':
		return isHouseNumber(rest[1:]) && !strings.Contains(rest[1:], "-")
	}
	return false
}

// isFlatID reports whether a folded word can be a flat identifier: a
// house-number-like word, one letter, or a letter followed by digits (b2).
func isFlatID(w string) bool {
	if isHouseNumber(w) {
		return true
	}
	if len(w) == 1 && w[0] >= 'a' && w[0] <= 'z' {
		return true
	}
	if len(w) >= 2 && w[0] >= 'a' && w[0] <= 'z' {
		for i := 1; i < len(w); i++ {
			if !isDigit(w[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func isAlpha(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return w != ""
}

// trimZeros drops leading zeros from a word that starts with a digit,
// keeping one digit ("007" → "7", "0" → "0", "02a" → "2a").
func trimZeros(w string) string {
	i := 0
	for i < len(w)-1 && w[i] == '0' && isDigit(w[i+1]) {
		i++
	}
	return w[i:]
}

// ParseAddress parses a free-text address such as
//
//	FLAT 2, 14 HIGH ST, LEEDS LS1 1AB
//	2/14 High Street
//	Flat B 3 Cross Road
//	Rose Cottage, Mill Lane, Bramley
//
// into flat, house number (or house name), street, town and postcode.
// Commas (or semicolons, newlines) separate the parts; a postcode anywhere
// in the text is recognised and removed; a "no fixed abode" text (NFA, No
// fixed address...) gives an Address with only NoFixedAbode set. Fields it
// cannot find are left empty. UPRN is never set by ParseAddress.
func ParseAddress(s string) Address {
	var a Address
	// Every part is folded into one text, converted to a string once; the
	// words of all parts are cut from it into one array, and the parts
	// are index ranges of that array. The parts are rewritten below by
	// appending their new words to the same array: with ranges rather
	// than slices held in a slice, the array does not escape and a usual
	// address needs no allocation for it.
	var textBuf [128]byte
	var endBuf [8]int
	text, ends := textBuf[:0], endBuf[:0]
	for rest := s; rest != ""; {
		part := rest
		if i := indexSeparator(rest); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		text = appendFold(text, part, foldAddress)
		ends = append(ends, len(text))
	}
	if len(text) == 0 {
		return a
	}
	folded := string(text)
	var wordBuf [48]string
	var segBuf [8]span
	words, segs := wordBuf[:0], segBuf[:0]
	for k, end := range ends {
		start := 0
		if k > 0 {
			start = ends[k-1]
		}
		lo := len(words)
		words = appendWords(words, folded[start:end])
		if len(words) > lo {
			segs = append(segs, span{lo, len(words)})
		}
	}
	if mayBeNFA(words) && isNFA(joinWords(words)) {
		return Address{NoFixedAbode: true}
	}
	// Postcode: last segment first.
	for k := len(segs) - 1; k >= 0 && a.Postcode == ""; k-- {
		sg := segs[k]
		if pc, i, j := findPostcode(words[sg.lo:sg.hi]); pc != "" {
			a.Postcode = pc
			// In place: within the part's own words.
			copy(words[sg.lo+i:], words[sg.lo+j:sg.hi])
			segs[k].hi -= j - i
		}
	}
	// Flat markers, floor flats and "2/14" forms. Each part is rewritten
	// onto the end of the array.
	for k := range segs {
		sg := segs[k]
		lo := len(words)
		for i := sg.lo; i < sg.hi; i++ {
			w := words[i]
			switch {
			case a.Flat != "":
				// Only the first flat is taken: the rest is as written.
				words = appendSplit(words, w)
			case isFlatMarker(w):
				j := i + 1
				for j < sg.hi && (words[j] == "no" || words[j] == "number") {
					j++
				}
				if j < sg.hi && isFlatID(words[j]) {
					a.Flat = trimZeros(words[j])
					i = j
					continue
				}
				if j == sg.hi && k+1 < len(segs) && segs[k+1].len() == 1 && isFlatID(words[segs[k+1].lo]) {
					// "Flat, 2, 14 High St": id in the next part.
					a.Flat = trimZeros(words[segs[k+1].lo])
					segs[k+1].hi = segs[k+1].lo
					continue
				}
				words = append(words, w)
			case floorCode(w) != "":
				a.Flat = floorCode(w)
				if i+1 < sg.hi && isFlatMarker(words[i+1]) {
					i++
				}
			case i+1 < sg.hi && words[i+1] == "floor" && floorFlat(w) != "" &&
				(i+2 < sg.hi && isFlatMarker(words[i+2]) || i+2 == sg.hi):
				a.Flat = floorFlat(w)
				i++
				if i+1 < sg.hi {
					i++
				}
			case strings.Count(w, "/") == 1:
				f, n, _ := strings.Cut(w, "/")
				if isFlatID(f) && isHouseNumber(n) {
					a.Flat = trimZeros(f)
					words = append(words, n)
				} else {
					words = append(words, f, n)
				}
			default:
				words = appendSplit(words, w)
			}
		}
		segs[k] = span{lo, len(words)}
	}
	segs = dropEmpty(segs)
	if len(segs) == 0 {
		return a
	}
	seg := func(k int) []string { return words[segs[k].lo:segs[k].hi] }
	// "2, 14 High St": a lone identifier before a numbered part is the flat.
	if a.Flat == "" && len(segs) > 1 && segs[0].len() == 1 && isFlatID(seg(0)[0]) && isHouseNumber(seg(1)[0]) {
		a.Flat = trimZeros(seg(0)[0])
		segs = segs[1:]
	}
	street := -1 // index of the segment holding the street
	for k := range segs {
		seg := seg(k)
		i := 0
		if seg[0] == "no" && len(seg) > 1 && isHouseNumber(seg[1]) {
			i = 1
		}
		if !isHouseNumber(seg[i]) {
			continue
		}
		// A single letter after the number belongs to it when a street
		// follows ("14 a High St" → 14a).
		num := trimZeros(seg[i])
		rest := seg[i+1:]
		if len(rest) > 1 && len(rest[0]) == 1 && isAlpha(rest[0]) && isDigit(num[len(num)-1]) {
			num += rest[0]
			rest = rest[1:]
		}
		a.Number = num
		if len(rest) > 0 {
			a.Street = expandWords(rest)
			street = k
		} else if k+1 < len(segs) {
			a.Street = expandWords(words[segs[k+1].lo:segs[k+1].hi])
			street = k + 1
		} else {
			street = k
		}
		// A named building before the numbered part is not kept: the
		// number identifies the dwelling.
		break
	}
	if a.Number == "" {
		street = -1
		for k := range segs {
			if isStreetType(expandLast(seg(k))) {
				street = k
				break
			}
		}
		switch {
		case street >= 0 && street+1 < len(segs) && isStreetType(expandLast(seg(street+1))):
			// "Rose Court, High Street": building then street.
			a.Number = houseName(seg(street))
			street++
			a.Street = expandWords(seg(street))
		case street > 0:
			a.Number = houseName(seg(street - 1))
			a.Street = expandWords(seg(street))
		case street == 0:
			a.Street = expandWords(seg(0))
		case len(segs) == 1:
			a.Number = houseName(seg(0))
			street = 0
		default:
			a.Number = houseName(seg(0))
			a.Street = expandWords(seg(1))
			street = 1
		}
	}
	if street >= 0 && street+1 < len(segs) {
		a.Town = Town(joinWords(seg(len(segs) - 1)))
	}
	return a
}

// span is a part of an address: the words words[lo:hi] of ParseAddress's
// word array.
type span struct{ lo, hi int }

func (s span) len() int { return s.hi - s.lo }

// appendSplit appends the parts of w between slashes ("2/14/16" → "2",
// "14", "16"), w itself when it has none.
func appendSplit(dst []string, w string) []string {
	if strings.IndexByte(w, '/') < 0 {
		return append(dst, w)
	}
	return append(dst, strings.Split(w, "/")...)
}

// indexSeparator is strings.IndexAny(s, ",;\n\r|"): the index of the
// first byte of s that separates the parts of an address, -1 when none.
func indexSeparator(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', ';', '\n', '\r', '|':
			return i
		}
	}
	return -1
}

// expandLast returns the expanded last word of a segment.
func expandLast(seg []string) string {
	w := seg[len(seg)-1]
	if e, ok := streetWord(w); ok {
		return e
	}
	return w
}

// appendWords appends the space-separated words of s to dst, as
// strings.Fields would return them for fold's output.
func appendWords(dst []string, s string) []string {
	for s != "" {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return append(dst, s)
		}
		if i > 0 {
			dst = append(dst, s[:i])
		}
		s = s[i+1:]
	}
	return dst
}

// mayBeNFA reports whether isNFA could hold for the words joined by
// spaces: every text isNFA accepts has a word "nfa", "n" or "homeless", a
// word ending in "no" (no fixed abode) or a word holding "zz99" (the NHS
// pseudo-postcode). It spares building the joined text for the addresses
// that are not.
func mayBeNFA(words []string) bool {
	for _, w := range words {
		if w == "nfa" || w == "n" || w == "homeless" || strings.HasSuffix(w, "no") || strings.Contains(w, "zz99") {
			return true
		}
	}
	return false
}

// dropEmpty removes the empty parts, in place.
func dropEmpty(segs []span) []span {
	out := segs[:0]
	for _, s := range segs {
		if s.hi > s.lo {
			out = append(out, s)
		}
	}
	return out
}

// RawPostcode returns s as a postcode of no known format: upper-case ASCII
// letters and digits with everything else removed, at most 10 characters,
// and "" when fewer than 3 remain or a character is neither a letter, a
// digit nor a space, '-' or '.' (free text, not a postcode). It is
// idempotent.
func RawPostcode(s string) string {
	var buf [10]byte
	n, ok := compactInto(buf[:], s, false)
	if !ok || n < 3 {
		return ""
	}
	return string(buf[:n])
}
