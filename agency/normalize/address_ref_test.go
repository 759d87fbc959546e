package normalize

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// parseAddressRef is ParseAddress as it was before its parts became index
// ranges of one word array: the reference that FuzzParseAddressRef holds
// the current one to.
func parseAddressRef(s string) Address {
	var a Address
	// Every part is folded into one text, converted to a string once; the
	// words of all parts are cut from it into one array, and the parts
	// are slices of that (their capacity cut to their length, so that an
	// append to one never writes into the next). The same allocation
	// holds a second array that the parts are rewritten into below: two
	// allocations per address rather than a few per part.
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
	n := 0 // words in text, at most
	for i, c := range text {
		if c != ' ' && (i == 0 || text[i-1] == ' ') {
			n++
		}
	}
	arrays := make([]string, 0, 2*n+len(ends)+2)
	var segBuf [8][]string
	words, segs := arrays[:0:n+len(ends)], segBuf[:0]
	for k, end := range ends {
		start := 0
		if k > 0 {
			start = ends[k-1]
		}
		lo := len(words)
		words = appendWords(words, folded[start:end])
		if len(words) > lo {
			segs = append(segs, words[lo:len(words):len(words)])
		}
	}
	if refMayBeNFA(segs) && isNFA(refJoinSegs(segs)) {
		return Address{NoFixedAbode: true}
	}
	// Postcode: last segment first.
	for k := len(segs) - 1; k >= 0 && a.Postcode == ""; k-- {
		if pc, i, j := findPostcode(segs[k]); pc != "" {
			a.Postcode = pc
			segs[k] = append(segs[k][:i], segs[k][j:]...) // in place: within the part's own words
		}
	}
	// Flat markers, floor flats and "2/14" forms. The parts are rewritten
	// into a second shared array.
	outs := arrays[n+len(ends) : n+len(ends)]
	for k, seg := range segs {
		lo := len(outs)
		out := outs
		for i := 0; i < len(seg); i++ {
			w := seg[i]
			switch {
			case a.Flat != "":
				// Only the first flat is taken: the rest is as written.
				out = appendSplit(out, w)
			case isFlatMarker(w):
				j := i + 1
				for j < len(seg) && (seg[j] == "no" || seg[j] == "number") {
					j++
				}
				if j < len(seg) && isFlatID(seg[j]) {
					a.Flat = trimZeros(seg[j])
					i = j
					continue
				}
				if j == len(seg) && k+1 < len(segs) && len(segs[k+1]) == 1 && isFlatID(segs[k+1][0]) {
					// "Flat, 2, 14 High St": id in the next part.
					a.Flat = trimZeros(segs[k+1][0])
					segs[k+1] = nil
					continue
				}
				out = append(out, w)
			case floorCode(w) != "":
				a.Flat = floorCode(w)
				if i+1 < len(seg) && isFlatMarker(seg[i+1]) {
					i++
				}
			case i+1 < len(seg) && seg[i+1] == "floor" && floorFlat(w) != "" &&
				(i+2 < len(seg) && isFlatMarker(seg[i+2]) || i+2 == len(seg)):
				a.Flat = floorFlat(w)
				i++
				if i+1 < len(seg) {
					i++
				}
			case strings.Count(w, "/") == 1:
				f, n, _ := strings.Cut(w, "/")
				if isFlatID(f) && isHouseNumber(n) {
					a.Flat = trimZeros(f)
					out = append(out, n)
				} else {
					out = append(out, f, n)
				}
			default:
				out = appendSplit(out, w)
			}
		}
		outs = out
		segs[k] = outs[lo:len(outs):len(outs)]
	}
	segs = refDropEmpty(segs)
	if len(segs) == 0 {
		return a
	}
	// "2, 14 High St": a lone identifier before a numbered part is the flat.
	if a.Flat == "" && len(segs) > 1 && len(segs[0]) == 1 && isFlatID(segs[0][0]) && isHouseNumber(segs[1][0]) {
		a.Flat = trimZeros(segs[0][0])
		segs = segs[1:]
	}
	street := -1 // index of the segment holding the street
	for k, seg := range segs {
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
			a.Street = expandWords(segs[k+1])
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
		for k, seg := range segs {
			if isStreetType(expandLast(seg)) {
				street = k
				break
			}
		}
		switch {
		case street >= 0 && street+1 < len(segs) && isStreetType(expandLast(segs[street+1])):
			// "Rose Court, High Street": building then street.
			a.Number = houseName(segs[street])
			street++
			a.Street = expandWords(segs[street])
		case street > 0:
			a.Number = houseName(segs[street-1])
			a.Street = expandWords(segs[street])
		case street == 0:
			a.Street = expandWords(segs[0])
		case len(segs) == 1:
			a.Number = houseName(segs[0])
			street = 0
		default:
			a.Number = houseName(segs[0])
			a.Street = expandWords(segs[1])
			street = 1
		}
	}
	if street >= 0 && street+1 < len(segs) {
		a.Town = Town(joinWords(segs[len(segs)-1]))
	}
	return a
}

func refMayBeNFA(segs [][]string) bool {
	for _, seg := range segs {
		for _, w := range seg {
			if w == "nfa" || w == "n" || w == "homeless" || strings.HasSuffix(w, "no") || strings.Contains(w, "zz99") {
				return true
			}
		}
	}
	return false
}

func refJoinSegs(segs [][]string) string {
	var b strings.Builder
	for _, s := range segs {
		for _, w := range s {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return b.String()
}

func refDropEmpty(segs [][]string) [][]string {
	out := segs[:0]
	for _, s := range segs {
		if len(s) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// FuzzParseAddressRef checks that ParseAddress gives exactly what the
// reference parseAddressRef gives.
func FuzzParseAddressRef(f *testing.F) {
	for _, s := range []string{
		"FLAT 2, 14 HIGH ST, LEEDS LS1 1AB", "2/14 High Street", "Flat B 3 Cross Road",
		"Rose Cottage, Mill Lane, Bramley", "Flat, 2, 14 High St", "2, 14 High St",
		"Ground Floor Flat, 3 Mill Rd", "gff 12 Church St, St Albans", "NFA", "no fixed abode, zz99 3vz",
		"Rose Court, High Street, Leeds", "14 a High St, York YO1 7HH", "2/14/16 High St",
		"no 14 the old rectory lane", "a/b c/d, e/f/g", "flat no number 7, x",
		"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30, a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ParseAddress(s), parseAddressRef(s); got != want {
			t.Errorf("ParseAddress(%q) = %+v, reference gives %+v", s, got, want)
		}
	})
}

// TestParseAddressRefRandom runs the comparison of FuzzParseAddressRef
// over random addresses built from address words.
func TestParseAddressRefRandom(t *testing.T) {
	pieces := []string{"flat", "apartment", "unit", "no", "number", "2", "14", "014", "14a", "a", "b2", "2/14", "1/2/3",
		"ground", "first", "floor", "gff", "bsmt", "the", "old", "rectory", "high", "st", "rd", "road", "lane", "court",
		"leeds", "ls1", "1ab", "ls11ab", "nfa", "zz99", "3vz", "st albans", "mill", "ln", ",", ",", ";", "/"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		var b strings.Builder
		for range 1 + r.IntN(12) {
			b.WriteString(pieces[r.IntN(len(pieces))])
			b.WriteString([]string{" ", " ", ", ", ""}[r.IntN(4)])
		}
		s := b.String()
		if got, want := ParseAddress(s), parseAddressRef(s); got != want {
			t.Fatalf("ParseAddress(%q) = %+v, reference gives %+v", s, got, want)
		}
	}
}
