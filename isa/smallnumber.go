package isa

import "strconv"

// Suppress applies the small-number rule to one count of an aggregate
// report under threshold: a count from 1 to threshold-1 is withheld (the
// result is 0 and suppressed is true); zero and counts at or above the
// threshold are reported as they are. A threshold of 1 or less withholds
// nothing.
//
// Zero is not withheld: "none" reveals nothing about any one person,
// while a count of 1 or 2 can single a family out.
func Suppress(n uint64, threshold int) (shown uint64, suppressed bool) {
	if n > 0 && threshold > 1 && n < uint64(threshold) {
		return 0, true
	}
	return n, false
}

// FormatCount renders a count of an aggregate report under threshold:
// the number, or "<threshold" for a withheld count (see Suppress).
func FormatCount(n uint64, threshold int) string {
	if _, s := Suppress(n, threshold); s {
		return SuppressedText(threshold)
	}
	return strconv.FormatUint(n, 10)
}

// SuppressedText is how a withheld count is shown: "<" and the threshold.
func SuppressedText(threshold int) string { return "<" + strconv.Itoa(threshold) }
