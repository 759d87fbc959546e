package normalize

import (
	"errors"
	"fmt"
)

// Limits on a plausible year of birth. Outside them a date is a data error
// (a default such as 1800-01-01 or 9999-12-31, or a mistyped century).
const (
	MinYear = 1890
	MaxYear = 2100
)

// Date is a calendar date without time zone. The zero Date means unknown.
type Date struct{ Year, Month, Day int }

// Errors returned by ParseISO, wrapped with the offending detail.
var (
	ErrDateFormat = errors.New("not a YYYY-MM-DD date")
	ErrDateUnreal = errors.New("not a real date")
	ErrDateRange  = fmt.Errorf("year outside %d-%d", MinYear, MaxYear)
)

// ParseISO parses a date written exactly as YYYY-MM-DD (the form the
// mapping layer produces). It rejects dates that do not exist (2023-02-29)
// and years outside MinYear..MaxYear.
func ParseISO(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, ErrDateFormat
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, ErrDateFormat
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return Date{}, fmt.Errorf("date %s is %w", s, ErrDateUnreal)
	}
	if y < MinYear || y > MaxYear {
		return Date{}, fmt.Errorf("date %s: %w", s, ErrDateRange)
	}
	return Date{Year: y, Month: m, Day: d}, nil
}

// digits parses an all-ASCII-digit string.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// IsZero reports whether d is the zero (unknown) date.
func (d Date) IsZero() bool { return d == Date{} }

// String returns d as YYYY-MM-DD, or "" for the zero date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	var b [10]byte
	return string(d.AppendTo(b[:0]))
}

// AppendTo appends d as YYYY-MM-DD to dst, as String writes it, and
// nothing for the zero date.
func (d Date) AppendTo(dst []byte) []byte {
	if d.IsZero() {
		return dst
	}
	var b [10]byte
	put(b[0:4], d.Year)
	b[4] = '-'
	put(b[5:7], d.Month)
	b[7] = '-'
	put(b[8:10], d.Day)
	return append(dst, b[:]...)
}

// put writes n as len(b) zero-padded decimal digits.
func put(b []byte, n int) {
	if n < 0 {
		n = -n
	}
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}
