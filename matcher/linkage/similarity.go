package linkage

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"tfmatch/matchkey"
)

// The similarity tier runs after the exact person stage and before
// persons are numbered. It joins what exact keys miss (an error in both
// names, a changed family name with a typo in the given name, a missing
// date of birth with a typo) by comparing the records' Bloom-filter
// encodings (package agency/clk), which the matcher holds permuted under
// its own key:
//
//  1. Blocking: two records are compared only if they share a token of a
//     Block-, Person- or Address-class kind and are in different person
//     clusters. A block with more than Config.MaxBlockRecords records (a
//     common name at a large address, a hostel) is skipped and counted in
//     Result.SkippedBlocks, so the work stays linear in the records.
//  2. Scoring: the Dice coefficient 2|a∧b| / (|a| + |b|), with popcounts
//     cached. Pairs of different sources at or above the threshold are
//     candidates.
//  2a. The threshold, unless Config.SimilarityThreshold sets one, comes
//     from the data by the target-decoy method: two records of one
//     source in different person clusters are two people (the
//     same-source rule never lets the tier join them), so the Dice
//     coefficients of such pairs compared in the same blocks show how
//     similar different people look in this data. For each threshold t
//     from DefaultSimilarityThreshold down to MinAutoThreshold in steps
//     of 0.01, the expected number of false candidates is the decoys
//     at or above t scaled by the ratio of cross-source to same-source
//     pairs compared; the lowest t before that estimate first exceeds
//     AutoFalseShare of the candidates at or above t is used. Data with
//     twins, namesakes at one address or other look-alikes keep 0.8;
//     data where different people never come close go lower, and link
//     more of what typing errors pulled apart. With no same-source pairs
//     to learn from, the threshold stays at 0.8.
//  3. Linking: candidates are tried best first (ties by record order,
//     so the result does not depend on input order), each through the
//     same guards as exact keys: identifier conflict, cluster size, and
//     the same-source rule (a similarity link never joins two clusters
//     that both hold a record of one source), and one more: two records
//     that both carry a date of birth must share a block of a kind built
//     on it (matchkey.Info.BirthDate), so they agree on their dates of
//     birth at least in part. A filter weighs the date of birth less than
//     the names, so a parent and a child of the same name at the same
//     address can be within the threshold; this guard keeps them apart.
//     A pair that shares a block of a kind built on an identifier up to
//     one typing error (matchkey.Info.NearIdentifier) is exempt: a parent
//     and a child do not share identifiers, and a wrong date of birth
//     is then the likelier story.
//     Each union is recorded with kind matchkey.Similarity.
//
// Best-first greedy union is the multi-party solver of anonlink in
// essence: a record's strongest candidate is taken before weaker ones,
// and the guards stop a chain of weaker candidates from welding two
// people whom an agency already holds apart.

// filter is a record's Bloom filter as words. Its popcount is kept apart
// (linker.pops), so that a filter is 128 bytes: two cache lines.
type filter [16]uint64

func newFilter(b []byte) filter {
	var f filter
	for i := range f {
		f[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return f
}

// popcount returns the number of bits set in f; 0 means no filter.
func (f *filter) popcount() int32 {
	var n int
	for _, w := range f {
		n += bits.OnesCount64(w)
	}
	return int32(n)
}

// common returns the number of bits set in both a and b.
func common(a, b *filter) int32 {
	var n int
	for i := range a {
		n += bits.OnesCount64(a[i] & b[i])
	}
	return int32(n)
}

// blocks is a kind's token list reduced to what the similarity tier
// reads, once nothing else needs the kind: the records of each group of
// 2 to Config.MaxBlockRecords records, in token order, each group as its
// length followed by its records; skipped counts the larger groups. It
// takes 4 bytes per record in a block instead of 16 per token, and
// nothing for the tokens only one record carries (most of them).
type blocks struct {
	recs    []int32
	skipped int
}

// add adds a group of entries sharing a token.
func (bl *blocks) add(g []entry, maxRecords int) {
	switch {
	case len(g) < 2:
	case len(g) > maxRecords:
		bl.skipped++
	default:
		bl.recs = append(bl.recs, int32(len(g)))
		for _, e := range g {
			bl.recs = append(bl.recs, e.rec)
		}
	}
}

// each calls fn with the records of each group in turn.
func (bl *blocks) each(fn func(g []int32)) {
	for i := 0; i < len(bl.recs); {
		n := int(bl.recs[i])
		fn(bl.recs[i+1 : i+1+n])
		i += 1 + n
	}
}

// candidate is a pair of canonical records whose filters are similar.
type candidate struct {
	a, b int32 // a < b
	dice float64
	dob  bool // found in a block of a kind carrying the date of birth
	near bool // found in a block of a kind carrying a near-equal identifier
}

// similarityInfo is what unionPersons sees of a similarity link: a person
// link weaker than every token kind, never in SameSourceKinds.
func similarityInfo() matchkey.Info {
	return matchkey.Info{Kind: matchkey.Similarity, Class: matchkey.Person, Strength: 1 << 20}
}

// simPart is what the similarity tier found in one kind's blocks: its
// candidates sorted by pair, one per pair.
type simPart struct {
	cands                            []candidate
	decoys                           []float64
	compared, nSame, nCross, skipped int
}

// simRec is what the similarity tier reads of a record besides its
// filter, in one place: its cluster's root in the snapshot of the
// union-find, its filter's popcount (0 if it has none) and its source.
type simRec struct {
	root, pop, src int32
}

// simWorker finds the candidates of one kind's blocks.
type simWorker struct {
	info    []simRec // canonical index -> what the tier reads of the record
	filters *chunked[filter]
	kind    matchkey.Info
	t       float64 // the lowest Dice coefficient of a candidate or decoy
	auto    bool    // keep decoys
	part    *simPart
	// One batch's records: every record's simRec in block order, then
	// the records with a filter of the blocks of more than one cluster,
	// their simRecs and filters, and where each such block is.
	all   []simRec
	recs  []int32
	sel   []simRec
	filt  []filter
	mixed []span
}

// simBatch is about how many records the tier gathers at a time.
const simBatch = 256

// compareBlocks compares the records of each block of bl (in the layout
// of blocks.recs) pairwise, a batch of blocks at a time. The records of
// a block are scattered over the filters and simRecs; gathering a
// batch's first (all of them, each independent of the others, in one
// tight loop) lets the processor fetch many at once, and a block's
// filters are gathered, once, only if it holds more than one cluster
// (most hold one person's records only).
func (w *simWorker) compareBlocks(bl []int32) {
	for i := 0; i < len(bl); {
		j := i
		for j < len(bl) && j-i < simBatch {
			j += 1 + int(bl[j])
		}
		w.batch(bl[i:j])
		i = j
	}
}

func (w *simWorker) batch(bl []int32) {
	w.all = w.all[:0]
	for k := 0; k < len(bl); {
		n := int(bl[k])
		for _, r := range bl[k+1 : k+1+n] {
			w.all = append(w.all, w.info[r])
		}
		k += 1 + n
	}
	w.recs, w.sel, w.filt, w.mixed = w.recs[:0], w.sel[:0], w.filt[:0], w.mixed[:0]
	for k, off := 0, 0; k < len(bl); {
		n := int(bl[k])
		g, all := bl[k+1:k+1+n], w.all[off:off+n]
		k, off = k+1+n, off+n
		first, mixed := int32(-1), false
		for _, x := range all {
			switch {
			case x.pop == 0:
			case first < 0:
				first = x.root
			case x.root != first:
				mixed = true
			}
		}
		if !mixed {
			continue
		}
		from := int32(len(w.recs))
		for i, r := range g {
			if all[i].pop != 0 {
				w.recs = append(w.recs, r)
				w.sel = append(w.sel, all[i])
				w.filt = append(w.filt, *w.filters.at(int(r)))
			}
		}
		w.mixed = append(w.mixed, span{from, int32(len(w.recs))})
	}
	for _, s := range w.mixed {
		w.compare(w.recs[s.from:s.to], w.sel[s.from:s.to], w.filt[s.from:s.to])
	}
}

// compare compares the records of one block pairwise, those of one
// cluster excepted.
func (w *simWorker) compare(recs []int32, sel []simRec, filt []filter) {
	p := w.part
	for i := 1; i < len(recs); i++ {
		a, fa := &sel[i], &filt[i]
		for j := range i {
			b := &sel[j]
			if b.root == a.root {
				continue
			}
			p.compared++
			c := common(fa, &filt[j])
			d := 2 * float64(c) / float64(a.pop+b.pop)
			if a.src == b.src {
				// Never linked by similarity: a decoy.
				p.nSame++
				if w.auto && d >= w.t {
					p.decoys = append(p.decoys, d)
				}
				continue
			}
			p.nCross++
			if d >= w.t {
				ra, rb := recs[i], recs[j]
				p.cands = append(p.cands, candidate{min(ra, rb), max(ra, rb), d, w.kind.BirthDate, w.kind.NearIdentifier})
			}
		}
	}
}

func (l *linker) linkSimilar() {
	if l.cfg.DisableSimilarity {
		return
	}
	t := l.cfg.SimilarityThreshold
	auto := t == 0
	if auto {
		t = MinAutoThreshold
	}
	var decoys []float64 // same-source Dice coefficients at or above t
	var nCross, nSame int
	// The candidates of each kind are found on as many goroutines as may
	// run: nothing is linked until all are found, so every record's
	// person is read from one snapshot of the union-find.
	info := make([]simRec, len(l.parent))
	for i := range info {
		info[i] = simRec{root: l.find(int32(i)), pop: l.pops[i], src: l.src[i]}
	}
	l.pops = nil
	var kinds []int
	for k := range l.kinds {
		switch l.kinds[k].info.Class {
		case matchkey.Block, matchkey.Person, matchkey.Address:
			kinds = append(kinds, k)
		}
	}
	size := func(k int) int { return len(l.kinds[k].entries) + len(l.kinds[k].blocks.recs) }
	slices.SortStableFunc(kinds, func(a, b int) int { return size(b) - size(a) })
	parts := make([]simPart, len(l.kinds))
	l.parallel(kinds, func(k int) {
		ks := &l.kinds[k]
		p := &parts[k]
		w := &simWorker{info: info, filters: &l.filters, kind: ks.info, t: t, auto: auto, part: p}
		if ks.info.Class == matchkey.Address {
			// Households read these kinds again: their lists are kept
			// whole.
			var bl blocks
			ks.entries = forEachGroup(ks.entries, nil, func(g []entry) { bl.add(g, l.cfg.MaxBlockRecords) })
			p.skipped += bl.skipped
			w.compareBlocks(bl.recs)
		} else {
			p.skipped += ks.blocks.skipped
			w.compareBlocks(ks.blocks.recs)
			ks.blocks = blocks{}
		}
		p.cands = uniquePairs(p.cands)
	})
	l.filters = chunked[filter]{}
	lists := make([][]candidate, 0, len(parts))
	for k := range parts {
		p := &parts[k]
		if p.skipped > 0 {
			l.res.SkippedBlocks[l.kinds[k].info.Kind] += p.skipped
		}
		l.res.Compared += p.compared
		nSame += p.nSame
		nCross += p.nCross
		decoys = append(decoys, p.decoys...)
		lists = append(lists, p.cands)
		*p = simPart{}
	}
	// One candidate per pair.
	cands := l.mergePairs(lists)
	if auto {
		t = chooseThreshold(cands, decoys, nCross, nSame)
		kept := cands[:0]
		for _, c := range cands {
			if c.dice >= t {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	l.res.Threshold = t
	l.res.Candidates = len(cands)
	// Best first; pairs are unique, so ties keep pair order.
	slices.SortFunc(cands, func(x, y candidate) int {
		switch {
		case x.dice > y.dice:
			return -1
		case x.dice < y.dice:
			return 1
		}
		return cmpPair(x, y)
	})
	sim := similarityInfo()
	sameSourceOK := l.sameSource[sim.Kind] // false: never in SameSourceKinds
	var roots [2]int32
	from := len(l.res.Links)
	for _, c := range cands {
		if l.hasDOB[c.a] && l.hasDOB[c.b] && !c.dob && !c.near {
			l.res.Blocked[GuardBirthDate]++
			continue
		}
		ra, rb := l.find(c.a), l.find(c.b)
		if ra == rb {
			continue
		}
		roots = [2]int32{ra, rb}
		if g := l.personGuard(roots[:], sameSourceOK); g != "" {
			l.res.Blocked[g]++
			continue
		}
		l.unionPersons(c.a, c.b, sim)
	}
	l.countLinks(from, sim.Kind)
}

// cmpPair orders candidates by their records.
func cmpPair(x, y candidate) int {
	if x.a != y.a {
		return cmpInt(x.a, y.a)
	}
	return cmpInt(x.b, y.b)
}

// uniquePairs sorts cands by pair and merges the candidates of one pair
// (found in several blocks) into one, which was found in a block carrying
// the date of birth, or a near-equal identifier, if any of them was.
func uniquePairs(cands []candidate) []candidate {
	sortByPair(cands)
	out := cands[:0]
	for _, c := range cands {
		if n := len(out); n > 0 && out[n-1].a == c.a && out[n-1].b == c.b {
			out[n-1].dob = out[n-1].dob || c.dob
			out[n-1].near = out[n-1].near || c.near
			continue
		}
		out = append(out, c)
	}
	return out
}

// sortByPair sorts cands by pair. A kind's candidates can number
// millions (family members at one address are alike), so a long list is
// sorted by radix, 16 bits of the pair at a time, least significant
// first, skipping digits all candidates share.
func sortByPair(cands []candidate) {
	if len(cands) < 1<<10 {
		slices.SortFunc(cands, cmpPair)
		return
	}
	key := func(c *candidate) uint64 { return uint64(uint32(c.a))<<32 | uint64(uint32(c.b)) }
	var all uint64
	for i := range cands {
		all |= key(&cands[i])
	}
	src, dst := cands, make([]candidate, len(cands))
	pos := make([]int, 1<<16)
	for shift := 0; shift < bits.Len64(all); shift += 16 {
		clear(pos)
		for i := range src {
			pos[key(&src[i])>>shift&0xffff]++
		}
		if slices.Contains(pos, len(src)) {
			continue // one digit for all
		}
		sum := 0
		for d, n := range pos {
			pos[d] = sum
			sum += n
		}
		for i := range src {
			d := key(&src[i]) >> shift & 0xffff
			dst[pos[d]] = src[i]
			pos[d]++
		}
		src, dst = dst, src
	}
	copy(cands, src) // a no-op if src is cands
}

// mergePairs merges lists of candidates, each sorted by pair with one
// candidate per pair, into one such list (as uniquePairs would make of
// them all): in rounds, each merging neighbours two by two, the merges of
// a round on as many goroutines as may run.
func (l *linker) mergePairs(lists [][]candidate) []candidate {
	lists = slices.DeleteFunc(lists, func(c []candidate) bool { return len(c) == 0 })
	for len(lists) > 1 {
		next := make([][]candidate, (len(lists)+1)/2)
		l.parallelRanges(len(next), 1, func(i, _, _ int) {
			if 2*i+1 == len(lists) {
				next[i] = lists[2*i]
				return
			}
			next[i] = mergeTwo(lists[2*i], lists[2*i+1])
			lists[2*i], lists[2*i+1] = nil, nil
		})
		lists = next
	}
	if len(lists) == 0 {
		return nil
	}
	return lists[0]
}

// mergeTwo merges two lists sorted by pair, one candidate per pair, into a
// new one.
func mergeTwo(x, y []candidate) []candidate {
	out := make([]candidate, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch c := cmpPair(x[i], y[j]); {
		case c < 0:
			out = append(out, x[i])
			i++
		case c > 0:
			out = append(out, y[j])
			j++
		default:
			m := x[i]
			m.dob = m.dob || y[j].dob
			m.near = m.near || y[j].near
			out = append(out, m)
			i, j = i+1, j+1
		}
	}
	out = append(out, x[i:]...)
	return append(out, y[j:]...)
}

// chooseThreshold returns the Dice threshold the target-decoy estimate
// allows (see the comment at the top of this file): cands are the
// cross-source candidates and decoys the same-source coefficients, both
// at or above MinAutoThreshold, out of nCross and nSame pairs compared.
func chooseThreshold(cands []candidate, decoys []float64, nCross, nSame int) float64 {
	chosen := DefaultSimilarityThreshold
	if nSame == 0 {
		return chosen
	}
	scale := float64(nCross) / float64(nSame)
	// Thresholds as whole hundredths, so that the steps are exact.
	for h := int(math.Round(DefaultSimilarityThreshold*100)) - 1; h >= int(math.Round(MinAutoThreshold*100)); h-- {
		th := float64(h) / 100
		var nd, nc int
		for _, d := range decoys {
			if d >= th {
				nd++
			}
		}
		for _, c := range cands {
			if c.dice >= th {
				nc++
			}
		}
		if float64(nd)*scale > AutoFalseShare*float64(nc) {
			break
		}
		chosen = th
	}
	return chosen
}
