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
func fold(s string, mode foldMode) string {
	if s == "" || folded(s, mode) {
		return s
	}
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
