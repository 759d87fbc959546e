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
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
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
//
// A Worker remembers the positions each feature set: the grams of names,
// dates, towns and postcodes repeat from record to record (a name bigram
// has a few hundred possible values), so after the first records almost
// every feature is a lookup rather than an HMAC. The filter is the same
// bit for bit; only the work to compute it changes. The memory is the
// worker's own and holds no more than the worker sees anyway (the grams
// of the records it encodes, and positions computable only with the
// key); it is bounded by maxCached features and maxUnions values, and
// dropped with the worker.
type Worker struct {
	h   [nFields]*keys.BloomHasher
	w   weights
	buf []byte

	// pos holds the positions of every feature remembered, at most limit
	// (maxCached; tests lower it).
	pos   []positions
	limit int
	// bigrams index the features that are a bigram of two ASCII
	// characters (nearly all of them) by the two characters, one table
	// per bigram field and weight: no hashing of a key.
	bigrams [nTables]*bigramTable
	// dates index the date-of-birth features by number, one table per
	// feature (see dYear), made on first use: no hashing of a key.
	dates [nDateTables][]int32
	// cache indexes every other feature by its gram followed by its
	// weight as one byte, one map per field (each field has its own key).
	cache [nFields]map[string]int32
	// values index, per bigram table, the names, streets, towns and
	// postcodes encoded (a district has a few thousand of each, and each
	// repeats from record to record) by the union of their bigrams'
	// positions in unions, at most unionLimit (maxUnions; tests lower
	// it).
	values     [nTables]map[string]int32
	unions     []keys.Filter
	unionLimit int
	// scratch is all zero between calls to hash.
	scratch keys.Filter
}

// positions are the distinct bit positions one feature sets.
type positions struct {
	n uint8
	p [keys.MaxBitsPerGram]uint16
}

// bigramTable maps an ASCII bigram (a<<7 | b) to 1 + the index of its
// positions in Worker.pos, or 0.
type bigramTable [128 * 128]int32

// The bigram tables: one per field and weight. A family-name bigram sets
// the first 10 of the positions the same bigram sets as a given name.
const (
	tGiven = iota
	tFamily
	tStreet
	tTown
	tPostcode
	tOtherID
	nTables
)

// The date tables: a date feature numbered v in table t is remembered at
// Worker.dates[t][v] (1 + the index of its positions, or 0) when v is in
// 0..dateTableSize[t]-1, else in the map of the field. Within a table the
// numbers of different grams differ.
const (
	dYear     = iota // "y" and the year's four digits: the year
	dMonth           // "m" and two digits: the month
	dDay             // "d" and two digits: the day
	dDayMonth        // "dm" and the smaller and larger of day and month: lo*100 + hi
	dFull            // "f" and the date: its place in a calendar of 12 months of 31 days from MinYear
	nDateTables
)

// dateTableSize is the size of each date table.
var dateTableSize = [nDateTables]int{
	dYear:     10000,
	dMonth:    100,
	dDay:      100,
	dDayMonth: 100 * 100,
	dFull:     (normalize.MaxYear - normalize.MinYear + 1) * 12 * 31,
}

// maxCached bounds the features a Worker remembers (each about 40
// bytes, with its index): far more than the distinct grams of a
// district's names and addresses, and its dates of birth. Features beyond
// it are hashed each time.
const maxCached = 1 << 16

// maxUnions bounds the values whose bigrams a Worker remembers together
// (each 128 bytes and its index, 2 MiB in all): more than the distinct
// names, streets, towns and postcodes of a district of 100,000 records.
// Values beyond it are encoded bigram by bigram.
const maxUnions = 1 << 14

// NewWorker returns a Worker for e.
func (e *Encoder) NewWorker() *Worker {
	w := Worker{w: e.w, limit: maxCached, unionLimit: maxUnions}
	for i, k := range e.keys {
		w.h[i] = k.NewBloomHasher()
		w.cache[i] = make(map[string]int32)
	}
	return &w
}

// set sets the positions ps in f.
func set(f *keys.Filter, ps *positions) {
	for _, p := range ps.p[:ps.n] {
		f.Set(int(p))
	}
}

// add sets in f the positions of the gram in w.buf under field i with the
// given weight (bits per gram), from the cache or by hashing it.
func (w *Worker) add(f *keys.Filter, i int, n int) {
	w.buf = append(w.buf, byte(n)) // the cache key: gram and weight
	if j, ok := w.cache[i][string(w.buf)]; ok {
		set(f, &w.pos[j])
		w.buf = w.buf[:len(w.buf)-1]
		return
	}
	key := w.buf
	w.buf = w.buf[:len(w.buf)-1]
	if j := w.hash(f, i, n); j >= 0 {
		w.cache[i][string(key)] = j
	}
}

// hash sets in f the positions of the gram in w.buf under field i with
// weight n by hashing it, and remembers them if there is room. It returns
// their index in w.pos, or -1 if they were not remembered.
func (w *Worker) hash(f *keys.Filter, i int, n int) int32 {
	if len(w.pos) >= w.limit {
		w.h[i].AddBytes(f, w.buf, n)
		return -1
	}
	// Hash into the all-zero scratch filter and collect the bits set,
	// eight bytes at a time: bit k of byte j is position 8j+k, so bit b
	// of the little-endian word of bytes 8w to 8w+7 is position 64w+b.
	w.h[i].AddBytes(&w.scratch, w.buf, n)
	var ps positions
	for j := 0; j < len(w.scratch); j += 8 {
		for b := binary.LittleEndian.Uint64(w.scratch[j:]); b != 0; b &= b - 1 {
			ps.p[ps.n] = uint16(j*8 + bits.TrailingZeros64(b))
			ps.n++
		}
	}
	clear(w.scratch[:])
	set(f, &ps)
	w.pos = append(w.pos, ps)
	return int32(len(w.pos) - 1)
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
	w.addBigrams(&f, iName, tGiven, p.Given, wt.given)
	w.addBigrams(&f, iName, tFamily, p.Family, wt.family)
	if d := p.DOB; !d.IsZero() {
		lo, hi := d.Day, d.Month
		if hi < lo {
			lo, hi = hi, lo
		}
		dm := -1
		if lo >= 0 && hi >= 0 && lo < 100 && hi < 100 {
			dm = lo*100 + hi
		}
		full := -1
		if d.Year >= normalize.MinYear && d.Year <= normalize.MaxYear && d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= 31 {
			full = ((d.Year-normalize.MinYear)*12+d.Month-1)*31 + d.Day - 1
		}
		w.dateFeature(&f, dYear, d.Year, wt.dob, d)
		w.dateFeature(&f, dMonth, d.Month, wt.dob, d)
		w.dateFeature(&f, dDay, d.Day, wt.dob, d)
		w.dateFeature(&f, dDayMonth, dm, wt.dob, d)
		w.dateFeature(&f, dFull, full, wt.dob, d)
	}
	if p.Sex == "m" || p.Sex == "f" {
		w.buf = append(w.buf[:0], p.Sex...)
		w.add(&f, iSex, wt.sex)
	}
	// A shared identifier of another scheme, by bigrams so one mistyped
	// character keeps most of its bits.
	w.addBigrams(&f, iOtherID, tOtherID, p.OtherID, wt.otherID)
	a := p.Address
	if !a.NoFixedAbode {
		if a.Number != "" {
			w.buf = append(append(w.buf[:0], 'n'), a.Number...)
			w.add(&f, iStreet, wt.number)
		}
		w.addBigrams(&f, iStreet, tStreet, a.Street, wt.street)
		w.addBigrams(&f, iTown, tTown, a.Town, wt.town)
		w.addBigrams(&f, iPostcode, tPostcode, derive.BlockPostcode(a), wt.postcode)
	}
	return f, nil
}

// addBigrams adds the bigrams of "_" + s + "_" (by rune) under field i,
// remembered in bigram table t. The bigram strings start with "b" so they
// can never equal a token feature of the same field ("n14" and the bigram
// "n1" differ).
//
// The positions of all of a value's bigrams are remembered together too
// (see Worker.values), except for identifiers, each of which is another
// person's: a value met again costs one lookup and the OR of a filter.
func (w *Worker) addBigrams(f *keys.Filter, i, t int, s string, n int) {
	if s == "" {
		return
	}
	if t == tOtherID {
		w.eachBigram(f, i, t, s, n)
		return
	}
	if j, ok := w.values[t][s]; ok {
		or(f, &w.unions[j])
		return
	}
	if len(w.unions) >= w.unionLimit {
		w.eachBigram(f, i, t, s, n)
		return
	}
	var u keys.Filter
	w.eachBigram(&u, i, t, s, n)
	or(f, &u)
	if w.values[t] == nil {
		w.values[t] = make(map[string]int32)
	}
	w.unions = append(w.unions, u)
	w.values[t][strings.Clone(s)] = int32(len(w.unions) - 1)
}

// eachBigram adds the bigrams of "_" + s + "_" one by one.
func (w *Worker) eachBigram(f *keys.Filter, i, t int, s string, n int) {
	prev := '_'
	for _, r := range s {
		w.bigram(f, i, t, prev, r, n)
		prev = r
	}
	w.bigram(f, i, t, prev, '_', n)
}

// or sets in f the bits set in u, eight bytes at a time.
func or(f, u *keys.Filter) {
	for j := 0; j < len(f); j += 8 {
		binary.LittleEndian.PutUint64(f[j:], binary.LittleEndian.Uint64(f[j:])|binary.LittleEndian.Uint64(u[j:]))
	}
}

// bigram adds the bigram "b" + a + b under field i.
func (w *Worker) bigram(f *keys.Filter, i, t int, a, b rune, n int) {
	if a >= utf8.RuneSelf || b >= utf8.RuneSelf {
		w.gram(a, b)
		w.add(f, i, n)
		return
	}
	tab := w.bigrams[t]
	if tab == nil {
		tab = new(bigramTable)
		w.bigrams[t] = tab
	}
	k := a<<7 | b
	if j := tab[k]; j > 0 {
		set(f, &w.pos[j-1])
		return
	}
	w.gram(a, b)
	if j := w.hash(f, i, n); j >= 0 {
		tab[k] = j + 1
	}
}

// gram writes the bigram "b" + a + b into w.buf.
func (w *Worker) gram(a, b rune) {
	w.buf = append(w.buf[:0], 'b')
	w.buf = utf8.AppendRune(w.buf, a)
	w.buf = utf8.AppendRune(w.buf, b)
}

// dateFeature adds date d's feature of date table t, numbered v there,
// with weight n: through the table when v is in its range, through the
// field's map otherwise. The feature's text is written only when the
// table does not have it.
func (w *Worker) dateFeature(f *keys.Filter, t, v, n int, d normalize.Date) {
	if v < 0 || v >= dateTableSize[t] {
		w.buf = appendDateGram(w.buf[:0], t, d)
		w.add(f, iDOB, n)
		return
	}
	tab := w.dates[t]
	if tab == nil {
		tab = make([]int32, dateTableSize[t])
		w.dates[t] = tab
	}
	if j := tab[v]; j > 0 {
		set(f, &w.pos[j-1])
		return
	}
	w.buf = appendDateGram(w.buf[:0], t, d)
	if j := w.hash(f, iDOB, n); j >= 0 {
		tab[v] = j + 1
	}
}

// appendDateGram appends the text of date d's feature of table t.
func appendDateGram(dst []byte, t int, d normalize.Date) []byte {
	switch t {
	case dYear:
		return appendDigits(append(dst, 'y'), d.Year, 4)
	case dMonth:
		return appendDigits(append(dst, 'm'), d.Month, 2)
	case dDay:
		return appendDigits(append(dst, 'd'), d.Day, 2)
	case dDayMonth:
		lo, hi := min(d.Day, d.Month), max(d.Day, d.Month)
		return appendDigits(appendDigits(append(dst, "dm"...), lo, 2), hi, 2)
	}
	return d.AppendTo(append(dst, 'f'))
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
