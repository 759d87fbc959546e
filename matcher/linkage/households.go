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
		forEachGroup(ks.entries, func(g []entry) {
			ps := make([]int32, 0, len(g))
			for _, e := range g {
				ps = append(ps, l.person[e.rec])
			}
			slices.Sort(ps)
			ps = slices.Compact(ps)
			if len(ps) > l.cfg.MaxHouseholdPersons {
				l.res.Review = append(l.res.Review, ReviewItem{Kind: ks.info.Kind, Source: l.sourceName(g[0], class), Value: g[0].value(), Records: len(g), Persons: len(ps)})
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
			groupPersons = append(groupPersons, ps)
			groupKind = append(groupKind, ks.info.Kind)
			groupSrc = append(groupSrc, g[0].src)
			for _, p := range ps {
				personGroups[p] = append(personGroups[p], gid)
			}
		})
		ks.entries = nil
	}

	// A house token (an address without a flat) in a building where other
	// records name flats is ambiguous: most often a flat whose number was
	// left off. It is not used to join households.
	multi := map[int32]bool{}
	for r, tids := range recAddr {
		if b := l.building[r]; b >= 0 {
			for _, t := range tids {
				if tidKind[t] == matchkey.AddressLine {
					multi[b] = true
				}
			}
		}
	}
	dropped := map[int32]bool{}
	for r, tids := range recAddr {
		if b := l.building[r]; b < 0 || !multi[b] {
			continue
		}
		kept := tids[:0]
		for _, t := range tids {
			if tidKind[t] == matchkey.House {
				dropped[t] = true
				continue
			}
			kept = append(kept, t)
		}
		recAddr[r] = kept
	}
	if len(dropped) > 0 {
		l.res.Blocked[GuardHouseInFlats] += len(dropped)
	}

	// Pass 1: each person's dwellings; a clear winner is the home.
	home := make([][]int32, np)
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
		if len(top) == 1 {
			home[p] = top[0].tids
			continue
		}
		ambiguous[p] = top
		amb = append(amb, p)
	}
	// Persons whose home is settled, per address token.
	homePersons := make([][]int32, len(tidKind))
	for p, tids := range home {
		for _, t := range tids {
			homePersons[t] = append(homePersons[t], int32(p))
		}
	}
	// Pass 2: settle ties using the settled homes of others. Tied
	// persons are few (a few per cent), so plain maps are fine here.
	for _, p := range amb {
		var best []int32
		bestGroup, bestOthers, tied := -1, -1, false
		for _, d := range ambiguous[p] {
			inD := func(q int32) bool {
				for _, t := range home[q] {
					if _, ok := slices.BinarySearch(d.tids, t); ok {
						return true
					}
				}
				return false
			}
			grouped := map[int32]bool{}
			for _, gid := range personGroups[p] {
				for _, q := range groupPersons[gid] {
					if q != p && !grouped[q] && inD(q) {
						grouped[q] = true
					}
				}
			}
			others := map[int32]bool{}
			for _, t := range d.tids {
				for _, q := range homePersons[t] {
					others[q] = true
				}
			}
			g, o := len(grouped), len(others)
			switch {
			case g > bestGroup || g == bestGroup && o > bestOthers:
				best, bestGroup, bestOthers, tied = d.tids, g, o, false
			case g == bestGroup && o == bestOthers:
				tied = true
			}
		}
		// A tie on both scores leaves the person without a home address:
		// picking one by token order would make the result depend on the
		// keys.
		if !tied {
			home[p] = best
		}
	}

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
	apply := func(lists [][]int32, kindOf func(i int) matchkey.Kind) {
		for i := 0; i < len(lists); {
			kind := kindOf(i)
			var props [][2]int32
			for ; i < len(lists) && kindOf(i) == kind; i++ {
				for _, p := range lists[i][min(1, len(lists[i])):] {
					props = append(props, [2]int32{lists[i][0], p})
				}
			}
			mergeComponents(props, l.hfind, func(roots []int32) string { return l.householdGuard(roots, kind) },
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

// findBuildings numbers the buildings (records sharing a postcode + house
// number block token) before the block tokens are dropped.
func (l *linker) findBuildings() {
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
		ks.entries = forEachGroup(ks.entries, func(g []entry) {
			for _, e := range g {
				l.building[e.rec] = b
			}
			b++
		})
	}
}
