package normalize

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// foldMode selects which characters survive folding besides letters.
type foldMode uint8

const (
	foldName    foldMode = iota // letters only; everything else separates words
	foldAddress                 // letters and digits; '/' between them and '-' between digits survive
)

// isApostrophe reports whether r is one of the apostrophe-like characters
// that agencies type inside names (O'Brien, O’Brien, O`Brien, O´Brien).
// They are deleted rather than treated as word separators.
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', '‘', '`', '´', 'ʼ', 'ʻ', '′', 'ʹ':
		return true
	}
	return false
}

// letterFold maps letters that Unicode decomposition leaves alone to their
// conventional ASCII transliteration.
func letterFold(r rune) (string, bool) {
	switch r {
	case 'ß', 'ẞ':
		return "ss", true
	case 'æ', 'Æ':
		return "ae", true
	case 'œ', 'Œ':
		return "oe", true
	case 'ø', 'Ø':
		return "o", true
	case 'ł', 'Ł':
		return "l", true
	case 'đ', 'Đ', 'ð', 'Ð':
		return "d", true
	case 'þ', 'Þ':
		return "th", true
	case 'ı':
		return "i", true
	case 'ħ', 'Ħ':
		return "h", true
	}
	return "", false
}

// isASCII reports whether s holds only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fold lower-cases s, removes accents (NFKD, combining marks dropped),
// deletes apostrophes and turns every other character that the mode does
// not keep into a single space between words. The result has no leading,
// trailing or doubled spaces. fold is idempotent for every mode.
//
// ASCII text, nearly every value agencies send, takes a fast path
// (appendFoldASCII) that gives the same bytes as the general one
// (foldGeneral); FuzzFoldASCII holds the two to that.
func fold(s string, mode foldMode) string {
	if s == "" || folded(s, mode) {
		return s
	}
	if !isASCII(s) {
		return foldGeneral(s, mode)
	}
	var buf [64]byte
	b := appendFoldASCII(buf[:0], s, mode)
	if string(b) == s {
		return s
	}
	return string(b)
}

// appendFold appends fold(s, mode) to dst without allocating for ASCII
// text.
func appendFold(dst []byte, s string, mode foldMode) []byte {
	if !isASCII(s) {
		return append(dst, foldGeneral(s, mode)...)
	}
	return appendFoldASCII(dst, s, mode)
}

// appendFoldASCII appends fold(s, mode) to dst for ASCII s. It is the
// loop of foldGeneral with the cases that only non-ASCII runes reach left
// out (no rune of s is a combining mark or a letter outside A-Z and a-z,
// and NFKD leaves ASCII unchanged); the other cases are the same and in
// the same order.
func appendFoldASCII(dst []byte, s string, mode foldMode) []byte {
	start := len(dst)
	space := false // a separator is pending
	var prev byte  // last byte written, 0 after a separator
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9' && mode == foldAddress:
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '\'' || c == '`':
			continue // apostrophes are deleted
		case mode == foldAddress && c == '/':
			if prev >= '0' && prev <= '9' || prev >= 'a' && prev <= 'z' {
				if i+1 < len(s) {
					if next := s[i+1]; next >= '0' && next <= '9' || next >= 'a' && next <= 'z' || next >= 'A' && next <= 'Z' {
						space = false
						dst = append(dst, '/')
						prev = '/'
						continue
					}
				}
			}
			space = true
			continue
		case mode == foldAddress && c == '-' && prev >= '0' && prev <= '9':
			if i+1 < len(s) {
				if next := s[i+1]; next >= '0' && next <= '9' {
					space = false
					dst = append(dst, '-')
					prev = '-'
					continue
				}
			}
			space = true
			continue
		default:
			// Punctuation, spaces, symbols, and digits in a name.
			space = true
			prev = 0
			continue
		}
		if space && len(dst) > start {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
		prev = c
	}
	return dst
}

// foldGeneral is fold for any text.
func foldGeneral(s string, mode foldMode) string {
	// Apostrophes go first: NFKD would turn some of them (´) into a space
	// plus a combining mark.
	if !isASCII(s) {
		// Invalid UTF-8 would stop NFKD from decomposing what follows it.
		if !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s, " ")
		}
		if strings.IndexFunc(s, isApostrophe) >= 0 {
			s = strings.Map(func(r rune) rune {
				if isApostrophe(r) {
					return -1
				}
				return r
			}, s)
		}
		s = norm.NFKD.String(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false // a separator is pending
	var prev rune  // last rune written, 0 after a separator
	sep := func() {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
	}
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9' && mode == foldAddress:
			sep()
			b.WriteByte(byte(r))
			prev = r
		case 'A' <= r && r <= 'Z':
			sep()
			b.WriteByte(byte(r + 'a' - 'A'))
			prev = r + 'a' - 'A'
		case isApostrophe(r):
			// deleted
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
			// combining mark left by NFKD: deleted
		case mode == foldAddress && r == '/':
			if prev >= '0' && prev <= '9' || prev >= 'a' && prev <= 'z' {
				if next := nextRune(s, i); next >= '0' && next <= '9' || next >= 'a' && next <= 'z' || next >= 'A' && next <= 'Z' {
					space = false
					b.WriteByte('/')
					prev = '/'
					continue
				}
			}
			space = true
		case mode == foldAddress && r == '-' && prev >= '0' && prev <= '9':
			if next := nextRune(s, i); next >= '0' && next <= '9' {
				space = false
				b.WriteByte('-')
				prev = '-'
				continue
			}
			space = true
		case unicode.IsLetter(r):
			sep()
			if t, ok := letterFold(r); ok {
				b.WriteString(t)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			prev = 'a'
		default:
			// Punctuation, spaces, symbols and digits outside ASCII (NFKD
			// has already turned fullwidth digits into ASCII ones).
			space = true
			prev = 0
		}
	}
	return b.String()
}

// folded reports whether fold would return s unchanged because it is
// already in folded form: lower-case ASCII letters (and digits, for an
// address) in words separated by single spaces, with none leading or
// trailing. Other texts, even some fold leaves unchanged, report false.
func folded(s string, mode foldMode) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && mode == foldAddress:
		case c == ' ' && s[i-1] != ' ':
		default:
			return false
		}
	}
	return true
}

// nextRune returns the rune after the one at byte offset i, or 0.
func nextRune(s string, i int) rune {
	_, n := utf8.DecodeRuneInString(s[i:])
	if i+n >= len(s) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(s[i+n:])
	return r
}
