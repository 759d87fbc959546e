package synth

import "strconv"

// perm is a pseudo-random permutation of [0, n): a four-round Feistel
// network over the smallest even number of bits covering n, applied
// repeatedly until the value falls below n (cycle walking). It gives each
// generated entity a distinct identifier that looks random, without
// storing anything per entity.
type perm struct {
	n    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newPerm(n uint64, seed uint64) perm {
	half := uint(1)
	for half < 32 && uint64(1)<<(2*half) < n {
		half++
	}
	q := perm{n: n, half: half, mask: 1<<half - 1}
	for i := range q.keys {
		seed = splitmix(seed)
		q.keys[i] = seed
	}
	return q
}

func (q perm) at(x uint64) uint64 {
	if q.n < 2 {
		return 0
	}
	for {
		l, r := x>>q.half, x&q.mask
		for _, k := range q.keys {
			l, r = r, l^(splitmix(r^k)&q.mask)
		}
		x = l<<q.half | r
		if x < q.n {
			return x
		}
	}
}

// splitmix is the SplitMix64 finaliser: a fast, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// hash2 mixes two values into one.
func hash2(a, b uint64) uint64 { return splitmix(a ^ splitmix(b)) }

// ninoPrefixes lists the two-letter prefixes HMRC allocates: the first
// letter is not D, F, I, Q, U or V; the second not D, F, I, O, Q, U or V;
// and BG, GB, KN, NK, NT, TN and ZZ are never used.
func ninoPrefixes() []string {
	var out []string
	for a := 'A'; a <= 'Z'; a++ {
		if containsRune("DFIQUV", a) {
			continue
		}
		for b := 'A'; b <= 'Z'; b++ {
			if containsRune("DFIOQUV", b) {
				continue
			}
			s := string([]rune{a, b})
			switch s {
			case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}

// validNINO reports whether s is a National Insurance number in the
// allocated format: two prefix letters, six digits, suffix A-D.
func validNINO(s string) bool {
	if len(s) != 9 {
		return false
	}
	a, b := rune(s[0]), rune(s[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' || containsRune("DFIQUV", a) || containsRune("DFIOQUV", b) {
		return false
	}
	switch s[:2] {
	case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
		return false
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s[8] >= 'A' && s[8] <= 'D'
}

// nhsCheck returns the NHS number check digit of the 9-digit base
// (modulus 11, weights 10 down to 2), or -1 when the base has none (the
// check would be 10, so no valid NHS number starts with it).
func nhsCheck(base [9]byte) int {
	sum := 0
	for i, d := range base {
		sum += int(d) * (10 - i)
	}
	c := 11 - sum%11
	switch c {
	case 11:
		return 0
	case 10:
		return -1
	}
	return c
}

// validNHSNumber reports whether s is 10 digits with a correct check digit.
func validNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	var base [9]byte
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if i < 9 {
			base[i] = s[i] - '0'
		}
	}
	c := nhsCheck(base)
	return c >= 0 && c == int(s[9]-'0')
}

// nhsNumber makes a valid NHS number from k in [0, 1e8): the 9-digit base
// is 4xxxxxxxx; when that base has no check digit, 6xxxxxxxx is used
// instead (changing the first digit from 4 to 6 adds 20, i.e. 9 modulo
// 11, to the weighted sum, which turns the forbidden check 10 into 1). The
// map is injective, so distinct k give distinct numbers.
func nhsNumber(k uint64) string {
	var base [9]byte
	base[0] = 4
	for i := 8; i >= 1; i-- {
		base[i] = byte(k % 10)
		k /= 10
	}
	c := nhsCheck(base)
	if c < 0 {
		base[0] = 6
		c = nhsCheck(base)
	}
	var b [10]byte
	for i, d := range base {
		b[i] = '0' + d
	}
	b[9] = '0' + byte(c)
	return string(b[:])
}

// upnLetters are the UPN check letters for remainders 0..22 (no I, O, S).
const upnLetters = "ABCDEFGHJKLMNPQRTUVWXYZ"

// upnCheckLetter computes the check letter of a UPN's last 12 characters
// (the DfE algorithm: character i+2 weighted by i+2, sum modulo 23). A
// letter in the last position of a temporary UPN counts as its position
// in upnLetters.
func upnCheckLetter(body string) (byte, bool) {
	if len(body) != 12 {
		return 0, false
	}
	sum := 0
	for i := 0; i < 12; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case i == 11:
			j := indexByte(upnLetters, c)
			if j < 0 {
				return 0, false
			}
			v = j
		default:
			return 0, false
		}
		sum += v * (i + 2)
	}
	return upnLetters[sum%23], true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// validUPN reports whether s is a 13-character UPN with a correct check
// letter.
func validUPN(s string) bool {
	if len(s) != 13 {
		return false
	}
	c, ok := upnCheckLetter(s[1:])
	return ok && c == s[0]
}

// makeUPN builds a permanent UPN from an LA code (3 digits), a DfE
// establishment number (4 digits), the two-digit year of allocation and a
// 3-digit serial.
func makeUPN(la, est, year, serial int) string {
	b := make([]byte, 13)
	putDigits(b[1:4], la)
	putDigits(b[4:8], est)
	putDigits(b[8:10], year)
	putDigits(b[10:13], serial)
	c, _ := upnCheckLetter(string(b[1:]))
	b[0] = c
	return string(b)
}

// putDigits writes v zero-padded into b.
func putDigits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// padInt formats v zero-padded to width digits.
func padInt(v uint64, width int) string {
	s := strconv.FormatUint(v, 10)
	for len(s) < width {
		s = "0" + s
	}
	return s
}
