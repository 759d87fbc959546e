// Package clk owns the similarity tier's record encoding: it turns a
// normalised person (package agency/normalize) into one cryptographic
// long-term key (CLK), a keys.FilterBits-bit Bloom filter into which the
// q-grams and tokens of the person's fields are hashed, each field under
// its own key (keys.BloomKey). Two records of one person with a typo, a
// missing value or a swapped day and month keep most of their bits in
// common, so the matcher can compare them by Dice coefficient without
// seeing any field.
//
// # Fields and weights
//
// The encoding is record-level (one filter per record, all fields mixed)
// rather than one filter per field: a field-level filter of a name has so
// few distinct values that frequency analysis re-identifies it (Kuzu et
// al. 2011); in a record-level filter the bits of rare and common values
// overlap. Each feature (a gram of a field) sets a fixed number of bits,
// its weight; the weights follow the discriminating power of the field
// and how often it legitimately differs between agencies:
//
//	field     features                                            bits each
//	name      bigrams of "_" + given name + "_"                     16
//	          bigrams of "_" + family name + "_"                    10
//	dob       "y" year, "m" month, "d" day, "dm" {day, month}
//	          unordered, "f" the full date                          12
//	sex       "m" or "f"                                            8
//	street    "n" house number or name                              8
//	          bigrams of "_" + street + "_"                         3
//	town      bigrams of "_" + town + "_"                           3
//	postcode  bigrams of "_" + postcode + "_" (UK postcode, else
//	          the postcode as recorded)                             4
//	id        bigrams of "_" + other_id + "_" (a shared identifier
//	          of a scheme tfmatch does not know)                    8
//
// The weights follow from which single disagreement must and must not
// break a link, the way Fellegi–Sunter weights follow from agreement
// probabilities, but taking into account who else shares a record's
// details: people in one household.
//
//   - A different given name with everything else equal is a twin (same
//     family name, date of birth, address): the given name alone must
//     weigh enough to pull the Dice coefficient below the threshold, so
//     it has the most bits per bigram.
//   - A different date of birth with everything else equal is a parent
//     and child of the same name: the date carries a fifth of the bits,
//     and the matcher also refuses a similarity link between records
//     whose dates of birth share no block (package matcher/linkage).
//   - A different family name (marriage) or a different address (a move)
//     with everything else equal is usually the same person: these weigh
//     less, so one of them changing, even with a typo elsewhere, stays
//     above the threshold.
//
// The date of birth is split into parts so that one wrong part, or a day
// and month swapped, keeps most of its bits. A missing field sets no
// bits, so it lowers the Dice coefficient far less than a wrong one. Given
// and family names share one key: names recorded the other way round set
// the same positions (a family bigram's positions are the first 10 of the
// same bigram's 16 as a given name).
//
// With typical values a record sets about 350 positions, so about 30% of
// its bits are set: well below the half-full point where a Bloom filter
// stops telling values apart.
//
// # Compatibility
//
// The features, the padding, the weights and the field names (which select
// the keys) are part of the encoding: changing any of them makes filters
// incomparable with those made before, so every agency must re-submit
// after such a change. Filters are only compared within one key epoch.
package clk

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"

	"tfmatch/agency/derive"
	"tfmatch/agency/normalize"
	"tfmatch/keys"
)

// Field names: each selects the field's Bloom key
// ("tfmatch/v1/bloom/<field>/<epoch>"). Frozen.
const (
	FieldName     = "name"
	FieldDOB      = "dob"
	FieldSex      = "sex"
	FieldStreet   = "street"
	FieldTown     = "town"
	FieldPostcode = "postcode"
	FieldOtherID  = "id"
)

const (
	iName = iota
	iDOB
	iSex
	iStreet
	iTown
	iPostcode
	iOtherID
	nFields
)

// weights are the bits set per feature of each field (see the package
// comment).
type weights struct {
	given, family, dob, sex, number, street, town, postcode, otherID int
}

// defaultWeights are the frozen weights of the encoding.
func defaultWeights() weights {
	return weights{given: 16, family: 10, dob: 12, sex: 8, number: 8, street: 3, town: 3, postcode: 4, otherID: 8}
}

// ErrNothingToEncode is returned for a person with neither a given nor a
// family name: a filter of the date of birth and address alone would make
// every member of a household look alike.
var ErrNothingToEncode = errors.New("clk: no name to encode")

// Encoder holds the Bloom keys of every field. It is safe for concurrent
// use; each goroutine encodes through its own Worker.
type Encoder struct {
	keys [nFields]keys.BloomKey
	w    weights
}

// NewEncoder derives the Bloom key of every field from the programme
// secret under c.
func NewEncoder(secret keys.ProgrammeSecret, c keys.Context) (*Encoder, error) {
	return newEncoder(secret, c, defaultWeights())
}

func newEncoder(secret keys.ProgrammeSecret, c keys.Context, w weights) (*Encoder, error) {
	e := Encoder{w: w}
	for i, f := range [nFields]string{FieldName, FieldDOB, FieldSex, FieldStreet, FieldTown, FieldPostcode, FieldOtherID} {
		k, err := secret.BloomKey(f, c)
		if err != nil {
			return nil, fmt.Errorf("clk: %w", err)
		}
		e.keys[i] = k
	}
	return &e, nil
}

// Worker encodes persons on one goroutine, reusing HMAC state and
// buffers. It is not safe for concurrent use.
type Worker struct {
	h   [nFields]*keys.BloomHasher
	w   weights
	buf []byte
}

// NewWorker returns a Worker for e.
func (e *Encoder) NewWorker() *Worker {
	w := Worker{w: e.w}
	for i, k := range e.keys {
		w.h[i] = k.NewBloomHasher()
	}
	return &w
}

// Encode returns the CLK of p. It fails only with ErrNothingToEncode.
func (w *Worker) Encode(p normalize.Person) (keys.Filter, error) {
	var f keys.Filter
	if p.Given == "" && p.Family == "" {
		return f, ErrNothingToEncode
	}
	wt := w.w
	// Both names under one key: a given and a family name recorded the
	// other way round keep all their bits.
	w.bigrams(&f, iName, p.Given, wt.given)
	w.bigrams(&f, iName, p.Family, wt.family)
	if d := p.DOB; !d.IsZero() {
		h := w.h[iDOB]
		lo, hi := d.Day, d.Month
		if hi < lo {
			lo, hi = hi, lo
		}
		w.feature(h, &f, wt.dob, "y", d.Year, 4)
		w.feature(h, &f, wt.dob, "m", d.Month, 2)
		w.feature(h, &f, wt.dob, "d", d.Day, 2)
		w.buf = appendDigits(append(w.buf[:0], "dm"...), lo, 2)
		w.buf = appendDigits(w.buf, hi, 2)
		h.AddBytes(&f, w.buf, wt.dob)
		w.buf = append(append(w.buf[:0], 'f'), d.String()...)
		h.AddBytes(&f, w.buf, wt.dob)
	}
	if p.Sex == "m" || p.Sex == "f" {
		w.buf = append(w.buf[:0], p.Sex...)
		w.h[iSex].AddBytes(&f, w.buf, wt.sex)
	}
	// A shared identifier of another scheme, by bigrams so one mistyped
	// character keeps most of its bits.
	w.bigrams(&f, iOtherID, p.OtherID, wt.otherID)
	a := p.Address
	if !a.NoFixedAbode {
		if a.Number != "" {
			w.buf = append(append(w.buf[:0], 'n'), a.Number...)
			w.h[iStreet].AddBytes(&f, w.buf, wt.number)
		}
		w.bigrams(&f, iStreet, a.Street, wt.street)
		w.bigrams(&f, iTown, a.Town, wt.town)
		w.bigrams(&f, iPostcode, derive.BlockPostcode(a), wt.postcode)
	}
	return f, nil
}

// bigrams adds the bigrams of "_" + s + "_" (by rune) under field i. The
// bigram strings start with "b" so they can never equal a token feature
// of the same field ("n14" and the bigram "n1" differ).
func (w *Worker) bigrams(f *keys.Filter, i int, s string, bits int) {
	if s == "" {
		return
	}
	h := w.h[i]
	prev := '_'
	add := func(r rune) {
		w.buf = append(w.buf[:0], 'b')
		w.buf = utf8.AppendRune(w.buf, prev)
		w.buf = utf8.AppendRune(w.buf, r)
		h.AddBytes(f, w.buf, bits)
		prev = r
	}
	for _, r := range s {
		add(r)
	}
	add('_')
}

// feature adds prefix followed by n as width decimal digits.
func (w *Worker) feature(h *keys.BloomHasher, f *keys.Filter, bits int, prefix string, n, width int) {
	w.buf = appendDigits(append(w.buf[:0], prefix...), n, width)
	h.AddBytes(f, w.buf, bits)
}

// appendDigits appends the width last decimal digits of n (n >= 0).
func appendDigits(dst []byte, n, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		p := 1
		for range i {
			p *= 10
		}
		dst = append(dst, byte('0'+n/p%10))
	}
	return dst
}

// Dice returns the Dice coefficient of two filters, 2|a∧b| / (|a| + |b|),
// and 0 when both are empty.
func Dice(a, b *keys.Filter) float64 {
	var na, nb, nab int
	for i := range a {
		na += bits.OnesCount8(a[i])
		nb += bits.OnesCount8(b[i])
		nab += bits.OnesCount8(a[i] & b[i])
	}
	if na+nb == 0 {
		return 0
	}
	return 2 * float64(nab) / float64(na+nb)
}
