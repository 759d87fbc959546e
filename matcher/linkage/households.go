package linkage

import (
	"slices"

	"tfmatch/matchkey"
)

// lists is a list of lists of int32 kept in one slice: list i is
// items[start[i]:start[i+1]]. The household phase keeps its per-record
// and per-person lists so, rather than as millions of small slices.
type lists struct {
	start []int32
	items []int32
}

func (ls *lists) at(i int32) []int32 { return ls.items[ls.start[i]:ls.start[i+1]] }

func (ls *lists) len() int { return max(len(ls.start)-1, 0) }

// listsBuilder fills a lists whose sizes are counted first: count each
// item's list, then layout, then place each item, in the order it should
// have within its list.
type listsBuilder struct {
	ls   lists
	next []int32
}

func newListsBuilder(n int) *listsBuilder {
	return &listsBuilder{ls: lists{start: make([]int32, n+1)}}
}

func (lb *listsBuilder) count(i int32) { lb.ls.start[i+1]++ }

func (lb *listsBuilder) layout() {
	for i := 1; i < len(lb.ls.start); i++ {
		lb.ls.start[i] += lb.ls.start[i-1]
	}
	lb.ls.items = make([]int32, lb.ls.start[len(lb.ls.start)-1])
	lb.next = slices.Clone(lb.ls.start[:len(lb.ls.start)-1])
}

func (lb *listsBuilder) place(i, v int32) {
	lb.ls.items[lb.next[i]] = v
	lb.next[i]++
}

func (lb *listsBuilder) done() lists {
	lb.next = nil
	return lb.ls
}

// span is a range [from, to) of a slice.
type span struct{ from, to int32 }

// dwelling is a set of address token ids one person's records agree on,
// and the number of distinct sources reporting it.
type dwelling struct {
	tids  []int32
	votes int
}

// hhKind is what the household phase reads of one address or group
// kind's tokens, found for each kind on its own: the review items of the
// tokens too many persons share, and, of the others, for an address kind
// each token's records and for a group kind each token's persons and
// source.
type hhKind struct {
	review []ReviewItem
	groups lists   // address kind: records per token; group kind: persons per token (ascending)
	src    []int32 // group kind: the source of each token
}

// householdKind groups the tokens of kind ks (see hhKind).
func (l *linker) householdKind(ks *kindSlot) hhKind {
	class := ks.info.Class
	var hk hhKind
	hk.groups.start = []int32{0}
	var ps []int32
	forEachGroup(ks.entries, l.groupSources(class), func(g []entry) {
		ps = ps[:0]
		for _, e := range g {
			ps = append(ps, l.person[e.rec])
		}
		if len(ps) > 1 {
			slices.Sort(ps)
			ps = slices.Compact(ps)
		}
		if len(ps) > l.cfg.MaxHouseholdPersons {
			it := ReviewItem{Kind: ks.info.Kind, Source: l.sourceName(g[0], class), Records: len(g), Persons: len(ps)}
			it.Prefix = g[0].prefix()
			hk.review = append(hk.review, it)
			return
		}
		if class == matchkey.Address {
			for _, e := range g {
				hk.groups.items = append(hk.groups.items, e.rec)
			}
		} else {
			hk.groups.items = append(hk.groups.items, ps...)
			hk.src = append(hk.src, l.src[g[0].rec])
		}
		hk.groups.start = append(hk.groups.start, int32(len(hk.groups.items)))
	})
	ks.entries = nil
	return hk
}

// hhTokens are the address and group tokens households are joined by:
// address tokens numbered (tid) in (strength, value) order, each kind's
// a range of tids, and group tokens (gid) likewise.
type hhTokens struct {
	tidKinds, gidKinds []kindRange
	recAddr            lists   // record -> its tids, ascending (see addrEnd)
	addrEnd            []int32 // record -> end of its tids in recAddr.items, which the flats rule may shorten
	groupPersons       lists   // gid -> persons, ascending
	groupSrc           []int32 // gid -> source
	personGroups       lists   // person -> gids, ascending
}

// kindRange is the range of token numbers of one kind.
type kindRange struct {
	kind     matchkey.Kind
	from, to int32
}

// kindOf returns the range of kind in rs, empty if there is none.
func kindOf(rs []kindRange, kind matchkey.Kind) kindRange {
	for _, r := range rs {
		if r.kind == kind {
			return r
		}
	}
	return kindRange{kind: kind}
}

func (r kindRange) has(t int32) bool { return r.from <= t && t < r.to }

// addr returns record r's tids.
func (ht *hhTokens) addr(r int32) []int32 {
	return ht.recAddr.items[ht.recAddr.start[r]:ht.addrEnd[r]]
}

// householdTokens groups every address and group kind's tokens, each
// kind on its own and on as many goroutines as may run, and numbers them.
func (l *linker) householdTokens() *hhTokens {
	n, np := len(l.orig), l.npers
	var kinds []int
	for k := range l.kinds {
		if c := l.kinds[k].info.Class; c == matchkey.Address || c == matchkey.Group {
			kinds = append(kinds, k)
		}
	}
	parts := make([]hhKind, len(l.kinds))
	l.parallel(kinds, func(k int) { parts[k] = l.householdKind(&l.kinds[k]) })

	ht := &hhTokens{}
	addr := newListsBuilder(n)
	pg := newListsBuilder(np)
	var tids, gids int32
	for _, k := range kinds {
		hk := &parts[k]
		l.res.Review = append(l.res.Review, hk.review...)
		ng := int32(hk.groups.len())
		if l.kinds[k].info.Class == matchkey.Address {
			ht.tidKinds = append(ht.tidKinds, kindRange{l.kinds[k].info.Kind, tids, tids + ng})
			tids += ng
			for _, r := range hk.groups.items {
				addr.count(r)
			}
			continue
		}
		ht.gidKinds = append(ht.gidKinds, kindRange{l.kinds[k].info.Kind, gids, gids + ng})
		gids += ng
		for _, p := range hk.groups.items {
			pg.count(p)
		}
	}
	// Each record's tids and each person's gids in ascending order: the
	// kinds in turn, each kind's tokens in turn.
	addr.layout()
	pg.layout()
	ht.groupPersons.start = make([]int32, 1, gids+1)
	tids, gids = 0, 0
	for _, k := range kinds {
		hk := &parts[k]
		for g := range int32(hk.groups.len()) {
			if l.kinds[k].info.Class == matchkey.Address {
				for _, r := range hk.groups.at(g) {
					addr.place(r, tids)
				}
				tids++
				continue
			}
			for _, p := range hk.groups.at(g) {
				pg.place(p, gids)
			}
			gids++
		}
		if l.kinds[k].info.Class == matchkey.Group {
			ht.groupPersons.items = append(ht.groupPersons.items, hk.groups.items...)
			base := ht.groupPersons.start[len(ht.groupPersons.start)-1]
			for _, s := range hk.groups.start[1:] {
				ht.groupPersons.start = append(ht.groupPersons.start, base+s)
			}
			ht.groupSrc = append(ht.groupSrc, hk.src...)
		}
		*hk = hhKind{}
	}
	ht.recAddr = addr.done()
	ht.addrEnd = slices.Clone(ht.recAddr.start[1:])
	ht.personGroups = pg.done()
	return ht
}

func (l *linker) linkHouseholds() {
	n := len(l.orig)
	np := l.npers
	// Records of each person, in canonical order.
	mb := newListsBuilder(np)
	for c := range n {
		mb.count(l.person[c])
	}
	mb.layout()
	for c := range n {
		mb.place(l.person[c], int32(c))
	}
	members := mb.done()

	ht := l.householdTokens()
	l.resolveFlats(ht)

	// Pass 1: each person's dwellings; a clear winner is the home.
	homes := l.findHomes(ht, &members)
	home, pool := homes.home, homes.pool
	homeOf := func(p int32) []int32 { return pool[home[p].from:home[p].to] }
	// Pass 2: settle a tie by the person's household and unit groups: the
	// dwelling where most of its group-mates have settled homes wins. A
	// tie there too leaves the person without a home address: picking
	// one by token order would make the result depend on the keys, and
	// picking the one with more (or fewer) residents would guess. Tied
	// persons are few (a few per cent).
	var mates []int32
	for _, a := range homes.ambiguous {
		p := a.person
		var best span
		bestGroup, tied := -1, false
		for _, d := range homes.tied[a.dwellings.from:a.dwellings.to] {
			dt := pool[d.from:d.to]
			mates = mates[:0]
			for _, gid := range ht.personGroups.at(p) {
				for _, q := range ht.groupPersons.at(gid) {
					if q != p && overlaps(homeOf(q), dt) {
						mates = append(mates, q)
					}
				}
			}
			slices.Sort(mates)
			switch g := len(slices.Compact(mates)); {
			case g > bestGroup:
				best, bestGroup, tied = d, g, false
			case g == bestGroup:
				tied = true
			}
		}
		if !tied {
			home[p] = best
		}
	}
	// Pass 3: a household or unit reference outweighs an address only
	// one source gives. A person whose home rests on one source, and
	// whose group-mates have homes elsewhere and none at that address, is
	// most likely recorded at an address it has left (the group still
	// joins it to its household); its address is not used to join
	// households.
	l.groupOverridesAddress(homeOf, home, homes.votes, ht)

	// Union persons on home address tokens, then on group tokens. Each
	// person starts with the household references its records carry. An
	// agency's household reference (matchkey.HouseholdGroup) is also
	// evidence against: two households that each hold a different
	// household reference of the same agency are not joined through an
	// address (a stale address, a missing flat number, two families at one
	// door). Unit groupings (benefit units) are evidence for only: one
	// household may hold several.
	l.hparent = make([]int32, np)
	l.hsize = make([]int32, np)
	l.hrefs = make([][]hhRef, np)
	for i := range l.hparent {
		l.hparent[i] = int32(i)
		l.hsize[i] = 1
	}
	hhGroups := kindOf(ht.gidKinds, matchkey.HouseholdGroup)
	var refs []hhRef // every person's own references, in one array
	for p := range int32(np) {
		from := len(refs)
		for _, gid := range ht.personGroups.at(p) {
			if hhGroups.has(gid) {
				refs = append(refs, hhRef{src: ht.groupSrc[gid], gid: gid})
			}
		}
		if len(refs) > from {
			// Capped, so that a union's append copies.
			l.hrefs[p] = refs[from:len(refs):len(refs)]
		}
	}
	ntids := int32(0)
	if len(ht.tidKinds) > 0 {
		ntids = ht.tidKinds[len(ht.tidKinds)-1].to
	}
	tb := newListsBuilder(int(ntids))
	for p := range int32(np) {
		for _, t := range homeOf(p) {
			tb.count(t)
		}
	}
	tb.layout()
	for p := range int32(np) {
		for _, t := range homeOf(p) {
			tb.place(t, p)
		}
	}
	tidPersons := tb.done()
	// One kind at a time, strongest first (tids and gids are numbered in
	// kind order), each kind's unions applied as a whole.
	cs := newComponents(np)
	var props [][2]int32
	apply := func(ls *lists, kinds []kindRange) {
		for _, kr := range kinds {
			props = props[:0]
			for i := kr.from; i < kr.to; i++ {
				g := ls.at(i)
				for _, p := range g[min(1, len(g)):] {
					props = append(props, [2]int32{g[0], p})
				}
			}
			kind := kr.kind
			mergeComponents(cs, props, l.hfind, func(roots []int32) string { return l.householdGuard(roots, kind) },
				func(a, b int32) { l.unionHouseholds(a, b, kind) }, l.res.Blocked)
		}
	}
	apply(&tidPersons, ht.tidKinds)
	apply(&ht.groupPersons, ht.gidKinds)
}

// resolveFlats applies the rule for a house token (an address without a
// flat) in a building where other records name flats, which is
// ambiguous: most often a flat whose number was left off. It is not used
// to join households as it stands. If exactly one flat of the building
// has a resident who shares the record's family name (a family name +
// postcode block in common), the record is taken to be at that flat;
// otherwise it joins nobody through that address.
func (l *linker) resolveFlats(ht *hhTokens) {
	n := int32(len(l.orig))
	house := kindOf(ht.tidKinds, matchkey.House)
	flatKind := kindOf(ht.tidKinds, matchkey.AddressLine)
	// The flats of each building: its records with an address line, by
	// tid and record.
	nb := int32(0)
	for _, b := range l.building {
		nb = max(nb, b+1)
	}
	fb := newListsBuilder(int(nb))
	for r := range n {
		if b := l.building[r]; b >= 0 {
			for _, t := range ht.addr(r) {
				if flatKind.has(t) {
					fb.count(b)
				}
			}
		}
	}
	fb.layout()
	for r := range n {
		if b := l.building[r]; b >= 0 {
			for _, t := range ht.addr(r) {
				if flatKind.has(t) {
					fb.place(b, r)
				}
			}
		}
	}
	flats := fb.done() // building -> records, each as often as it has flats
	// The same, as (tid, record) pairs sorted by tid: flatTids beside
	// flats.items. Buildings are independent, so ranges of them are
	// sorted on as many goroutines as may run.
	flatTids := make([]int32, len(flats.items))
	l.parallelRanges(int(nb), 1<<14, func(_, from, to int) {
		var pairs [][2]int32
		for b := int32(from); b < int32(to); b++ {
			recs := flats.at(b)
			if len(recs) == 0 {
				continue
			}
			pairs = pairs[:0]
			for i := 0; i < len(recs); {
				r := recs[i]
				for _, t := range ht.addr(r) {
					if flatKind.has(t) {
						pairs = append(pairs, [2]int32{t, r})
						i++
					}
				}
			}
			slices.SortFunc(pairs, func(x, y [2]int32) int {
				if x[0] != y[0] {
					return cmpInt(x[0], y[0])
				}
				return cmpInt(x[1], y[1])
			})
			for i, pr := range pairs {
				flatTids[flats.start[b]+int32(i)] = pr[0]
				recs[i] = pr[1]
			}
		}
	})
	// Each record decided on its own (it changes only its own tids), for
	// ranges of records on as many goroutines as may run.
	type flatPart struct {
		moves  [][2]int32 // record, flat tid
		houses []int32    // house tids left unused, repeated
	}
	const size = 1 << 14
	parts := make([]flatPart, (n+size-1)/size)
	l.parallelRanges(int(n), size, func(i, from, to int) {
		part := &parts[i]
		for r := int32(from); r < int32(to); r++ {
			b := l.building[r]
			if b < 0 || flats.start[b] == flats.start[b+1] {
				continue
			}
			tids := ht.addr(r)
			kept := tids[:0]
			nh := len(part.houses)
			for _, t := range tids {
				if house.has(t) {
					part.houses = append(part.houses, t)
					continue
				}
				kept = append(kept, t)
			}
			ht.addrEnd[r] = ht.recAddr.start[r] + int32(len(kept))
			if len(part.houses) == nh {
				continue
			}
			if f, ok := l.kinFlat(r, flatTids[flats.start[b]:flats.start[b+1]], flats.at(b)); ok {
				part.moves = append(part.moves, [2]int32{r, f})
				part.houses = part.houses[:nh]
			}
		}
	})
	dropped := make([]bool, house.to-house.from) // house tids left unused
	ndropped, resolved := 0, 0
	for i := range parts {
		part := &parts[i]
		for _, t := range part.houses {
			if !dropped[t-house.from] {
				dropped[t-house.from] = true
				ndropped++
			}
		}
		// Applied after the scan, so that a record placed at a flat
		// does not count as that flat's resident for another record. A
		// record moved had a house tid taken away, so its flat fits in
		// its place.
		for _, m := range part.moves {
			r := m[0]
			ht.recAddr.items[ht.addrEnd[r]] = m[1]
			ht.addrEnd[r]++
			slices.Sort(ht.addr(r))
		}
		resolved += len(part.moves)
	}
	if ndropped > 0 {
		l.res.Blocked[GuardHouseInFlats] += ndropped
	}
	if resolved > 0 {
		l.res.FlatsByKin += resolved
	}
}

// homes is the outcome of findHomes: each person's home, as a span of
// pool, empty for none; for persons tied between dwellings, the tied
// dwellings (spans of pool); and the number of sources behind each
// person's best dwelling.
type homes struct {
	home      []span
	votes     []int32
	pool      []int32
	ambiguous []tiedPerson
	tied      []span
}

// tiedPerson is a person tied between dwellings, homes.tied[dwellings].
type tiedPerson struct {
	person    int32
	dwellings span
}

// findHomes groups each person's records into dwellings and takes the
// one most sources report as its home; persons tied between dwellings are
// left for the caller. It works on ranges of persons on as many
// goroutines as may run.
func (l *linker) findHomes(ht *hhTokens, members *lists) *homes {
	np := int32(members.len())
	h := &homes{home: make([]span, np), votes: make([]int32, np)}
	const chunk = 1 << 12
	parts := make([]homes, (np+chunk-1)/chunk)
	l.parallelRanges(int(np), chunk, func(i, from, to int) {
		part := &parts[i]
		var sc dwellScratch
		for p := int32(from); p < int32(to); p++ {
			ds := l.dwellings(members.at(p), ht, &sc)
			if len(ds) == 0 {
				continue
			}
			best := 0
			for _, d := range ds {
				best = max(best, d.votes)
			}
			h.votes[p] = int32(best)
			top := ds[:0]
			for _, d := range ds {
				if d.votes == best {
					top = append(top, d)
				}
			}
			if len(top) == 1 {
				from := int32(len(part.pool))
				part.pool = append(part.pool, top[0].tids...)
				h.home[p] = span{from, int32(len(part.pool))}
				continue
			}
			from := int32(len(part.tied))
			for _, d := range top {
				f := int32(len(part.pool))
				part.pool = append(part.pool, d.tids...)
				part.tied = append(part.tied, span{f, int32(len(part.pool))})
			}
			part.ambiguous = append(part.ambiguous, tiedPerson{p, span{from, int32(len(part.tied))}})
		}
	})
	// The parts' pools into one.
	for i := range parts {
		part := &parts[i]
		base, tbase := int32(len(h.pool)), int32(len(h.tied))
		for p := int32(i) * chunk; p < min(np, int32(i+1)*chunk); p++ {
			if s := &h.home[p]; s.to > s.from {
				s.from += base
				s.to += base
			}
		}
		for _, s := range part.tied {
			h.tied = append(h.tied, span{s.from + base, s.to + base})
		}
		for _, a := range part.ambiguous {
			h.ambiguous = append(h.ambiguous, tiedPerson{a.person, span{a.dwellings.from + tbase, a.dwellings.to + tbase}})
		}
		h.pool = append(h.pool, part.pool...)
		*part = homes{}
	}
	return h
}

// householdGuard checks the household that joining roots would make on a
// token of kind: its size and, unless kind is an agency's household
// reference itself, that it would not hold two different household
// references of one agency. It returns the guard that refuses, or "".
func (l *linker) householdGuard(roots []int32, kind matchkey.Kind) string {
	size := int32(0)
	var refs []hhRef
	for _, r := range roots {
		size += l.hsize[r]
		if kind != matchkey.HouseholdGroup && refsConflict(refs, l.hrefs[r]) {
			return GuardHouseholdRef
		}
		refs = append(refs, l.hrefs[r]...)
	}
	if int(size) > l.cfg.MaxHouseholdPersons {
		return GuardHouseholdSize
	}
	return ""
}

// hhRef is one agency household reference held by a household being built.
type hhRef struct {
	src, gid int32
}

// refsConflict reports whether two households hold different household
// references of the same agency.
func refsConflict(a, b []hhRef) bool {
	for _, x := range a {
		for _, y := range b {
			if x.src == y.src && x.gid != y.gid {
				return true
			}
		}
	}
	return false
}

// dwellScratch is what dwellings works in, kept from one person to the
// next.
type dwellScratch struct {
	obs  []int32 // the person's records with an address
	par  []int32 // union-find over obs
	pool []int32 // the dwellings' tids
	srcs []int32
	ds   []dwelling
}

// dwellings groups one person's records into dwellings: records whose
// address tokens overlap report the same dwelling. Dwellings come out in
// order of their smallest token id, each with its tids sorted. They live
// in sc until the next call.
func (l *linker) dwellings(recs []int32, ht *hhTokens, sc *dwellScratch) []dwelling {
	sc.obs = sc.obs[:0]
	for _, r := range recs {
		if len(ht.addr(r)) > 0 {
			sc.obs = append(sc.obs, r)
		}
	}
	if len(sc.obs) == 0 {
		return nil
	}
	// Tiny union-find over observations (a person has a handful), whose
	// root is a dwelling's first observation.
	par := sc.par[:0]
	for i := range sc.obs {
		par = append(par, int32(i))
	}
	sc.par = par
	find := func(x int32) int32 {
		for par[x] != x {
			x = par[x]
		}
		return x
	}
	for i := range sc.obs {
		for j := range i {
			if overlaps(ht.addr(sc.obs[i]), ht.addr(sc.obs[j])) {
				ri, rj := find(int32(i)), find(int32(j))
				if ri != rj {
					par[max(ri, rj)] = min(ri, rj)
				}
			}
		}
	}
	sc.pool, sc.ds = sc.pool[:0], sc.ds[:0]
	for root := range int32(len(sc.obs)) {
		if find(root) != root {
			continue
		}
		from := len(sc.pool)
		sc.srcs = sc.srcs[:0]
		for i := root; i < int32(len(sc.obs)); i++ {
			if find(i) == root {
				sc.pool = append(sc.pool, ht.addr(sc.obs[i])...)
				sc.srcs = append(sc.srcs, l.src[sc.obs[i]])
			}
		}
		tids := sc.pool[from:]
		slices.Sort(tids)
		tids = slices.Compact(tids)
		sc.pool = sc.pool[:from+len(tids)]
		slices.Sort(sc.srcs)
		sc.ds = append(sc.ds, dwelling{tids: tids, votes: len(slices.Compact(sc.srcs))})
	}
	slices.SortFunc(sc.ds, func(a, b dwelling) int { return cmpInt(a.tids[0], b.tids[0]) })
	return sc.ds
}

func overlaps(a, b []int32) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func (l *linker) hfind(x int32) int32 {
	for l.hparent[x] != x {
		l.hparent[x] = l.hparent[l.hparent[x]]
		x = l.hparent[x]
	}
	return x
}

// unionHouseholds joins the households of persons a and b on a token of
// kind; the guard has been checked for the whole component.
func (l *linker) unionHouseholds(a, b int32, kind matchkey.Kind) {
	ra, rb := l.hfind(a), l.hfind(b)
	if ra == rb {
		return
	}
	if l.hsize[ra] < l.hsize[rb] || (l.hsize[ra] == l.hsize[rb] && rb < ra) {
		ra, rb = rb, ra
	}
	l.hparent[rb] = ra
	l.hsize[ra] += l.hsize[rb]
	l.hrefs[ra] = append(l.hrefs[ra], l.hrefs[rb]...)
	l.hrefs[rb] = nil
	l.res.HouseholdLinks = append(l.res.HouseholdLinks, Union{A: int(a), B: int(b), Kind: kind})
	l.res.LinksByKind[kind]++
}

func (l *linker) result() *Result {
	res := l.res
	res.Persons = l.npers
	res.PersonOf = make([]int, len(l.orig))
	for c, i := range l.orig {
		res.PersonOf[i] = int(l.person[c])
	}
	res.HouseholdOf = make([]int, l.npers)
	for p, h := range denseIDs(l.npers, l.hfind) {
		res.HouseholdOf[p] = int(h)
		res.Households = max(res.Households, int(h)+1)
	}
	return res
}

// buildingKind reports whether findBuildings reads kind.
func buildingKind(kind matchkey.Kind) bool {
	return kind == matchkey.BlockFamilyPostcode || kind == matchkey.BlockPostcodeNumber
}

// findBuildings numbers the buildings (records sharing a postcode + house
// number block token) and the families at a postcode (records sharing a
// family name + postcode block token), and then keeps only the two
// kinds' blocks for the similarity tier.
func (l *linker) findBuildings() {
	n := len(l.orig)
	kb := newListsBuilder(n)
	for k := range l.kinds {
		ks := &l.kinds[k]
		if ks.info.Kind != matchkey.BlockFamilyPostcode {
			continue
		}
		ks.entries = forEachGroup(ks.entries, nil, func(es []entry) {
			ks.blocks.add(es, l.cfg.MaxBlockRecords)
			if len(es) > 1 {
				for _, e := range es {
					kb.count(e.rec)
				}
			}
		})
		kb.layout()
		var g int32
		forEachGroup(ks.entries, nil, func(es []entry) {
			if len(es) > 1 {
				for _, e := range es {
					kb.place(e.rec, g)
				}
			}
			g++
		})
		ks.entries = nil
	}
	if kb.ls.items == nil {
		kb.layout()
	}
	l.kin = kb.done()
	l.building = make([]int32, n)
	for i := range l.building {
		l.building[i] = -1
	}
	for k := range l.kinds {
		ks := &l.kinds[k]
		if ks.info.Kind != matchkey.BlockPostcodeNumber {
			continue
		}
		var b int32
		ks.entries = forEachGroup(ks.entries, nil, func(g []entry) {
			ks.blocks.add(g, l.cfg.MaxBlockRecords)
			for _, e := range g {
				l.building[e.rec] = b
			}
			b++
		})
		ks.entries = nil
	}
}

// groupOverridesAddress clears home[p] for every person p whose home rests
// on a single source (votes[p] == 1) and whose group-mates' homes are
// all elsewhere (at least one of them has one). Two persons of one group
// who each have one source for a different address both lose theirs:
// nothing says which address is stale, and joining both would weld the
// two households living there. The group still joins the two. The
// decisions are taken on the homes as they were before any is cleared,
// so they do not depend on the order of persons.
func (l *linker) groupOverridesAddress(homeOf func(p int32) []int32, home []span, votes []int32, ht *hhTokens) {
	// Decided for ranges of persons on as many goroutines as may run.
	const size = 1 << 14
	drops := make([][]int32, (len(home)+size-1)/size)
	l.parallelRanges(len(home), size, func(i, from, to int) {
		for p := int32(from); p < int32(to); p++ {
			hp := homeOf(p)
			if len(hp) == 0 || votes[p] != 1 || len(ht.personGroups.at(p)) == 0 {
				continue
			}
			with, elsewhere := false, false
			for _, g := range ht.personGroups.at(p) {
				for _, q := range ht.groupPersons.at(g) {
					hq := homeOf(q)
					if q == p || len(hq) == 0 {
						continue
					}
					if overlaps(hq, hp) {
						with = true
					} else {
						elsewhere = true
					}
				}
			}
			if elsewhere && !with {
				drops[i] = append(drops[i], p)
			}
		}
	})
	n := 0
	for _, drop := range drops {
		for _, p := range drop {
			home[p] = span{}
		}
		n += len(drop)
	}
	if n > 0 {
		l.res.Blocked[GuardGroupAddress] += n
	}
}

// kinFlat returns the one flat of a building with a resident other than
// record r who shares a family name + postcode block with r, if there is
// exactly one. The building's flats are given as its residents' records
// and, beside each, the flat's tid, sorted by tid.
func (l *linker) kinFlat(r int32, tids, recs []int32) (int32, bool) {
	kr := l.kin.at(r)
	if len(kr) == 0 {
		return 0, false
	}
	found, n := int32(0), 0
	for i := 0; i < len(tids); {
		f := tids[i]
		j := i
		for ; j < len(tids) && tids[j] == f; j++ {
		}
		for _, q := range recs[i:j] {
			if q != r && overlaps(kr, l.kin.at(q)) {
				found, n = f, n+1
				break
			}
		}
		i = j
	}
	return found, n == 1
}
