package derive

// soundexCodes gives the American Soundex digit of each letter a-z: 0 for
// vowels and y (which separate equal codes), 'h' for h and w (which do
// not), else the digit.
const soundexCodes = "0123012h02245501262301h202"

// Soundex returns the American Soundex code of a folded name (the letter
// and three digits of the U.S. National Archives rules, including the rule
// that letters with the same code separated by h or w are coded once:
// Ashcraft → A261). Characters other than a-z are ignored. It returns ""
// when s has no letter a-z.
func Soundex(s string) string {
	var buf [4]byte
	return string(appendSoundex(buf[:0], s))
}

// appendSoundex appends the Soundex code of s to dst, nothing when s has
// no letter a-z.
func appendSoundex(dst []byte, s string) []byte {
	var out [4]byte
	n := 0
	var last byte // code of the previous coded letter
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c < 'a' || c > 'z' {
			continue
		}
		code := soundexCodes[c-'a']
		if n == 0 {
			out[0] = c - ('a' - 'A')
			n = 1
			last = code
			continue
		}
		switch {
		case code == 'h':
			// h and w neither code nor separate.
		case code == '0':
			last = '0'
		case code != last:
			out[n] = code
			n++
			last = code
		}
	}
	if n == 0 {
		return dst
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return append(dst, out[:]...)
}
