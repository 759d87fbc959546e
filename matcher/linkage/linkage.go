// Package linkage links the matcher's pseudonymous records into persons
// and persons into households. It is pure and in-memory: given the same
// records in any order it returns the same clusters.
//
// # Persons
//
// Records are joined by union-find over shared tokens of the Identifier
// and Person classes, one kind at a time, strongest kind first
// (matchkey.Info.Strength). Every union is checked against three guards,
// and a union a guard refuses is simply not made (it is counted in
// Result.Blocked, once per refused component):
//
//   - identifier: two clusters that both hold a token of some identifier
//     kind (NINO, NHS, UPN) but share no value of that kind are different
//     people. Because identifiers are applied first, every later, weaker
//     key is checked against the identifiers the clusters already hold.
//   - size: a cluster never exceeds Config.MaxPersonRecords records, and
//     a token carried by more records than that is not used at all and is
//     reported for review (a placeholder date of birth, a shared
//     identifier typed in by default).
//   - same source: an agency that holds two records with different refs
//     has, as far as it knows, two people. Two clusters that both hold a
//     record of the same source merge only on an identifier or on one of
//     Config.SameSourceKinds (by default the strongest person kind, full
//     name + date of birth). Within-agency duplicates do exist, but
//     look-alikes (twins sharing an initial, a surname and a date of
//     birth; namesakes at one postcode) are more common than duplicates
//     that differ in their full name, so the weaker keys may only join
//     records across agencies.
//
// After the exact kinds, the similarity tier (similarity.go) compares the
// Bloom-filter encodings of records that share a block token but are still
// different persons, and links pairs whose Dice coefficient reaches
// Config.SimilarityThreshold through the same guards, plus a birth-date
// guard; its links have kind matchkey.Similarity.
//
// Disagreement on a person kind is not a contradiction: weaker keys exist
// precisely to join records whose stronger keys differ (a typing error in
// the date of birth, a day/month swap, a misspelt name).
//
// # Households
//
// Each kind's unions, at both levels, are applied as one step: the unions
// a kind proposes form connected components over the current clusters,
// and a component is merged whole if the guards accept the cluster it
// would make, or not at all. Within a kind nothing depends on the order in
// which unions are tried, and so on token values: the same records under
// other keys link the same way.
//
// Persons are joined into households by Address-class tokens (UPRN,
// address line) and by Group-class tokens (an agency's own household
// grouping), group tokens compared only within their source. An agency's
// household reference (matchkey.HouseholdGroup) also counts against: a
// household never holds two different household references of one agency
// (the household_ref guard), so a stale address or a missing flat number
// cannot weld two families together. Unit groupings (matchkey.UnitGroup,
// a benefit unit) only count for. A token held
// by more than Config.MaxHouseholdPersons persons (a hostel, a care home,
// an office address used as a placeholder) is not used and is reported.
//
// A person who has moved can carry two addresses: one agency still has the
// old one. Joining on every address would weld the person's new household
// to whoever lives at the old address now, so each person links through
// one home only. The person's records are grouped into dwellings (records
// whose address tokens overlap); the home is the dwelling reported by the
// most distinct sources. On a tie the home is the dwelling where persons
// sharing an agency household or unit grouping with this person live; a
// person still tied has no home and joins a household only through an
// agency grouping. An agency grouping also outweighs an address that
// only one source gives: a person so recorded whose group-mates all live
// elsewhere keeps no home (the group_address guard; the grouping still
// joins it to its household). The other addresses are ignored.
//
// An address without a flat, in a building (postcode and number) where
// other records name flats, is most often a flat whose number was left
// off: it joins nobody, unless exactly one flat of the building has a
// resident of the same family name (a shared family name + postcode
// block token), in which case it stands for that flat. A merged household never exceeds
// Config.MaxHouseholdPersons persons either.
package linkage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// Config tunes linkage. The zero value means defaults.
type Config struct {
	// MaxPersonRecords caps the records in one person cluster; a
	// person-level token carried by more records is skipped and
	// reported. Zero means 12.
	MaxPersonRecords int
	// MaxHouseholdPersons caps the persons in one household; an address
	// or group token held by more persons is skipped and reported. Zero
	// means 12.
	MaxHouseholdPersons int
	// SameSourceKinds are the person kinds that may join two clusters
	// which both hold records of one source (identifiers always may).
	// Nil means the strongest person kind only; an empty non-nil slice
	// means identifiers only.
	SameSourceKinds []matchkey.Kind

	// SimilarityThreshold is the Dice coefficient at or above which the
	// similarity tier links two records' Bloom filters. Zero means the
	// tier chooses it from the data, between MinAutoThreshold and
	// DefaultSimilarityThreshold (see linkSimilar); Result.Threshold
	// reports the value used.
	SimilarityThreshold float64
	// DisableSimilarity turns the similarity tier off: linkage is then
	// exact only.
	DisableSimilarity bool
	// MaxBlockRecords caps the records of one block whose filters are
	// compared pairwise; a larger block is skipped and counted in
	// Result.SkippedBlocks. Zero means DefaultMaxBlockRecords.
	MaxBlockRecords int
}

// Defaults.
const (
	DefaultMaxPersonRecords    = 12
	DefaultMaxHouseholdPersons = 12
	// DefaultSimilarityThreshold is the Dice threshold used with CLKs in
	// the literature and by anonlink/clkhash (Schnell et al. 2009;
	// FEBRL results at 0.8); see docs/linkage.md for the measured
	// sensitivity.
	DefaultSimilarityThreshold = 0.8
	// MinAutoThreshold is the lowest Dice threshold the tier chooses on
	// its own, however clean the data look.
	MinAutoThreshold = 0.7
	// AutoFalseShare is the estimated share of false links among the
	// similarity tier's candidates that a chosen threshold may allow.
	AutoFalseShare         = 0.01
	DefaultMaxBlockRecords = 64
)

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.MaxPersonRecords < 0 || c.MaxHouseholdPersons < 0 || c.MaxBlockRecords < 0 {
		return errors.New("linkage: negative cap")
	}
	if c.SimilarityThreshold < 0 || c.SimilarityThreshold > 1 {
		return errors.New("linkage: similarity threshold outside [0, 1]")
	}
	for _, k := range c.SameSourceKinds {
		in, ok := matchkey.Lookup(k)
		if !ok {
			return fmt.Errorf("linkage: same-source kind %q: unknown kind", k)
		}
		if in.Class != matchkey.Person && in.Class != matchkey.Identifier {
			return fmt.Errorf("linkage: same-source kind %q: not a person or identifier kind", k)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxPersonRecords == 0 {
		c.MaxPersonRecords = DefaultMaxPersonRecords
	}
	if c.MaxHouseholdPersons == 0 {
		c.MaxHouseholdPersons = DefaultMaxHouseholdPersons
	}
	if c.MaxBlockRecords == 0 {
		c.MaxBlockRecords = DefaultMaxBlockRecords
	}
	return c
}

// Union says that a union was made because records (or persons) A and B
// share a token of Kind.
type Union struct {
	A, B int
	Kind matchkey.Kind
}

// ReviewItem is a token that too many records or persons share, left out
// of linking. Prefix is the blinded token's first 12 bytes, what the
// linker keeps of a token (see entry): enough to find the records again.
type ReviewItem struct {
	Kind    matchkey.Kind
	Source  string // group kinds only
	Prefix  [12]byte
	Records int // records carrying the token
	Persons int // distinct persons carrying the token
}

// Guard names, the keys of Result.Blocked.
const (
	GuardIdentifier    = "identifier"
	GuardPersonSize    = "person_size"
	GuardSameSource    = "same_source"
	GuardHouseholdSize = "household_size"
	GuardHouseholdRef  = "household_ref"
	GuardHouseInFlats  = "house_in_building_with_flats"
	// GuardGroupAddress counts persons whose only-one-source address
	// was not used because their household or unit group lives
	// elsewhere.
	GuardGroupAddress = "group_address"
	// GuardBirthDate refuses a similarity link between two records with
	// dates of birth that share no block carrying one.
	GuardBirthDate = "birth_date"
)

// Result is the outcome of Link. Record indices refer to the input slice.
type Result struct {
	// PersonOf[i] is the person id of input record i, dense in
	// 0..Persons-1, numbered in order of each person's first record by
	// (source, ref).
	PersonOf []int
	// HouseholdOf[p] is the household id of person p, dense in
	// 0..Households-1, numbered in order of each household's first person.
	HouseholdOf []int
	Persons     int
	Households  int
	// Links lists the person-level unions (A, B input record indices).
	Links []Union
	// HouseholdLinks lists the household-level unions (A, B person ids).
	HouseholdLinks []Union
	// Review lists skipped tokens, strongest kind first.
	Review []ReviewItem
	// LinksByKind counts unions per kind, person and household level.
	LinksByKind map[matchkey.Kind]int
	// Blocked counts unions refused per guard.
	Blocked map[string]int
	// Compared counts the filter pairs the similarity tier compared and
	// Candidates those at or above the threshold (before guards).
	Compared, Candidates int
	// FlatsByKin counts records with an address but no flat, in a
	// building where other records name flats, placed at the one flat
	// where someone of their family name lives.
	FlatsByKin int
	// Threshold is the Dice threshold the similarity tier used: the
	// configured one, or the one it chose from the data.
	Threshold float64
	// SkippedBlocks counts, per kind, the blocks with more than
	// Config.MaxBlockRecords records whose filters were not compared.
	SkippedBlocks map[matchkey.Kind]int
}

// Link links recs into persons and households. It fails on a repeated
// (source, ref), an empty source or an unknown token kind.
func Link(recs []store.Record, cfg Config) (*Result, error) {
	b := NewBuilder()
	for i := range recs {
		r := &recs[i]
		if _, err := b.Add(r.Source, r.Ref, r.Filter); err != nil {
			return nil, err
		}
		for j := range r.Tokens {
			if err := b.AddToken(r.Tokens[j].Kind, &r.Tokens[j].Value); err != nil {
				return nil, err
			}
		}
	}
	return b.Link(cfg)
}

// kindSlot is one kind in strength order.
type kindSlot struct {
	info    matchkey.Info
	entries []entry
	// raw is the Builder's list, numbered by input index, until
	// sortKinds renumbers it into entries.
	raw *chunked[entry]
	// blocks replaces entries (then nil) for a person or block kind once
	// only the similarity tier still needs the kind.
	blocks blocks
}

// entry is one token occurrence: the token's first 96 bits, as a word and
// a half-word for fast comparison, and the record (in canonical order once
// sortKinds has run). A group kind's tokens are compared only within
// their source, which is the record's (linker.src), so an entry need not
// hold it.
//
// Tokens are HMAC-SHA256 outputs, so two distinct tokens of one kind agree
// on their first 96 bits with probability 2^-96 per pair: about
// n^2/2^97 for a kind of n tokens, 1.6 * 10^-16 at n = 5 * 10^6, and below
// 10^-14 for all 29 kinds together. Keeping 96 bits makes an entry 16
// bytes, which at 5 million records (117 million tokens) is 1.9 GB, the
// largest part of the link run's memory; 128 bits and the record would
// take 24 (2.8 GB).
type entry struct {
	hi  uint64 // token bytes 0-7, big-endian
	lo  uint32 // token bytes 8-11, big-endian
	rec int32
}

// cmpEntry orders entries by token, then record.
func cmpEntry(a, b entry) int {
	switch {
	case a.hi != b.hi:
		if a.hi < b.hi {
			return -1
		}
		return 1
	case a.lo != b.lo:
		if a.lo < b.lo {
			return -1
		}
		return 1
	}
	return cmpInt(a.rec, b.rec)
}

// cmpEntryBySource orders a group kind's entries by the source of their
// record (src maps a record to its source), then as cmpEntry does.
func cmpEntryBySource(src []int32) func(a, b entry) int {
	return func(a, b entry) int {
		if sa, sb := src[a.rec], src[b.rec]; sa != sb {
			return cmpInt(sa, sb)
		}
		return cmpEntry(a, b)
	}
}

func cmpInt(a, b int32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameToken reports whether a and b hold the same token; with src (group
// kinds) also whether their records are of the same source.
func sameToken(a, b entry, src []int32) bool {
	return a.hi == b.hi && a.lo == b.lo && (src == nil || src[a.rec] == src[b.rec])
}

// prefix returns the first 16 bytes of the entry's token as far as the
// entry holds it: the first 12, then zeros.
func (e entry) prefix() [12]byte {
	var v [12]byte
	binary.BigEndian.PutUint64(v[:8], e.hi)
	binary.BigEndian.PutUint32(v[8:12], e.lo)
	return v
}

// forEachGroup sorts es and calls fn with each run of entries sharing a
// token, records deduplicated. src, for a group kind, maps each record to
// its source: tokens are then shared only within a source. It returns es
// sorted and deduplicated (the elements past its end are cleared), so a
// caller that keeps the entries must keep the result.
func forEachGroup(es []entry, src []int32, fn func(g []entry)) []entry {
	es = sortEntries(es, src)
	es = slices.CompactFunc(es, func(a, b entry) bool { return a == b })
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && sameToken(es[i], es[j], src) {
			j++
		}
		fn(es[i:j])
		i = j
	}
	return es
}

// groupSources returns what forEachGroup needs to know of sources for
// the kind of class c: the source of each record for a group kind, nil
// for any other.
func (l *linker) groupSources(c matchkey.Class) []int32 {
	if c == matchkey.Group {
		return l.src
	}
	return nil
}

// Builder collects the records Link links, one at a time, straight into
// the compact form the linker works on: each token as a fixed-size entry
// in its kind's list, each filter as words. A caller that reads records
// from a store (the link run) need never hold them decoded. Link(recs)
// is a Builder fed from recs, so both give the same result.
type Builder struct {
	infos   []matchkey.Info
	entries []chunked[entry] // per kind: rec is the input index
	srcID   map[string]int32
	sources []string          // input source id -> name
	src     chunked[int32]    // input index -> input source id
	refs    chunked[[16]byte] // input index -> ref
	filters chunked[filter]   // input index -> filter
	dob     chunked[bool]     // input index -> carries a token of a BirthDate kind
	srcFlat []int32           // after Link: src as one slice
	order   []int32           // after Link: canonical index -> input index
	err     error
	linked  bool
	// onPhase, if set, is called as each of the linker's phases ends,
	// with its name (for the benchmarks' heap figures).
	onPhase func(name string)
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	infos := matchkey.All() // strongest first, each at its matchkey.Index
	return &Builder{infos: infos, entries: make([]chunked[entry], len(infos)), srcID: map[string]int32{}}
}

// Len returns the number of records added.
func (b *Builder) Len() int { return b.refs.n }

// Source returns the source of record i (its index from Add).
func (b *Builder) Source(i int) string { return b.sources[b.SourceIndex(i)] }

// SourceIndex returns the index of record i's source among the sources
// of the records added, numbered in order of each source's first record,
// below NumSources; SourceName gives its name.
func (b *Builder) SourceIndex(i int) int {
	if b.srcFlat != nil {
		return int(b.srcFlat[i])
	}
	return int(*b.src.at(i))
}

// NumSources returns the number of distinct sources of the records added.
func (b *Builder) NumSources() int { return len(b.sources) }

// SourceName returns the name of the source of index s (see SourceIndex).
func (b *Builder) SourceName(s int) string { return b.sources[s] }

// Ref returns the ref of record i.
func (b *Builder) Ref(i int) [16]byte { return *b.refs.at(i) }

// Order returns the input indices of the records in (source, ref) order,
// the order in which Link numbers persons; nil before Link.
func (b *Builder) Order() []int32 { return b.order }

// Add adds a record with no tokens yet and returns its index; AddToken
// adds its tokens. filter is store.FilterLen bytes or empty.
func (b *Builder) Add(source string, ref [16]byte, filter []byte) (int, error) {
	id, ok := b.srcID[source]
	if !ok && source != "" {
		id = int32(len(b.sources))
		b.sources = append(b.sources, source)
		b.srcID[source] = id
	}
	return b.add(source == "", id, ref, filter)
}

// AddBytes is Add with the source as bytes (not retained).
func (b *Builder) AddBytes(source []byte, ref [16]byte, filter []byte) (int, error) {
	id, ok := b.srcID[string(source)]
	if !ok && len(source) != 0 {
		id = int32(len(b.sources))
		b.sources = append(b.sources, string(source))
		b.srcID[string(source)] = id
	}
	return b.add(len(source) == 0, id, ref, filter)
}

func (b *Builder) add(empty bool, id int32, ref [16]byte, f []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	i := b.src.n
	switch {
	case b.linked:
		b.err = errors.New("linkage: record added after Link")
	case i >= 1<<31-1:
		b.err = errors.New("linkage: too many records")
	case empty:
		b.err = fmt.Errorf("linkage: record %d: empty source", i)
	case len(f) != 0 && len(f) != store.FilterLen:
		b.err = fmt.Errorf("linkage: record %d: filter of %d bytes, want %d", i, len(f), store.FilterLen)
	}
	if b.err != nil {
		return 0, b.err
	}
	b.src.append(id)
	b.refs.append(ref)
	var fl filter
	if len(f) != 0 {
		fl = newFilter(f)
	}
	b.filters.append(fl)
	b.dob.append(false)
	return i, nil
}

// AddToken adds a token to the record added last.
func (b *Builder) AddToken(kind matchkey.Kind, value *[store.TokenLen]byte) error {
	if b.err != nil {
		return b.err
	}
	i := b.src.n - 1
	if i < 0 {
		b.err = errors.New("linkage: token added before any record")
		return b.err
	}
	k, ok := matchkey.Index(kind)
	if !ok {
		b.err = fmt.Errorf("linkage: record %d: unknown token kind %q", i, kind)
		return b.err
	}
	b.entries[k].append(entry{hi: binary.BigEndian.Uint64(value[:8]), lo: binary.BigEndian.Uint32(value[8:12]), rec: int32(i)})
	if b.infos[k].BirthDate {
		*b.dob.at(i) = true
	}
	return nil
}

// Link links the records added into persons and households, as the
// package function Link does; record indices in the result are those Add
// returned. A Builder links once: its token lists are handed to the
// linker and freed as it goes.
func (b *Builder) Link(cfg Config) (*Result, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.linked {
		return nil, errors.New("linkage: Builder linked twice")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b.linked = true
	l, err := b.linker(cfg.withDefaults())
	if err != nil {
		return nil, err
	}
	l.onPhase = b.onPhase
	l.phase("canonical")
	l.sortKinds()
	l.phase("sort")
	l.linkPersons()
	l.linkHouseholds()
	l.phase("households")
	res := l.result()
	l.phase("result")
	return res, nil
}

// A list of fewer than 1<<bucketBits entries is sorted by comparison;
// a longer one by bucketSort.
const bucketBits = 16

// topBits is how many top bits of a token choose its bucket in
// bucketSort's first pass.
const topBits = 8

// insertionMax is the longest bucket bucketSort sorts by insertion.
const insertionMax = 16

// sortEntries sorts es by cmpEntry, or with src (a group kind's list) by
// cmpEntryBySource(src), and returns the result, which may be a new
// slice. A large list of any other kind is sorted by bucketSort.
func sortEntries(es []entry, src []int32) []entry {
	cmp := cmpEntry
	if src != nil {
		cmp = cmpEntryBySource(src)
	}
	// A kind's list is grouped more than once (identifiers, blocks), and
	// is sorted from the first time on.
	if slices.IsSortedFunc(es, cmp) {
		return es
	}
	if src != nil || len(es) < 1<<bucketBits {
		slices.SortFunc(es, cmp)
		return es
	}
	c := chunked[entry]{chunks: [][]entry{es}, n: len(es)}
	return bucketSort(&c, nil)
}

// bucketSort returns the entries of c sorted by cmpEntry, and empties c.
// With renumber, each entry's rec becomes renumber[rec] on the way. It
// spreads the entries by the top bits of their tokens, which order them
// as cmpEntry does, in two passes: from c's chunks into 256 buckets by
// the top 8 bits (256 places written at a time, which the processor's
// caches follow; spreading into tens of thousands at once missed the
// cache on nearly every entry), then each bucket, copied to a scratch
// buffer that stays in the cache, back into its place by as many of the
// next bits as make about four entries a sub-bucket. Token values are
// uniform, so sub-buckets are short and sorted by insertion (a token
// that many records share makes a longer one, sorted by comparison).
// Each chunk of c is let go as soon as it has been spread.
func bucketSort(c *chunked[entry], renumber []int32) []entry {
	// pos[b] counts bucket b's entries, then is where its next goes.
	var pos [1 << topBits]int
	for _, ch := range c.chunks {
		for i := range ch {
			pos[ch[i].hi>>(64-topBits)]++
		}
	}
	var start [1<<topBits + 1]int
	for b := range pos {
		start[b+1] = start[b] + pos[b]
		pos[b] = start[b]
	}
	out := make([]entry, c.n)
	for ci, ch := range c.chunks {
		for _, e := range ch {
			if renumber != nil {
				e.rec = renumber[e.rec]
			}
			b := e.hi >> (64 - topBits)
			out[pos[b]] = e
			pos[b]++
		}
		c.chunks[ci] = nil
	}
	c.chunks, c.n = nil, 0

	longest := 0
	for b := range 1 << topBits {
		longest = max(longest, start[b+1]-start[b])
	}
	subBits := min(max(bits.Len(uint(longest))-2, 1), 16)
	shift, mask := 64-topBits-subBits, uint64(1)<<subBits-1
	sub := make([]int, 1<<subBits) // as pos, per sub-bucket
	scratch := make([]entry, longest)
	for b := range 1 << topBits {
		bucket := out[start[b]:start[b+1]]
		if len(bucket) <= insertionMax {
			insertionSort(bucket)
			continue
		}
		tmp := scratch[:len(bucket)]
		copy(tmp, bucket)
		clear(sub)
		for i := range tmp {
			sub[tmp[i].hi>>shift&mask]++
		}
		sum := 0
		for s, n := range sub {
			sub[s] = sum
			sum += n
		}
		for _, e := range tmp {
			s := e.hi >> shift & mask
			bucket[sub[s]] = e
			sub[s]++
		}
		from := 0
		for _, end := range sub {
			switch sb := bucket[from:end]; {
			case len(sb) <= 1:
			case len(sb) <= insertionMax:
				insertionSort(sb)
			default:
				slices.SortFunc(sb, cmpEntry)
			}
			from = end
		}
	}
	return out
}

// insertionSort sorts a few entries by cmpEntry.
func insertionSort(es []entry) {
	for i := 1; i < len(es); i++ {
		e := es[i]
		j := i
		for ; j > 0 && lessEntry(e, es[j-1]); j-- {
			es[j] = es[j-1]
		}
		es[j] = e
	}
}

// lessEntry reports whether a sorts before b by cmpEntry.
func lessEntry(a, b entry) bool {
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	if a.lo != b.lo {
		return a.lo < b.lo
	}
	return a.rec < b.rec
}

// sortKinds puts every kind's token list into canonical numbering (from
// the Builder's) and sorts it before linking starts, the longest first,
// on as many goroutines as Go may run at once. Each list is handled
// alone and forEachGroup finds it sorted, so the result does not depend
// on how many run; on two cores this work, a third of a large link run,
// takes about half as long.
func (l *linker) sortKinds() {
	order := make([]int, len(l.kinds))
	for k := range order {
		order[k] = k
	}
	size := func(k int) int {
		if l.kinds[k].raw != nil {
			return l.kinds[k].raw.n
		}
		return len(l.kinds[k].entries)
	}
	slices.SortStableFunc(order, func(a, b int) int { return size(b) - size(a) })
	l.parallel(order, func(k int) {
		ks := &l.kinds[k]
		src := l.groupSources(ks.info.Class)
		switch {
		case ks.raw != nil && src == nil && ks.raw.n >= 1<<bucketBits:
			// Renumbered while spread into buckets, with no flat copy
			// of the Builder's chunks first.
			ks.entries = bucketSort(ks.raw, l.canon)
			ks.raw = nil
		case ks.raw != nil && ks.raw.n >= 1<<bucketBits:
			// A group kind: by token, then by source.
			ks.entries = l.partitionBySource(bucketSort(ks.raw, l.canon))
			ks.raw = nil
		case ks.raw != nil:
			ks.entries = ks.raw.flatten()
			ks.raw = nil
			for j := range ks.entries {
				e := &ks.entries[j]
				e.rec = l.canon[e.rec]
			}
			ks.entries = sortEntries(ks.entries, src)
		default:
			ks.entries = sortEntries(ks.entries, src)
		}
		if ks.info.Class == matchkey.Block && !buildingKind(ks.info.Kind) {
			// Only the similarity tier reads a block kind (but the two
			// findBuildings reads).
			l.compact(ks)
		}
	})
	l.canon = nil
}

// partitionBySource returns a group kind's entries, sorted by cmpEntry,
// in the order of cmpEntryBySource: by source, each source's in the order
// they come. A group kind's tokens mostly come from one source (an
// agency's own household or benefit-unit references); es is then
// returned as it is.
func (l *linker) partitionBySource(es []entry) []entry {
	count := make([]int, len(l.sources)+1)
	for _, e := range es {
		count[l.src[e.rec]+1]++
	}
	if slices.Contains(count, len(es)) {
		return es
	}
	for s := 1; s < len(count); s++ {
		count[s] += count[s-1]
	}
	out := make([]entry, len(es))
	for _, e := range es {
		s := l.src[e.rec]
		out[count[s]] = e
		count[s]++
	}
	return out
}

// compact replaces ks's entries by its blocks.
func (l *linker) compact(ks *kindSlot) {
	ks.entries = forEachGroup(ks.entries, nil, func(g []entry) { ks.blocks.add(g, l.cfg.MaxBlockRecords) })
	ks.entries = nil
}

// parallel calls fn with every element of items, on as many goroutines as
// Go may run at once, and returns when all calls have.
func (l *linker) parallel(items []int, fn func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

// parallelRanges cuts 0..n-1 into ranges of size (the last may be
// shorter) and calls fn with each range's index and bounds, on as many
// goroutines as Go may run at once; it returns when all calls have.
func (l *linker) parallelRanges(n, size int, fn func(i, from, to int)) {
	items := make([]int, (n+size-1)/size)
	for i := range items {
		items[i] = i
	}
	l.parallel(items, func(i int) { fn(i, i*size, min(n, (i+1)*size)) })
}

// chunked is an append-only list kept in fixed-size chunks, so that
// growing it never copies what it holds (a slice grown by append holds
// its old and new arrays at once, and leaves the old to the collector).
type chunked[T any] struct {
	chunks [][]T
	n      int
}

const chunkLen = 1 << 14

func (c *chunked[T]) append(v T) {
	if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == chunkLen {
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, v)
	c.n++
}

func (c *chunked[T]) at(i int) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// flatten returns the list as one slice and empties c, letting each chunk
// go as soon as it is copied.
func (c *chunked[T]) flatten() []T {
	out := make([]T, 0, c.n)
	for i := range c.chunks {
		out = append(out, c.chunks[i]...)
		c.chunks[i] = nil
	}
	c.chunks, c.n = nil, 0
	return out
}

type linker struct {
	cfg     Config
	orig    []int32 // canonical index -> input index
	canon   []int32 // until sortKinds: input index -> canonical index
	src     []int32 // canonical index -> source id
	sources []string
	kinds   []kindSlot

	sameSource map[matchkey.Kind]bool

	// person union-find over canonical record indices
	parent []int32
	size   []int32
	// What a cluster holds, at its root: for a record not yet joined to
	// another, its own identifier values (recIDs[idStart[r]:idStart[r+1]])
	// and source (src[r]); once joined, sets[set[r]]. set[r] is -1
	// until then, so that the millions of records alone need no
	// allocation of their own.
	idStart []int32
	recIDs  []idval
	set     []int32
	sets    []clusterSet
	// personGuard's buffers
	guardIDs  []idval
	guardSrcs []int32

	person []int32 // canonical index -> person id
	npers  int

	pendingReview [][]entry // skipped person-level posting lists

	filters chunked[filter] // canonical index -> filter (similarity tier)
	pops    []int32         // canonical index -> popcount of its filter, 0 if none
	hasDOB  []bool          // canonical index -> carries a token of a BirthDate kind

	hparent []int32 // household union-find over persons
	hsize   []int32
	hrefs   [][]hhRef // per household root: the agency household references it holds

	building []int32 // canonical index -> building (postcode + number), -1 if none
	kin      lists   // canonical index -> family name + postcode blocks shared with another record

	res *Result

	onPhase func(name string) // see Builder.onPhase
}

// phase reports the end of a phase to onPhase, if set.
func (l *linker) phase(name string) {
	if l.onPhase != nil {
		l.onPhase(name)
	}
}

type idval struct{ kind, val int32 }

// clusterSet is what a cluster of more than one record holds: its
// identifier values and its sources, each sorted.
type clusterSet struct {
	ids  []idval
	srcs []int32
}

// idsOf returns the identifier values that root r's cluster holds.
func (l *linker) idsOf(r int32) []idval {
	if s := l.set[r]; s >= 0 {
		return l.sets[s].ids
	}
	return l.recIDs[l.idStart[r]:l.idStart[r+1]]
}

// srcsOf returns the sources that root r's cluster holds.
func (l *linker) srcsOf(r int32) []int32 {
	if s := l.set[r]; s >= 0 {
		return l.sets[s].srcs
	}
	return l.src[r : r+1]
}

// linker puts the builder's records in canonical order, (source, ref),
// and hands its token lists and filters over to a new linker.
func (b *Builder) linker(cfg Config) (*linker, error) {
	n := b.src.n
	src := b.src.flatten()
	b.srcFlat = src
	l := &linker{cfg: cfg, res: &Result{LinksByKind: map[matchkey.Kind]int{}, Blocked: map[string]int{}, SkippedBlocks: map[matchkey.Kind]int{}}}
	// Sources are numbered by name: rank[input id] is the canonical id.
	byName := make([]int32, len(b.sources))
	for i := range byName {
		byName[i] = int32(i)
	}
	slices.SortFunc(byName, func(x, y int32) int { return strings.Compare(b.sources[x], b.sources[y]) })
	rank := make([]int32, len(b.sources))
	l.sources = make([]string, len(b.sources))
	for r, id := range byName {
		rank[id] = int32(r)
		l.sources[r] = b.sources[id]
	}
	// Records by source (a counting sort, keeping the input order), then
	// each source's by ref. A store yields each source's records in ref
	// order already, so the second step is usually only a check.
	l.orig = make([]int32, n)
	start := make([]int, len(b.sources)+1)
	for _, id := range src {
		start[rank[id]+1]++
	}
	for r := 1; r < len(start); r++ {
		start[r] += start[r-1]
	}
	next := slices.Clone(start)
	for i, id := range src {
		l.orig[next[rank[id]]] = int32(i)
		next[rank[id]]++
	}
	byRef := func(x, y int32) int { return bytes.Compare(b.refs.at(int(x))[:], b.refs.at(int(y))[:]) }
	for r := range b.sources {
		if run := l.orig[start[r]:start[r+1]]; !slices.IsSortedFunc(run, byRef) {
			slices.SortFunc(run, byRef)
		}
	}
	canon := make([]int32, n) // input index -> canonical index
	l.src = make([]int32, n)
	for c, i := range l.orig {
		canon[i] = int32(c)
		l.src[c] = rank[src[i]]
		if c > 0 {
			p := l.orig[c-1]
			if src[p] == src[i] && *b.refs.at(int(p)) == *b.refs.at(int(i)) {
				return nil, fmt.Errorf("linkage: records %d and %d: same source and ref", p, i)
			}
		}
	}
	b.order = l.orig // never changed after this
	// Each kind's list is put into canonical numbering by sortKinds, on
	// as many goroutines as may run.
	for k, in := range b.infos {
		l.kinds = append(l.kinds, kindSlot{info: in, raw: &b.entries[k]})
	}
	l.canon = canon
	l.hasDOB = make([]bool, n)
	for c, i := range l.orig {
		l.hasDOB[c] = *b.dob.at(int(i))
	}
	b.dob = chunked[bool]{}
	// The filters into canonical order, in place, in their chunks (a
	// flat copy would hold them twice for a while: a collection under way
	// keeps what was reachable when it started): follow each cycle of
	// the permutation.
	l.filters, b.filters = b.filters, chunked[filter]{}
	visited := make([]bool, n)
	for c := range n {
		if visited[c] {
			continue
		}
		tmp := *l.filters.at(c)
		j := int32(c)
		for {
			visited[j] = true
			k := l.orig[j]
			if int(k) == c {
				*l.filters.at(int(j)) = tmp
				break
			}
			*l.filters.at(int(j)) = *l.filters.at(int(k))
			j = k
		}
	}
	l.pops = make([]int32, n)
	for c := range l.pops {
		l.pops[c] = l.filters.at(c).popcount()
	}

	l.sameSource = map[matchkey.Kind]bool{}
	if cfg.SameSourceKinds == nil {
		for _, in := range b.infos {
			if in.Class == matchkey.Person {
				l.sameSource[in.Kind] = true
				break
			}
		}
	}
	for _, k := range cfg.SameSourceKinds {
		l.sameSource[k] = true
	}
	return l, nil
}

func (l *linker) sourceName(e entry, class matchkey.Class) string {
	if class == matchkey.Group {
		return l.sources[l.src[e.rec]]
	}
	return ""
}

// ---- persons ----

func (l *linker) find(x int32) int32 {
	for l.parent[x] != x {
		l.parent[x] = l.parent[l.parent[x]]
		x = l.parent[x]
	}
	return x
}

func (l *linker) linkPersons() {
	n := len(l.orig)
	l.parent = make([]int32, n)
	l.size = make([]int32, n)
	l.set = make([]int32, n)
	for i := range l.parent {
		l.parent[i] = int32(i)
		l.size[i] = 1
		l.set[i] = -1
	}
	l.recordIDs()
	// Buildings and families need no union: findBuildings reads its two
	// kinds meanwhile, on a goroutine of its own.
	buildings := make(chan struct{})
	go func() {
		defer close(buildings)
		l.findBuildings()
	}()
	// Each kind's groups (and its blocks, for the similarity tier) are
	// found a kind ahead of its unions, on another goroutine: they do not
	// depend on the unions of the kinds before.
	kinds := make(chan personKind)
	go func() {
		defer close(kinds)
		for k := range l.kinds {
			if c := l.kinds[k].info.Class; c == matchkey.Identifier || c == matchkey.Person {
				kinds <- l.personGroups(k)
			}
		}
	}()
	cs := newComponents(n)
	for pk := range kinds {
		l.res.Review = append(l.res.Review, pk.review...)
		l.pendingReview = append(l.pendingReview, pk.pending...)
		in := l.kinds[pk.k].info
		sameSourceOK := in.Class == matchkey.Identifier || l.sameSource[in.Kind]
		from := len(l.res.Links)
		mergeComponents(cs, pk.props, l.find, func(roots []int32) string { return l.personGuard(roots, sameSourceOK) },
			func(a, b int32) { l.unionPersons(a, b, in) }, l.res.Blocked)
		l.countLinks(from, in.Kind)
	}
	l.phase("persons")
	<-buildings
	l.linkSimilar()
	l.phase("similarity")
	l.filters, l.pops, l.hasDOB = chunked[filter]{}, nil, nil
	for k := range l.kinds {
		l.kinds[k].blocks = blocks{}
	}
	// Dense person ids in canonical record order.
	l.person = denseIDs(n, l.find)
	l.npers = 0
	if n > 0 {
		l.npers = int(slices.Max(l.person)) + 1
	}
	for i, g := range l.pendingReview {
		seen := map[int32]bool{}
		for _, e := range g {
			seen[l.person[e.rec]] = true
		}
		l.res.Review[i].Persons = len(seen)
	}
	l.parent, l.size, l.set, l.sets, l.idStart, l.recIDs = nil, nil, nil, nil, nil, nil
}

// personKind is what one identifier or person kind proposes: unions of
// records that share a token, and the tokens too many records share
// (review items, and each such token's entries, whose persons are
// counted once all are linked).
type personKind struct {
	k       int
	props   [][2]int32
	review  []ReviewItem
	pending [][]entry
}

// personGroups groups kind k's tokens into what it proposes, and for a
// person kind keeps its blocks for the similarity tier. Nothing reads an
// identifier kind again, and only the similarity tier a person kind,
// from its blocks: its entries are let go.
func (l *linker) personGroups(k int) personKind {
	ks := &l.kinds[k]
	person := ks.info.Class == matchkey.Person
	pk := personKind{k: k}
	forEachGroup(ks.entries, nil, func(g []entry) {
		if person {
			ks.blocks.add(g, l.cfg.MaxBlockRecords)
		}
		if len(g) > l.cfg.MaxPersonRecords {
			it := ReviewItem{Kind: ks.info.Kind, Records: len(g), Persons: -1}
			it.Prefix = g[0].prefix()
			pk.review = append(pk.review, it)
			pk.pending = append(pk.pending, slices.Clone(g))
			return
		}
		for _, e := range g[1:] {
			pk.props = append(pk.props, [2]int32{g[0].rec, e.rec})
		}
	})
	ks.entries = nil
	return pk
}

// recordIDs numbers the values of each identifier kind and gives every
// record its own (idStart, recIDs), sorted by kind and value, before any
// union, so that the identifier guard sees them all.
func (l *linker) recordIDs() {
	n := len(l.orig)
	type recID struct {
		rec int32
		id  idval
	}
	var all []recID // by kind, then value
	for k := range l.kinds {
		ks := &l.kinds[k]
		if ks.info.Class != matchkey.Identifier {
			continue
		}
		var vid int32
		ks.entries = forEachGroup(ks.entries, nil, func(g []entry) {
			for _, e := range g {
				all = append(all, recID{e.rec, idval{int32(k), vid}})
			}
			vid++
		})
	}
	// By record, keeping the order of kind and value within each.
	l.idStart = make([]int32, n+1)
	for _, x := range all {
		l.idStart[x.rec+1]++
	}
	for r := range n {
		l.idStart[r+1] += l.idStart[r]
	}
	l.recIDs = make([]idval, len(all))
	next := slices.Clone(l.idStart[:n])
	for _, x := range all {
		l.recIDs[next[x.rec]] = x.id
		next[x.rec]++
	}
}

// mergeComponents applies the unions one kind proposes all at once, so
// that the outcome does not depend on the order of the proposals (which
// follows token values, and so the keys). The proposals are grouped into
// connected components over the current sets; a component that guard
// accepts is merged whole, one it refuses is not merged at all and is
// counted under the guard's name. Proposals are pairs of items; find maps
// an item to its set. cs is scratch space over the items, left as found.
func mergeComponents(cs *components, props [][2]int32, find func(int32) int32, guard func(roots []int32) string, union func(a, b int32), blocked map[string]int) {
	live := props[:0]
	for _, pr := range props {
		ra, rb := find(pr[0]), find(pr[1])
		if ra == rb {
			continue
		}
		live = append(live, pr)
		cs.touch(ra)
		cs.touch(rb)
		ca, cb := cs.find(ra), cs.find(rb)
		if ca != cb {
			cs.parent[max(ca, cb)] = min(ca, cb)
		}
	}
	// Each component's sets in order: the sets touched, by component and
	// set (both below 2^31), as one number each.
	byComp := cs.byComp[:0]
	for _, x := range cs.touched {
		byComp = append(byComp, uint64(cs.find(x))<<32|uint64(x))
	}
	slices.Sort(byComp)
	roots := cs.roots[:0]
	for i := 0; i < len(byComp); {
		c := int32(byComp[i] >> 32)
		roots = roots[:0]
		for ; i < len(byComp) && int32(byComp[i]>>32) == c; i++ {
			roots = append(roots, int32(uint32(byComp[i])))
		}
		if g := guard(roots); g != "" {
			blocked[g]++
			continue
		}
		cs.ok[c] = true
	}
	for _, pr := range live {
		// find gives one of the component's sets, merged or not.
		if cs.ok[cs.find(find(pr[0]))] {
			union(pr[0], pr[1])
		}
	}
	for _, x := range cs.touched {
		cs.parent[x], cs.ok[x] = -1, false
	}
	cs.touched, cs.byComp, cs.roots = cs.touched[:0], byComp[:0], roots[:0]
}

// components is mergeComponents' scratch space over items 0..n-1, kept
// from one kind to the next: a union-find over the sets that one kind's
// proposals touch, whose root is a component's smallest set. Every
// element mergeComponents sets, it resets.
type components struct {
	parent  []int32 // set -> parent set in its component; -1 if untouched
	ok      []bool  // component root -> the guard accepts the component
	touched []int32 // the sets with parent != -1
	byComp  []uint64
	roots   []int32
}

func newComponents(n int) *components {
	cs := &components{parent: make([]int32, n), ok: make([]bool, n)}
	for i := range cs.parent {
		cs.parent[i] = -1
	}
	return cs
}

// touch makes x a component of its own if it is in none yet.
func (cs *components) touch(x int32) {
	if cs.parent[x] < 0 {
		cs.parent[x] = x
		cs.touched = append(cs.touched, x)
	}
}

// find returns the root of the component of x, a touched set.
func (cs *components) find(x int32) int32 {
	for cs.parent[x] != x {
		cs.parent[x] = cs.parent[cs.parent[x]]
		x = cs.parent[x]
	}
	return x
}

// personGuard checks the cluster that joining roots would make: its
// size, its identifiers and, unless the kind joining them may join
// records of one source (sameSourceOK: identifiers and
// Config.SameSourceKinds), its sources. It returns the guard that
// refuses, or "".
func (l *linker) personGuard(roots []int32, sameSourceOK bool) string {
	size := int32(0)
	// What the clusters so far hold, in buffers kept between calls.
	ids, srcs := l.guardIDs[:0], l.guardSrcs[:0]
	defer func() { l.guardIDs, l.guardSrcs = ids[:0], srcs[:0] }()
	for k, r := range roots {
		size += l.size[r]
		rids := l.idsOf(r)
		if idConflict(ids, rids) {
			return GuardIdentifier
		}
		rsrcs := l.srcsOf(r)
		if !sameSourceOK && intersects(srcs, rsrcs) {
			return GuardSameSource
		}
		if k == len(roots)-1 {
			break // nothing reads the last merge
		}
		if len(rids) > 0 {
			ids = mergeIDs(ids[:0], ids, rids)
		}
		if !sameSourceOK {
			srcs = mergeInts(srcs[:0], srcs, rsrcs)
		}
	}
	if int(size) > l.cfg.MaxPersonRecords {
		return GuardPersonSize
	}
	return ""
}

// unionPersons joins the clusters of canonical records a and b on a token
// of kind in and records the link (the caller counts it, countLinks); the
// guard has been checked for the whole component.
func (l *linker) unionPersons(a, b int32, in matchkey.Info) {
	ra, rb := l.find(a), l.find(b)
	if ra == rb {
		return
	}
	if l.size[ra] < l.size[rb] || (l.size[ra] == l.size[rb] && rb < ra) {
		ra, rb = rb, ra
	}
	l.parent[rb] = ra
	l.size[ra] += l.size[rb]
	aids, bids, asrcs, bsrcs := l.idsOf(ra), l.idsOf(rb), l.srcsOf(ra), l.srcsOf(rb)
	merged := clusterSet{
		ids:  mergeIDs(make([]idval, 0, len(aids)+len(bids)), aids, bids),
		srcs: mergeInts(make([]int32, 0, len(asrcs)+len(bsrcs)), asrcs, bsrcs),
	}
	switch sa, sb := l.set[ra], l.set[rb]; {
	case sa >= 0:
		l.sets[sa] = merged
		if sb >= 0 {
			l.sets[sb] = clusterSet{}
		}
	case sb >= 0:
		l.sets[sb] = merged
		l.set[ra] = sb
	default:
		l.set[ra] = int32(len(l.sets))
		l.sets = append(l.sets, merged)
	}
	l.set[rb] = -1
	l.res.Links = append(l.res.Links, Union{A: int(l.orig[a]), B: int(l.orig[b]), Kind: in.Kind})
}

// countLinks adds the person links made since there were from, all of
// kind, to Result.LinksByKind.
func (l *linker) countLinks(from int, kind matchkey.Kind) {
	if n := len(l.res.Links) - from; n > 0 {
		l.res.LinksByKind[kind] += n
	}
}

func sortIDs(s []idval) {
	slices.SortFunc(s, func(a, b idval) int {
		if a.kind != b.kind {
			return cmpInt(a.kind, b.kind)
		}
		return cmpInt(a.val, b.val)
	})
}

// idConflict reports whether a and b (sorted) both hold some identifier
// kind without sharing a value of it.
func idConflict(a, b []idval) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ka, kb := a[i].kind, b[j].kind
		switch {
		case ka < kb:
			i++
		case kb < ka:
			j++
		default:
			// Both hold kind ka: look for a shared value.
			ie, je := i, j
			for ie < len(a) && a[ie].kind == ka {
				ie++
			}
			for je < len(b) && b[je].kind == ka {
				je++
			}
			shared := false
			for x := i; x < ie && !shared; x++ {
				for y := j; y < je; y++ {
					if a[x].val == b[y].val {
						shared = true
						break
					}
				}
			}
			if !shared {
				return true
			}
			i, j = ie, je
		}
	}
	return false
}

// mergeIDs appends a and b to dst (which may be a[:0]) and returns the
// result sorted, without repeats; mergeInts likewise.
func mergeIDs(dst, a, b []idval) []idval {
	out := append(append(dst, a...), b...)
	sortIDs(out)
	return slices.Compact(out)
}

func mergeInts(dst, a, b []int32) []int32 {
	out := append(append(dst, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func intersects(a, b []int32) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case b[j] < a[i]:
			j++
		default:
			return true
		}
	}
	return false
}

// denseIDs numbers the sets of a union-find over 0..n-1 densely, in order
// of each set's smallest member.
func denseIDs(n int, find func(int32) int32) []int32 {
	idOfRoot := make([]int32, n)
	for i := range idOfRoot {
		idOfRoot[i] = -1
	}
	out := make([]int32, n)
	next := int32(0)
	for x := 0; x < n; x++ {
		r := find(int32(x))
		if idOfRoot[r] < 0 {
			idOfRoot[r] = next
			next++
		}
		out[x] = idOfRoot[r]
	}
	return out
}
