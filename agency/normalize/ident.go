package normalize

import "strings"

// compactCode upper-cases s and removes the separators people type inside
// identifiers (spaces, dashes, dots, slashes). It returns "" if anything
// else that is not an ASCII letter or digit is present.
func compactCode(s string, max int) string {
	if len(s) <= max && isCompact(s) {
		return s // already compact: nothing to remove or upper-case
	}
	buf := make([]byte, min(len(s), max))
	n, ok := compactInto(buf, s, true)
	if !ok {
		return ""
	}
	return string(buf[:n])
}

// compactInto writes s into buf as upper-case ASCII letters and digits,
// leaving out spaces, tabs, '-', '.' and, with slash, '/'. It returns how
// many bytes it wrote; ok is false when s holds any other character or
// more letters and digits than buf has room for.
func compactInto(buf []byte, s string, slash bool) (n int, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/' && slash:
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return 0, false
		}
		if n == len(buf) {
			return 0, false
		}
		buf[n] = c
		n++
	}
	return n, true
}

// isCompact reports whether s holds only upper-case ASCII letters and
// digits.
func isCompact(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// NINO validates a National Insurance number and returns its canonical
// form: the two prefix letters and six digits, upper case, without spaces
// and WITHOUT the suffix letter ("ab 12 34 56 c" → "AB123456").
//
// The suffix (A-D) is accepted when present and dropped because many
// systems omit or mis-key it and HMRC never issues two numbers that differ
// only in the suffix, so dropping it loses no discrimination while making
// "AB123456C" and "AB123456" match.
//
// Rules (HMRC NIM39110): the first prefix letter is not D, F, I, Q, U or V;
// the second is not D, F, I, O, Q, U or V; the prefixes BG, GB, KN, NK, NT,
// TN and ZZ are not allocated (TN marks a temporary number, which is not an
// identifier). Six zero digits are a placeholder, not a number. ok is false
// for anything else. NINO is idempotent.
func NINO(s string) (string, bool) {
	c := compactCode(s, 9)
	if len(c) != 8 && len(c) != 9 {
		return "", false
	}
	if len(c) == 9 && (c[8] < 'A' || c[8] > 'D') {
		return "", false
	}
	p0, p1 := c[0], c[1]
	if !isLetter(p0) || !isLetter(p1) ||
		strings.IndexByte("DFIQUV", p0) >= 0 || strings.IndexByte("DFIOQUV", p1) >= 0 {
		return "", false
	}
	switch c[:2] {
	case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
		return "", false
	}
	for i := 2; i < 8; i++ {
		if !isDigit(c[i]) {
			return "", false
		}
	}
	if c[2:8] == "000000" {
		return "", false
	}
	return c[:8], true
}

// NHSNumber validates an NHS number (ten digits, the last a modulus-11
// check digit; spaces and dashes are ignored) and returns the ten digits.
// Numbers made of one repeated digit pass the check arithmetic but are
// placeholders, and are rejected. NHSNumber is idempotent.
func NHSNumber(s string) (string, bool) {
	c := compactCode(s, 10)
	if len(c) != 10 {
		return "", false
	}
	sum := 0
	same := true
	for i := 0; i < 10; i++ {
		if !isDigit(c[i]) {
			return "", false
		}
		if c[i] != c[0] {
			same = false
		}
		if i < 9 {
			sum += int(c[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if same || check == 10 || check != int(c[9]-'0') {
		return "", false
	}
	return c, true
}

// upnAlphabet gives the value of each letter in the UPN check algorithm:
// A=0 ... Z=22, skipping I, O and S.
const upnAlphabet = "ABCDEFGHJKLMNPQRTUVWXYZ"

// UPN validates a Unique Pupil Number and returns it upper case without
// spaces. A UPN is 13 characters: a check letter, 11 digits (local
// authority number, establishment number, year, serial) and a final digit,
// or a final letter for a temporary UPN (accepted: a school uses it until
// the permanent one is issued, and it still identifies the pupil within
// the system that issued it). The check letter is the DfE modulus-23
// letter: each of characters 2-13 is multiplied by its position (2-13),
// a final letter counting as its value in upnAlphabet, and the sum mod 23
// indexes upnAlphabet. The local authority number is not checked against
// the list of authorities (it changes with reorganisations). UPN is
// idempotent.
func UPN(s string) (string, bool) {
	c := compactCode(s, 13)
	if len(c) != 13 {
		return "", false
	}
	sum := 0
	for i := 1; i < 13; i++ {
		var v int
		switch {
		case isDigit(c[i]):
			v = int(c[i] - '0')
		case i == 12 && strings.IndexByte(upnAlphabet, c[i]) >= 0:
			v = strings.IndexByte(upnAlphabet, c[i])
		default:
			return "", false
		}
		sum += v * (i + 1)
	}
	if c[0] != upnAlphabet[sum%23] {
		return "", false
	}
	return c, true
}

// UPRN validates a Unique Property Reference Number (digits only, at most
// twelve significant digits) and returns it without leading zeros. Spaces
// are ignored, as is a decimal tail of zeros (100023336956.0, the way
// spreadsheets export a number column); zero is not a UPRN. UPRN is
// idempotent.
func UPRN(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
		s = s[:i]
	}
	var b [12]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			continue
		}
		if !isDigit(c) {
			return "", false
		}
		if n == 0 && c == '0' {
			continue
		}
		if n == len(b) {
			return "", false
		}
		b[n] = c
		n++
	}
	if n == 0 {
		return "", false
	}
	if string(b[:n]) == s {
		return s, true
	}
	return string(b[:n]), true
}

// minOtherID is the shortest shared identifier kept: shorter values
// (sequence numbers, placeholders) identify nobody.
const minOtherID = 4

// OtherID normalises an identifier of a scheme tfmatch does not know (a
// client, case or social-security number shared by the sources): letters
// and digits only, upper case. Values shorter than four characters, or of
// one repeated character (000000, XXXX), are treated as missing and give
// "".
func OtherID(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b = append(b, byte(r))
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r-'a'+'A'))
		}
	}
	if len(b) < minOtherID {
		return ""
	}
	same := true
	for _, c := range b[1:] {
		same = same && c == b[0]
	}
	if same {
		return ""
	}
	return string(b)
}
