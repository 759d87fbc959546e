package synth

import "time"

// Dates are held as days since 1970-01-01 (int32) and converted with the
// proleptic Gregorian civil-calendar algorithms, which is much cheaper
// than building a time.Time per field.

func daysFromCivil(y, m, d int) int32 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

func civilFromDays(z32 int32) (y, m, d int) {
	z := int(z32) + 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func daysOf(t time.Time) int32 {
	y, m, d := t.UTC().Date()
	return daysFromCivil(y, int(m), d)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ageAt is the age in whole years of a person born on dob at the date
// asof: the number of birthdays passed (a 29 February birthday counts as
// passed on 1 March in other years).
func ageAt(dob, asof int32) int {
	by, bm, bd := civilFromDays(dob)
	y, m, d := civilFromDays(asof)
	a := y - by
	if m < bm || (m == bm && d < bd) {
		a--
	}
	return a
}

// monthsSince is the number of whole calendar months from date to asof
// (negative when date is after asof).
func monthsSince(date, asof int32) int {
	y1, m1, d1 := civilFromDays(date)
	y2, m2, d2 := civilFromDays(asof)
	n := (y2-y1)*12 + (m2 - m1)
	if n > 0 && d2 < d1 {
		n--
	} else if n < 0 && d2 > d1 {
		n++
	}
	return n
}

// monthAbbrevs holds the three-letter month names, January first.
const monthAbbrevs = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC"

// Date layouts used by the extracts.
const (
	layoutDMYSlash = iota // DD/MM/YYYY
	layoutISO             // YYYY-MM-DD
	layoutCompact         // YYYYMMDD
	layoutDMonY           // DD-MON-YYYY
)

func formatDate(days int32, layout int) string {
	y, m, d := civilFromDays(days)
	var b [11]byte
	switch layout {
	case layoutDMYSlash:
		putDigits(b[0:2], d)
		b[2] = '/'
		putDigits(b[3:5], m)
		b[5] = '/'
		putDigits(b[6:10], y)
		return string(b[:10])
	case layoutISO:
		putDigits(b[0:4], y)
		b[4] = '-'
		putDigits(b[5:7], m)
		b[7] = '-'
		putDigits(b[8:10], d)
		return string(b[:10])
	case layoutCompact:
		putDigits(b[0:4], y)
		putDigits(b[4:6], m)
		putDigits(b[6:8], d)
		return string(b[:8])
	case layoutDMonY:
		putDigits(b[0:2], d)
		b[2] = '-'
		copy(b[3:6], monthAbbrevs[3*(m-1):3*m])
		b[6] = '-'
		putDigits(b[7:11], y)
		return string(b[:11])
	}
	panic("synth: unknown date layout")
}
