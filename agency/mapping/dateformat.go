package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A date format is written with the tokens below and literal separators:
//
//	YYYY   four-digit year
//	YY     two-digit year (see pivotYear)
//	MM     two-digit month, 01-12
//	M      month, 1 or 2 digits
//	DD     two-digit day, 01-31
//	D      day, 1 or 2 digits
//	MON    three-letter English month name, Jan-Dec, any case
//	MONTH  full English month name, January-December, any case
//	*      only as the last character: ignore whatever follows (a time of day)
//
// Any other letter is an error. A space in the format matches one or more
// spaces or tabs in the value; every other character must match exactly.

type tokenKind uint8

const (
	tokLiteral tokenKind = iota
	tokSpace
	tokYYYY
	tokYY
	tokMM
	tokM
	tokDD
	tokD
	tokMON
	tokMONTH
)

// tokenNames lists the tokens in the order the tokenizer tries them: a
// longer token must come before any token that is a prefix of it.
var tokenNames = [...]struct {
	name string
	kind tokenKind
}{
	{"YYYY", tokYYYY},
	{"YY", tokYY},
	{"MONTH", tokMONTH},
	{"MON", tokMON},
	{"MM", tokMM},
	{"M", tokM},
	{"DD", tokDD},
	{"D", tokD},
}

var monthNames = [12]string{
	"january", "february", "march", "april", "may", "june",
	"july", "august", "september", "october", "november", "december",
}

type dateToken struct {
	kind tokenKind
	lit  string // for tokLiteral
}

// dateFormat is a compiled date format.
type dateFormat struct {
	src    string
	tokens []dateToken
	rest   bool // format ended in "*": trailing text is ignored
}

// compileDateFormat parses a date format. The error names the problem but
// not the file position; callers add that.
func compileDateFormat(src string) (*dateFormat, error) {
	if src == "" {
		return nil, errors.New("empty date format")
	}
	f := &dateFormat{src: src}
	var haveY, haveM, haveD int
	s := asciiUpper(src) // tokens may be written in either case
	for len(s) > 0 {
		if s == "*" {
			f.rest = true
			break
		}
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size <= 1:
			return nil, fmt.Errorf("date format %q is not valid UTF-8", src)
		case r == '*':
			return nil, fmt.Errorf("date format %q: * is only allowed at the end", src)
		case r == ' ':
			if n := len(f.tokens); n == 0 || f.tokens[n-1].kind != tokSpace {
				f.tokens = append(f.tokens, dateToken{kind: tokSpace})
			}
			s = s[size:]
			continue
		case unicode.IsLetter(r):
			found := false
			for _, t := range tokenNames {
				if strings.HasPrefix(s, t.name) {
					f.tokens = append(f.tokens, dateToken{kind: t.kind})
					s = s[len(t.name):]
					switch t.kind {
					case tokYYYY, tokYY:
						haveY++
					case tokMM, tokM, tokMON, tokMONTH:
						haveM++
					default:
						haveD++
					}
					found = true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("date format %q: unknown token at %q (use YYYY, YY, MM, M, DD, D, MON, MONTH)", src, clip(s, 8))
			}
			continue
		}
		if n := len(f.tokens); n > 0 && f.tokens[n-1].kind == tokLiteral {
			f.tokens[n-1].lit += s[:size]
		} else {
			f.tokens = append(f.tokens, dateToken{kind: tokLiteral, lit: s[:size]})
		}
		s = s[size:]
	}
	if haveY != 1 || haveM != 1 || haveD != 1 {
		return nil, fmt.Errorf("date format %q must have exactly one year (YYYY or YY), one month (MM, M, MON or MONTH) and one day (DD or D)", src)
	}
	for i := 0; i+1 < len(f.tokens); i++ {
		a, b := f.tokens[i].kind, f.tokens[i+1].kind
		if (a == tokM || a == tokD) && isNumeric(b) {
			return nil, fmt.Errorf("date format %q: a one-or-two digit token (M or D) must be followed by a separator, not another number", src)
		}
		if (a == tokMON || a == tokMONTH) && b == tokLiteral && startsWithLetter(f.tokens[i+1].lit) {
			return nil, fmt.Errorf("date format %q: a month name must not be followed by a letter", src)
		}
	}
	return f, nil
}

func isNumeric(k tokenKind) bool {
	switch k {
	case tokYYYY, tokYY, tokMM, tokM, tokDD, tokD:
		return true
	}
	return false
}

func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

// errNotDate is returned by parse; callers turn it into a message naming
// the formats tried.
var errNotDate = errors.New("not a date")

// parse reads value (already trimmed) as a date. refYear is the reference
// year for two-digit years: YY becomes the latest year not after refYear
// that ends in those two digits, so with refYear 2026 "26" is 2026 and "27"
// is 1927. The result is midnight UTC.
func (f *dateFormat) parse(value string, refYear int) (time.Time, error) {
	year, month, day := -1, -1, -1
	s := value
	for _, t := range f.tokens {
		var n int
		var ok bool
		switch t.kind {
		case tokLiteral:
			if !strings.HasPrefix(s, t.lit) {
				return time.Time{}, errNotDate
			}
			s = s[len(t.lit):]
			continue
		case tokSpace:
			i := 0
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i == 0 {
				return time.Time{}, errNotDate
			}
			s = s[i:]
			continue
		case tokYYYY:
			n, s, ok = digits(s, 4, 4)
			year = n
		case tokYY:
			n, s, ok = digits(s, 2, 2)
			year = pivotYear(n, refYear)
		case tokMM:
			n, s, ok = digits(s, 2, 2)
			month = n
		case tokM:
			n, s, ok = digits(s, 1, 2)
			month = n
		case tokDD:
			n, s, ok = digits(s, 2, 2)
			day = n
		case tokD:
			n, s, ok = digits(s, 1, 2)
			day = n
		case tokMON:
			if len(s) < 3 {
				return time.Time{}, errNotDate
			}
			month = monthByName(s[:3], true)
			s = s[3:]
			ok = month > 0
		case tokMONTH:
			month, s = monthPrefix(s)
			ok = month > 0
		}
		if !ok {
			return time.Time{}, errNotDate
		}
	}
	if s != "" && !f.rest {
		return time.Time{}, errNotDate
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return time.Time{}, errNotDate
	}
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
}

// format writes t in this format. It is the inverse of parse for dates
// parse can produce.
func (f *dateFormat) format(t time.Time) string {
	var b strings.Builder
	for _, tok := range f.tokens {
		switch tok.kind {
		case tokLiteral:
			b.WriteString(tok.lit)
		case tokSpace:
			b.WriteByte(' ')
		case tokYYYY:
			fmt.Fprintf(&b, "%04d", t.Year())
		case tokYY:
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case tokMM:
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case tokM:
			fmt.Fprintf(&b, "%d", int(t.Month()))
		case tokDD:
			fmt.Fprintf(&b, "%02d", t.Day())
		case tokD:
			fmt.Fprintf(&b, "%d", t.Day())
		case tokMON:
			name := monthNames[t.Month()-1]
			b.WriteString(strings.ToUpper(name[:1]) + name[1:3])
		case tokMONTH:
			name := monthNames[t.Month()-1]
			b.WriteString(strings.ToUpper(name[:1]) + name[1:])
		}
	}
	return b.String()
}

// pivotYear places a two-digit year in the 100-year window ending at
// refYear.
func pivotYear(yy, refYear int) int {
	y := refYear - refYear%100 + yy
	if y > refYear {
		y -= 100
	}
	return y
}

// digits reads between min and max ASCII digits from the start of s.
func digits(s string, min, max int) (int, string, bool) {
	n, i := 0, 0
	for i < len(s) && i < max && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i < min {
		return 0, s, false
	}
	return n, s[i:], true
}

// monthByName returns 1-12 for an English month name (any case), or 0.
// With abbrev it matches the first three letters only.
func monthByName(s string, abbrev bool) int {
	for i, name := range monthNames {
		if abbrev {
			name = name[:3]
		}
		if strings.EqualFold(s, name) {
			return i + 1
		}
	}
	return 0
}

// monthPrefix reads a full English month name from the start of s.
func monthPrefix(s string) (int, string) {
	for i, name := range monthNames {
		if len(s) >= len(name) && strings.EqualFold(s[:len(name)], name) {
			return i + 1, s[len(name):]
		}
	}
	return 0, s
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// dateFormats is a list of formats tried in order.
type dateFormats []*dateFormat

func (fs dateFormats) parse(value string, refYear int) (time.Time, error) {
	for _, f := range fs {
		if t, err := f.parse(value, refYear); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNotDate
}

// parseSwapped reads value with day and month exchanged in every format
// that has a numeric month: the commonest error in a recorded date is a
// day and month written the other way round (01/13/2013 for 13/01/2013).
// It is tried only after parse has failed.
func (fs dateFormats) parseSwapped(value string, refYear int) (time.Time, error) {
	for _, f := range fs {
		sw := &dateFormat{src: f.src, rest: f.rest, tokens: make([]dateToken, len(f.tokens))}
		numeric := false
		for i, t := range f.tokens {
			switch t.kind {
			case tokMM:
				t.kind, numeric = tokDD, true
			case tokM:
				t.kind, numeric = tokD, true
			case tokDD:
				t.kind = tokMM
			case tokD:
				t.kind = tokM
			}
			sw.tokens[i] = t
		}
		if !numeric {
			continue
		}
		if t, err := sw.parse(value, refYear); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNotDate
}

// describe returns the formats for a message: "DD/MM/YYYY or YYYY-MM-DD".
func (fs dateFormats) describe() string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.src
	}
	return strings.Join(names, " or ")
}

func (fs dateFormats) sources() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.src
	}
	return out
}

// isoDate formats t as YYYY-MM-DD.
func isoDate(t time.Time) string {
	buf := isoDateBytes(t)
	return string(buf[:])
}

// isoDateOf is isoDate(t) for t read from the text v: v itself when it is
// written so already (an extract whose dates are YYYY-MM-DD), without
// allocating.
func isoDateOf(t time.Time, v string) string {
	if buf := isoDateBytes(t); string(buf[:]) != v {
		return string(buf[:])
	}
	return v
}

// isoDateBytes is isoDate's text.
func isoDateBytes(t time.Time) [10]byte {
	var buf [10]byte
	y, m, d := t.Date()
	buf[0] = byte('0' + y/1000%10)
	buf[1] = byte('0' + y/100%10)
	buf[2] = byte('0' + y/10%10)
	buf[3] = byte('0' + y%10)
	buf[4] = '-'
	buf[5] = byte('0' + int(m)/10)
	buf[6] = byte('0' + int(m)%10)
	buf[7] = '-'
	buf[8] = byte('0' + d/10)
	buf[9] = byte('0' + d%10)
	return buf
}

// asciiUpper upper-cases ASCII letters only, so byte offsets are kept.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// clip shortens s to at most n runes for an error message.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}
