package normalize

import (
	"strings"
	"unicode"
)

// Name folds a personal name to canonical text: lower case, accents
// removed (Zoë → zoe), apostrophes deleted (O’Brien → obrien) and every
// other punctuation mark, digit or space run (hyphens included) turned into
// one space between words. Name is idempotent.
func Name(s string) string { return fold(s, foldName) }

// title returns the canonical form of a folded title word (mister → mr),
// "" when w is not a title. The word tables of this file are switches
// rather than maps, as the address ones are (see streetWord): a record's
// names ask several of them.
func title(w string) string {
	switch w {
	case "mr", "mister":
		return "mr"
	case "mrs":
		return "mrs"
	case "ms":
		return "ms"
	case "miss":
		return "miss"
	case "mx":
		return "mx"
	case "master", "mstr":
		return "master"
	case "dr", "doctor":
		return "dr"
	case "rev", "revd", "reverend":
		return "rev"
	case "prof", "professor":
		return "prof"
	case "sir":
		return "sir"
	case "dame":
		return "dame"
	case "lord":
		return "lord"
	case "lady":
		return "lady"
	case "fr", "father":
		return "fr"
	case "capt", "captain":
		return "capt"
	case "sgt":
		return "sgt"
	case "cllr":
		return "cllr"
	}
	return ""
}

// isStrongTitle reports whether a canonical title is never a given name
// on its own, so that a given-name field holding only it is empty.
func isStrongTitle(t string) bool {
	switch t {
	case "mr", "mrs", "ms", "miss", "mx", "dr", "rev", "prof", "cllr", "sgt":
		return true
	}
	return false
}

// isSuffix reports whether w is a generational or honorific suffix,
// dropped from the end of a name.
func isSuffix(w string) bool {
	switch w {
	case "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "esq":
		return true
	}
	return false
}

// particle returns the form of a surname prefix that belongs to the
// following word of a family name (van der Berg, de la Cruz, O Brien, Mc
// Donald, St John; saint → st), and false when w is none.
func particle(w string) (string, bool) {
	switch w {
	case "van", "von", "der", "den", "de", "da", "di", "del", "della", "des",
		"du", "la", "le", "los", "las", "dos", "das", "ten", "ter", "al",
		"el", "bin", "ibn", "ap", "mac", "mc", "o", "st":
		return w, true
	case "saint":
		return "st", true
	}
	return "", false
}

// Title returns the canonical form of a title (Mister → mr, Revd → rev),
// or "" when s is not a known title.
func Title(s string) string {
	var buf [32]byte
	return title(string(squeeze(appendFold(buf[:0], s, foldName))))
}

// squeeze removes the spaces from b in place.
func squeeze(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		if c != ' ' {
			out = append(out, c)
		}
	}
	return out
}

// FamilyName returns the canonical family name and its parts. The
// canonical name is every word concatenated (Smith-Jones, Smith Jones and
// SMITHJONES all give smithjones; O'Brien and O Brien give obrien). Parts
// are the hyphen- or space-separated components, each with any particles
// attached (van der Berg is one part, vanderberg); a single-part name has
// one part equal to the canonical name. Trailing suffixes (Jr, III) and
// leading titles are dropped.
func FamilyName(s string) (string, []string) {
	var wb [8]string // the words of most names, on the stack
	words := appendWords(wb[:0], Name(s))
	words = trimSuffixes(words)
	for len(words) > 1 && title(words[0]) != "" {
		words = words[1:]
	}
	return familyFromWords(words)
}

// familyFromWords builds the canonical family name and parts from folded
// words.
func familyFromWords(words []string) (string, []string) {
	if len(words) == 0 {
		return "", nil
	}
	parts := make([]string, 0, len(words))
	pending := ""
	for i, w := range words {
		if i < len(words)-1 {
			if p, ok := particle(w); ok {
				pending += p
				continue
			}
		}
		parts = append(parts, pending+w)
		pending = ""
	}
	return strings.Join(parts, ""), parts
}

// trimSuffixes drops suffix words from the end while another word remains.
func trimSuffixes(words []string) []string {
	for len(words) > 1 && isSuffix(words[len(words)-1]) {
		words = words[:len(words)-1]
	}
	return words
}

// GivenNames splits a given-name field (which may hold several names,
// "Mary Jane", or a leading title, "Mr John") and a middle-names field into
// the first given name and the middle names. Hyphenated given names are
// split like spaced ones (Mary-Jane → mary + jane), so that the two
// spellings agree. A name repeated (in both fields or within one) is kept
// once. When
// the given field is empty the first middle name becomes the given name.
func GivenNames(given, middle string) (string, []string) {
	// Both fields are folded into one text, one allocation, which the
	// names are cut from: the given field's words, then the middle's.
	var tb [64]byte
	var wb [8]string
	text := appendFold(tb[:0], given, foldName)
	n := len(text)
	text = append(text, ' ')
	text = appendFold(text, middle, foldName)
	if len(text) == 1 {
		return "", nil
	}
	names := string(text)
	words := appendWords(wb[:0], names[:n])
	for len(words) > 0 && title(words[0]) != "" && (len(words) > 1 || isStrongTitle(title(words[0]))) {
		words = words[1:]
	}
	words = trimSuffixes(words)
	return splitGiven(appendWords(words, names[n+1:]))
}

// splitGiven returns the first of words and the rest, each name once. It
// reorders words in place; the names it returns are copied out of it.
func splitGiven(words []string) (string, []string) {
	uniq := words[:0]
	for _, w := range words {
		if !contains(uniq, w) {
			uniq = append(uniq, w)
		}
	}
	switch len(uniq) {
	case 0:
		return "", nil
	case 1:
		return uniq[0], nil
	}
	return uniq[0], append([]string(nil), uniq[1:]...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FullName is a whole name parsed into its parts, every part folded as by
// Name.
type FullName struct {
	Title       string
	Given       string
	Middle      []string
	Family      string
	FamilyParts []string
}

// rawWord is one whitespace-separated word of a full name with its folded
// tokens.
type rawWord struct {
	tokens []string
	upper  bool // written entirely in capitals (two letters or more)
}

// ParseFullName splits a name written in one field. It understands
//
//   - "SURNAME, Forename Middle" (a comma puts the family name first);
//   - "SURNAME Forename" or "Forename SURNAME" where the family name alone
//     is written in capitals and the rest is not;
//   - otherwise "Forename Middle Surname", the family name being the last
//     word together with any particles before it (van, de, al, O, Mc...).
//
// Leading titles (the first is kept in Title) and trailing suffixes are
// removed. A single word is taken as the family name.
func ParseFullName(s string) FullName {
	var fn FullName
	before, after, comma := strings.Cut(s, ",")
	if comma {
		a := toWords(after)
		if len(a) == 0 || allSuffixOrTitle(a) {
			// "John Smith, Jr" or a trailing comma: not the surname-first form.
			comma = false
			s = before + " " + after
		}
	}
	var givenW, familyW []rawWord
	if comma {
		familyW = stripTitles(toWords(before), &fn)
		givenW = stripTitles(toWords(after), &fn)
		givenW = trimSuffixWords(givenW)
		familyW = trimSuffixWords(familyW)
		if len(familyW) == 0 {
			familyW, givenW = givenW, nil
		}
	} else {
		words := stripTitles(toWords(s), &fn)
		words = trimSuffixWords(words)
		givenW, familyW = splitNoComma(words)
	}
	var gt, ft []string
	for _, w := range givenW {
		gt = append(gt, w.tokens...)
	}
	for _, w := range familyW {
		ft = append(ft, w.tokens...)
	}
	fn.Given, fn.Middle = splitGiven(gt)
	fn.Family, fn.FamilyParts = familyFromWords(trimSuffixes(ft))
	return fn
}

// splitNoComma decides which words of a comma-free name are the family
// name.
func splitNoComma(words []rawWord) (given, family []rawWord) {
	if len(words) <= 1 {
		return nil, words
	}
	// Capitals convention: exactly one contiguous run of all-capital words
	// at the start or end, the rest mixed case.
	nUpper := 0
	for _, w := range words {
		if w.upper {
			nUpper++
		}
	}
	if nUpper > 0 && nUpper < len(words) {
		if run := leadingUpper(words); run == nUpper {
			return words[run:], words[:run]
		}
		if run := trailingUpper(words); run == nUpper {
			return words[:len(words)-run], words[len(words)-run:]
		}
	}
	// Last word plus the particles before it, leaving at least one given
	// word.
	i := len(words) - 1
	for i > 1 && len(words[i-1].tokens) == 1 && isParticle(words[i-1].tokens[0]) {
		i--
	}
	return words[:i], words[i:]
}

func isParticle(s string) bool { _, ok := particle(s); return ok }

func leadingUpper(words []rawWord) int {
	n := 0
	for n < len(words) && words[n].upper {
		n++
	}
	return n
}

func trailingUpper(words []rawWord) int {
	n := 0
	for n < len(words) && words[len(words)-1-n].upper {
		n++
	}
	return n
}

// toWords splits s on whitespace and commas and folds each word, dropping
// words with no letters.
func toWords(s string) []rawWord {
	f := strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ',' })
	out := make([]rawWord, 0, len(f))
	for _, w := range f {
		t := strings.Fields(Name(w))
		if len(t) == 0 {
			continue
		}
		out = append(out, rawWord{tokens: t, upper: isUpperWord(w)})
	}
	return out
}

// isUpperWord reports whether w has at least two letters and no lower-case
// letter.
func isUpperWord(w string) bool {
	letters := 0
	for _, r := range w {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 2
}

// stripTitles removes title words from the start (and a bracketed or
// trailing one from the end) while another word remains, recording the
// first as fn.Title.
func stripTitles(words []rawWord, fn *FullName) []rawWord {
	for len(words) > 1 && len(words[0].tokens) == 1 && title(words[0].tokens[0]) != "" {
		if fn.Title == "" {
			fn.Title = title(words[0].tokens[0])
		}
		words = words[1:]
	}
	for len(words) > 1 {
		last := words[len(words)-1]
		if len(last.tokens) != 1 || !isStrongTitle(title(last.tokens[0])) {
			break
		}
		if fn.Title == "" {
			fn.Title = title(last.tokens[0])
		}
		words = words[:len(words)-1]
	}
	return words
}

func trimSuffixWords(words []rawWord) []rawWord {
	for len(words) > 1 {
		last := words[len(words)-1]
		if len(last.tokens) != 1 || !isSuffix(last.tokens[0]) {
			break
		}
		words = words[:len(words)-1]
	}
	return words
}

func allSuffixOrTitle(words []rawWord) bool {
	for _, w := range words {
		for _, t := range w.tokens {
			if !isSuffix(t) && title(t) == "" {
				return false
			}
		}
	}
	return true
}
