package normalize

import "strings"

// Postcode validates a UK postcode and returns it in canonical form: upper
// case, one space before the three-character inward code ("ls1 1ab",
// "LS11AB" and " LS1  1AB " all give "LS1 1AB"). It accepts the six
// outward/inward patterns
//
//	A9 9AA   A99 9AA   AA9 9AA   AA99 9AA   A9A 9AA   AA9A 9AA
//
// with the Royal Mail letter restrictions (first letter not Q, V, X; second
// not I, J, Z; third in A9A one of ABCDEFGHJKPSTUW; fourth in AA9A one of
// ABEHMNPRVWXY; inward letters not C, I, K, M, O, V), plus the special
// GIR 0AA. A letter O typed for the zero that must open the inward code is
// repaired. ok is false when s is not a postcode; then the result is "".
// Postcode is idempotent.
func Postcode(s string) (string, bool) {
	var buf [7]byte
	n, ok := compactInto(buf[:], s, false)
	if !ok {
		return "", false
	}
	var res [8]byte
	pc, ok := compactPostcode(res[:0], buf[:n])
	if !ok {
		return "", false
	}
	if string(pc) == s {
		return s, true // written canonically already: nothing to allocate
	}
	return string(pc), true
}

// compactPostcode validates an upper-case postcode without spaces and
// appends its canonical form to dst.
func compactPostcode(dst, b []byte) ([]byte, bool) {
	n := len(b)
	if n < 5 || n > 7 {
		return nil, false
	}
	if b[n-3] == 'O' {
		b[n-3] = '0'
	}
	out, in := b[:n-3], b[n-3:]
	if string(out) == "GIR" && string(in) == "0AA" {
		return append(dst, "GIR 0AA"...), true
	}
	if !isDigit(in[0]) || !inwardLetter(in[1]) || !inwardLetter(in[2]) {
		return nil, false
	}
	if !validOutward(out) {
		return nil, false
	}
	dst = append(dst, out...)
	dst = append(dst, ' ')
	return append(dst, in...), true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' }

func inwardLetter(c byte) bool {
	return isLetter(c) && !strings.ContainsRune("CIKMOV", rune(c))
}

func validOutward(o []byte) bool {
	first := func(c byte) bool { return isLetter(c) && !strings.ContainsRune("QVX", rune(c)) }
	second := func(c byte) bool { return isLetter(c) && !strings.ContainsRune("IJZ", rune(c)) }
	switch len(o) {
	case 2: // A9
		return first(o[0]) && isDigit(o[1])
	case 3: // A99, AA9, A9A
		if !first(o[0]) {
			return false
		}
		switch {
		case isDigit(o[1]) && isDigit(o[2]):
			return true
		case second(o[1]) && isDigit(o[2]):
			return true
		case isDigit(o[1]) && strings.ContainsRune("ABCDEFGHJKPSTUW", rune(o[2])):
			return true
		}
	case 4: // AA99, AA9A
		if !first(o[0]) || !second(o[1]) || !isDigit(o[2]) {
			return false
		}
		return isDigit(o[3]) || strings.ContainsRune("ABEHMNPRVWXY", rune(o[3]))
	}
	return false
}

// findPostcode looks for a postcode among folded address words (lower
// case, space separated), trying a word pair ("ls1 1ab") before a single
// word ("ls11ab"), from the end of the text. It returns the canonical
// postcode and the index range [i, j) of the words it occupied.
func findPostcode(words []string) (pc string, i, j int) {
	for k := len(words) - 1; k >= 0; k-- {
		w := words[k]
		if len(w) == 3 && k > 0 && len(words[k-1]) >= 2 && len(words[k-1]) <= 4 {
			if p, ok := postcodePair(words[k-1], w); ok {
				return p, k - 1, k + 1
			}
		}
		if len(w) >= 5 && len(w) <= 7 {
			if p, ok := Postcode(w); ok {
				return p, k, k + 1
			}
		}
	}
	return "", 0, 0
}

// postcodePair is Postcode(a + b) without building a + b: the two words
// of a postcode written with its space ("ls1", "1ab").
func postcodePair(a, b string) (string, bool) {
	var buf [7]byte
	n, ok := compactInto(buf[:], a, false)
	if !ok {
		return "", false
	}
	m, ok := compactInto(buf[n:], b, false)
	if !ok {
		return "", false
	}
	var res [8]byte
	pc, ok := compactPostcode(res[:0], buf[:n+m])
	if !ok {
		return "", false
	}
	// The canonical form has a space, so unlike Postcode's argument a + b
	// might (were a or b to hold one) it is never returned as it stands.
	if string(pc) == a+b {
		return a + b, true
	}
	return string(pc), true
}
