package synth

import (
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Recording errors. Each function applies one kind of error to a value;
// the renderer decides, per record and at the agency's rate, whether to
// call it.

// typo makes one typing error in s: a letter inserted, deleted, replaced
// by a neighbour on the keyboard, or two adjacent letters transposed. The
// result is never empty and keeps the case of its neighbourhood.
func typo(r *rand.Rand, s string) string {
	rs := []rune(s)
	if len(rs) < 2 {
		return s
	}
	i := r.IntN(len(rs))
	switch op := r.IntN(4); {
	case op == 0: // insert
		c := keyNeighbour(r, rs[i])
		rs = append(rs[:i+1], append([]rune{c}, rs[i+1:]...)...)
	case op == 1 && len(rs) > 2: // delete
		rs = append(rs[:i], rs[i+1:]...)
	case op == 2 || op == 1: // substitute
		rs[i] = keyNeighbour(r, rs[i])
	default: // transpose
		if i == len(rs)-1 {
			i--
		}
		if rs[i] == rs[i+1] {
			rs[i] = keyNeighbour(r, rs[i])
		} else {
			rs[i], rs[i+1] = rs[i+1], rs[i]
		}
	}
	return string(rs)
}

// keyboardRows is a QWERTY layout, used to choose plausible wrong keys.
const keyboardRows = "qwertyuiop|asdfghjkl|zxcvbnm"

// keyNeighbour returns a letter next to c on the keyboard (or a random
// letter when c is not a plain letter), in c's case.
func keyNeighbour(r *rand.Rand, c rune) rune {
	lc := unicode.ToLower(c)
	var out rune
	if i := strings.IndexRune(keyboardRows, lc); i >= 0 && lc <= unicode.MaxASCII {
		var cands []rune
		if i > 0 && keyboardRows[i-1] != '|' {
			cands = append(cands, rune(keyboardRows[i-1]))
		}
		if i+1 < len(keyboardRows) && keyboardRows[i+1] != '|' {
			cands = append(cands, rune(keyboardRows[i+1]))
		}
		out = cands[r.IntN(len(cands))]
	} else {
		out = rune('a' + r.IntN(26))
	}
	if unicode.IsUpper(c) {
		out = unicode.ToUpper(out)
	}
	return out
}

// plainName strips accents and changes name punctuation the way systems
// that cannot store it do: O'Brien as OBrien or O Brien, Smith-Jones as
// Smith Jones. Which variant is used is drawn from r.
func plainName(r *rand.Rand, s string) string {
	s = stripAccents(s)
	if strings.ContainsAny(s, "'-") {
		apos := ""
		if r.IntN(2) == 0 {
			apos = " "
		}
		s = strings.NewReplacer("'", apos, "-", " ").Replace(s)
	}
	return s
}

// swapDayMonth swaps day and month when both are valid months and differ.
func swapDayMonth(dob int32) (int32, bool) {
	y, m, d := civilFromDays(dob)
	if d > 12 || d == m {
		return dob, false
	}
	return daysFromCivil(y, d, m), true
}

// offByOne moves the day, the month or the year of a date by one, keeping
// it a real date.
func offByOne(r *rand.Rand, dob int32) int32 {
	y, m, d := civilFromDays(dob)
	step := 1
	if r.IntN(2) == 0 {
		step = -1
	}
	switch r.IntN(3) {
	case 0:
		d += step
		if d < 1 || d > daysIn(y, m) {
			d -= 2 * step
		}
	case 1:
		m += step
		if m < 1 || m > 12 {
			m -= 2 * step
		}
		d = min(d, daysIn(y, m))
	default:
		y += step
		d = min(d, daysIn(y, m))
	}
	return daysFromCivil(y, m, d)
}

// postcodeVariant writes a postcode the way careless entry does: lower
// case, without its space, or with a doubled space.
func postcodeVariant(r *rand.Rand, pc string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToLower(pc)
	case 1:
		return strings.ReplaceAll(pc, " ", "")
	default:
		return strings.Replace(pc, " ", "  ", 1)
	}
}

// upper is strings.ToUpper with an ASCII fast path.
func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || (c >= 'a' && c <= 'z') {
			return strings.ToUpper(s)
		}
	}
	return s
}
