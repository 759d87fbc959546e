package linkage

import (
	"slices"

	"tfmatch/matchkey"
)

// dwelling is a set of address token ids one person's records agree on,
// and the number of distinct sources reporting it.
type dwelling struct {
	tids  []int32
	votes int
}

func (l *linker) linkHouseholds() {
	n := len(l.orig)
	np := l.npers
	// Records of each person, in canonical order.
	members := make([][]int32, np)
	for c := 0; c < n; c++ {
		members[l.person[c]] = append(members[l.person[c]], int32(c))
	}

	// Address tokens: number the usable ones (tid) in (strength, value)
	// order; report those held by too many persons.
	recAddr := make([][]int32, n)
	var tidKind []matchkey.Kind
	var groupPersons [][]int32 // gid -> persons
	var groupKind []matchkey.Kind
	var groupSrc []int32
	personGroups := make([][]int32, np)
	for k := range l.kinds {
		ks := &l.kinds[k]
		class := ks.info.Class
		if class != matchkey.Address && class != matchkey.Group {
			continue
		}
		var scratch []int32
		forEachGroup(ks.entries, l.groupSources(class), func(g []entry) {
			ps := scratch[:0]
			for _, e := range g {
				ps = append(ps, l.person[e.rec])
			}
			if len(ps) > 1 {
				slices.Sort(ps)
				ps = slices.Compact(ps)
			}
			scratch = ps
			if len(ps) > l.cfg.MaxHouseholdPersons {
				l.review(ReviewItem{Kind: ks.info.Kind, Source: l.sourceName(g[0], class), Records: len(g), Persons: len(ps)}, g[0])
				return
			}
			if class == matchkey.Address {
				tid := int32(len(tidKind))
				tidKind = append(tidKind, ks.info.Kind)
				for _, e := range g {
					recAddr[e.rec] = append(recAddr[e.rec], tid)
				}
				return
			}
			gid := int32(len(groupPersons))
			ps = slices.Clone(ps)
			groupPersons = append(groupPersons, ps)
			groupKind = append(groupKind, ks.info.Kind)
			groupSrc = append(groupSrc, l.src[g[0].rec])
			for _, p := range ps {
				personGroups[p] = append(personGroups[p], gid)
			}
		})
		ks.entries = nil
	}

	// A house token (an address without a flat) in a building where other
	// records name flats is ambiguous: most often a flat whose number was
	// left off. It is not used to join households as it stands. If
	// exactly one flat of the building has a resident who shares the
	// record's family name (a family name + postcode block in common),
	// the record is taken to be at that flat; otherwise it joins nobody
	// through that address.
	flats := map[int32]map[int32][]int32{} // building -> flat tid -> records
	for r, tids := range recAddr {
		if b := l.building[r]; b >= 0 {
			for _, t := range tids {
				if tidKind[t] == matchkey.AddressLine {
					if flats[b] == nil {
						flats[b] = map[int32][]int32{}
					}
					flats[b][t] = append(flats[b][t], int32(r))
				}
			}
		}
	}
	dropped := map[int32]bool{} // house tids left unused
	resolved := 0
	var moves [][2]int32 // record, flat tid
	for r, tids := range recAddr {
		b := l.building[r]
		if b < 0 || flats[b] == nil {
			continue
		}
		kept := tids[:0]
		var house []int32
		for _, t := range tids {
			if tidKind[t] == matchkey.House {
				house = append(house, t)
				continue
			}
			kept = append(kept, t)
		}
		recAddr[r] = kept
		if len(house) == 0 {
			continue
		}
		if f, ok := l.kinFlat(int32(r), flats[b]); ok {
			moves = append(moves, [2]int32{int32(r), f})
			resolved++
			continue
		}
		for _, t := range house {
			dropped[t] = true
		}
	}
	// Applied after the scan, so that a record placed at a flat does not
	// count as that flat's resident for another record.
	for _, m := range moves {
		recAddr[m[0]] = append(recAddr[m[0]], m[1])
		slices.Sort(recAddr[m[0]])
	}
	if len(dropped) > 0 {
		l.res.Blocked[GuardHouseInFlats] += len(dropped)
	}
	if resolved > 0 {
		l.res.FlatsByKin += resolved
	}

	// Pass 1: each person's dwellings; a clear winner is the home.
	home := make([][]int32, np)
	homeVotes := make([]int, np)
	ambiguous := map[int32][]dwelling{}
	var amb []int32
	for p := int32(0); p < int32(np); p++ {
		ds := l.dwellings(members[p], recAddr)
		if len(ds) == 0 {
			continue
		}
		best := 0
		for _, d := range ds {
			best = max(best, d.votes)
		}
		var top []dwelling
		for _, d := range ds {
			if d.votes == best {
				top = append(top, d)
			}
		}
		homeVotes[p] = best
		if len(top) == 1 {
			home[p] = top[0].tids
			continue
		}
		ambiguous[p] = top
		amb = append(amb, p)
	}
	// Pass 2: settle a tie by the person's household and unit groups: the
	// dwelling where most of its group-mates have settled homes wins. A
	// tie there too leaves the person without a home address: picking
	// one by token order would make the result depend on the keys, and
	// picking the one with more (or fewer) residents would guess. Tied
	// persons are few (a few per cent), so plain maps are fine here.
	for _, p := range amb {
		var best []int32
		bestGroup, tied := -1, false
		for _, d := range ambiguous[p] {
			grouped := map[int32]bool{}
			for _, gid := range personGroups[p] {
				for _, q := range groupPersons[gid] {
					if q != p && !grouped[q] && overlaps(home[q], d.tids) {
						grouped[q] = true
					}
				}
			}
			switch g := len(grouped); {
			case g > bestGroup:
				best, bestGroup, tied = d.tids, g, false
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
	l.groupOverridesAddress(home, homeVotes, personGroups, groupPersons)

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
	for p, gids := range personGroups {
		for _, gid := range gids {
			if groupKind[gid] == matchkey.HouseholdGroup {
				l.hrefs[p] = append(l.hrefs[p], hhRef{src: groupSrc[gid], gid: gid})
			}
		}
	}
	tidPersons := make([][]int32, len(tidKind))
	for p, tids := range home {
		for _, t := range tids {
			tidPersons[t] = append(tidPersons[t], int32(p))
		}
	}
	// One kind at a time, strongest first (tids and gids are numbered in
	// kind order), each kind's unions applied as a whole.
	cs := newComponents(np)
	apply := func(lists [][]int32, kindOf func(i int) matchkey.Kind) {
		for i := 0; i < len(lists); {
			kind := kindOf(i)
			var props [][2]int32
			for ; i < len(lists) && kindOf(i) == kind; i++ {
				for _, p := range lists[i][min(1, len(lists[i])):] {
					props = append(props, [2]int32{lists[i][0], p})
				}
			}
			mergeComponents(cs, props, l.hfind, func(roots []int32) string { return l.householdGuard(roots, kind) },
				func(a, b int32) { l.unionHouseholds(a, b, kind) }, l.res.Blocked)
		}
	}
	apply(tidPersons, func(i int) matchkey.Kind { return tidKind[i] })
	apply(groupPersons, func(i int) matchkey.Kind { return groupKind[i] })
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

// dwellings groups one person's records into dwellings: records whose
// address tokens overlap report the same dwelling. Dwellings come out in
// order of their smallest token id, each with its tids sorted.
func (l *linker) dwellings(recs []int32, recAddr [][]int32) []dwelling {
	type obs struct {
		tids []int32
		src  int32
	}
	var os []obs
	for _, r := range recs {
		if len(recAddr[r]) > 0 {
			os = append(os, obs{recAddr[r], l.src[r]})
		}
	}
	if len(os) == 0 {
		return nil
	}
	// Tiny union-find over observations (a person has a handful).
	par := make([]int, len(os))
	for i := range par {
		par[i] = i
	}
	find := func(x int) int {
		for par[x] != x {
			x = par[x]
		}
		return x
	}
	for i := range os {
		for j := 0; j < i; j++ {
			if overlaps(os[i].tids, os[j].tids) {
				ri, rj := find(i), find(j)
				if ri != rj {
					par[max(ri, rj)] = min(ri, rj)
				}
			}
		}
	}
	byRoot := map[int]int{}
	var ds []dwelling
	var srcs [][]int32
	for i, o := range os {
		r := find(i)
		di, ok := byRoot[r]
		if !ok {
			di = len(ds)
			byRoot[r] = di
			ds = append(ds, dwelling{})
			srcs = append(srcs, nil)
		}
		ds[di].tids = append(ds[di].tids, o.tids...)
		srcs[di] = append(srcs[di], o.src)
	}
	for i := range ds {
		slices.Sort(ds[i].tids)
		ds[i].tids = slices.Compact(ds[i].tids)
		slices.Sort(srcs[i])
		ds[i].votes = len(slices.Compact(srcs[i]))
	}
	slices.SortFunc(ds, func(a, b dwelling) int { return cmpInt(a.tids[0], b.tids[0]) })
	return ds
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
	l.kin = make([][]int32, len(l.orig))
	for k := range l.kinds {
		ks := &l.kinds[k]
		if ks.info.Kind != matchkey.BlockFamilyPostcode {
			continue
		}
		var g int32
		ks.entries = forEachGroup(ks.entries, nil, func(es []entry) {
			ks.blocks.add(es, l.cfg.MaxBlockRecords)
			if len(es) > 1 {
				for _, e := range es {
					l.kin[e.rec] = append(l.kin[e.rec], g)
				}
			}
			g++
		})
		ks.entries = nil
	}
	l.building = make([]int32, len(l.orig))
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
// on a single source (homeVotes[p] == 1) and whose group-mates' homes are
// all elsewhere (at least one of them has one). Two persons of one group
// who each have one source for a different address both lose theirs:
// nothing says which address is stale, and joining both would weld the
// two households living there. The group still joins the two. The
// decisions are taken
// on the homes as they were before any is cleared, so they do not depend
// on the order of persons.
func (l *linker) groupOverridesAddress(home [][]int32, homeVotes []int, personGroups, groupPersons [][]int32) {
	var drop []int32
	for p := range home {
		if len(home[p]) == 0 || homeVotes[p] != 1 || len(personGroups[p]) == 0 {
			continue
		}
		with, elsewhere := false, false
		for _, g := range personGroups[p] {
			for _, q := range groupPersons[g] {
				if q == int32(p) || len(home[q]) == 0 {
					continue
				}
				if overlaps(home[q], home[p]) {
					with = true
				} else {
					elsewhere = true
				}
			}
		}
		if elsewhere && !with {
			drop = append(drop, int32(p))
		}
	}
	for _, p := range drop {
		home[p] = nil
	}
	if len(drop) > 0 {
		l.res.Blocked[GuardGroupAddress] += len(drop)
	}
}

// kinFlat returns the one flat of a building (flat tid -> records) with a
// resident other than record r who shares a family name + postcode block
// with r, if there is exactly one.
func (l *linker) kinFlat(r int32, flats map[int32][]int32) (int32, bool) {
	if len(l.kin[r]) == 0 {
		return 0, false
	}
	found, n := int32(0), 0
	for f, recs := range flats {
		for _, q := range recs {
			if q != r && overlaps(l.kin[r], l.kin[q]) {
				found, n = f, n+1
				break
			}
		}
	}
	return found, n == 1
}
