package synth

import (
	"fmt"
	"math/rand/v2"
)

// Dwelling kinds.
const (
	dwellPrivate = iota
	dwellHostel
	dwellCareHome
)

// Household kinds.
const (
	hhSingle = iota
	hhSingleOld
	hhCouple
	hhCoupleKids
	hhLoneParent
	hhMultiGen
	hhShare
	hhHostel
	hhCareHome
	hhNoFixedAbode
)

// Household flags.
const (
	hhCouncilKnown = 1 << iota // the council holds records of the members
	hhTroubled                 // problems were planted in the household
)

type street struct {
	name     uint16 // index into tables.streets
	typ      uint8  // index into tables.streetTypes
	district uint8  // index into tables.districts
}

type dwelling struct {
	street   int32
	postcode int32  // index into District.postcodes
	number   uint16 // house number; 0 when the dwelling has a name
	name     uint8  // index into tables.houseNames when number is 0
	flat     uint8  // flat number; 0 when not a flat
	kind     uint8
}

type household struct {
	dwelling int32 // -1: no fixed abode
	first    int32 // index of the first member in District.persons
	n        uint8 // number of members
	kind     uint8
	flags    uint8
	depriv   uint8 // 0..2, raises background rates of problems
}

// person is kept small: a district of millions of people lives in memory.
// Name fields index tables.names; fields documented "+1" use 0 for none.
type person struct {
	dob        int32
	hh         int32
	given      uint16
	middle     uint16 // +1
	family     uint16
	family2    uint16 // +1: second part of a double-barrelled surname
	prevFamily uint16 // +1: surname before marriage
	sex        uint8
	unit       uint8 // benefit unit within the household

	// police
	offAgo  uint16 // days before as-of of the latest offence; 0: none
	asbAgo  uint16 // days before as-of of the latest ASB intervention
	outcome uint8
	asbKind uint8

	// education
	enrol   uint8
	eflags  uint8  // eduPermEx
	fte     uint8  // fixed-term exclusions, last 3 terms
	absence uint16 // unauthorised absence, tenths of a per cent, last 3 terms

	// council
	cin      uint8
	cflags   uint8
	evictAgo uint16

	// DWP: up to two claims
	ben      [2]uint8
	benRole  uint8     // bit i: claim i is the partner's entry of a joint claim
	benStart [2]uint16 // days before as-of
	benEnd   [2]uint16 // days before as-of; 0: live claim
}

// Police outcomes.
const (
	outcomeNone = iota
	outcomeProven
	outcomeNFA
	outcomeCharged
	outcomeDiscontinued
)

func outcomeName(o uint8) string {
	switch o {
	case outcomeProven:
		return "PROVEN"
	case outcomeNFA:
		return "NFA"
	case outcomeCharged:
		return "CHARGED"
	case outcomeDiscontinued:
		return "DISCONTINUED"
	}
	return ""
}

// ASB interventions.
const (
	asbNone = iota
	asbASBO
	asbCBO
	asbContract
	asbInjunction
)

func asbName(k uint8) string {
	switch k {
	case asbASBO:
		return "ASBO"
	case asbCBO:
		return "CRIMINAL BEHAVIOUR ORDER"
	case asbContract:
		return "ASB CONTRACT"
	case asbInjunction:
		return "INJUNCTION"
	}
	return ""
}

// Enrolment states.
const (
	enrolNone     = iota // not of school age
	enrolCurrent         // C: single registration
	enrolDualMain        // M: dual registration, main
	enrolPRU             // pupil referral unit
	enrolAP              // alternative provision
	enrolOffRoll         // not on any school roll (children missing education)
)

func enrolCode(e uint8) string {
	switch e {
	case enrolCurrent:
		return "C"
	case enrolDualMain:
		return "M"
	case enrolPRU:
		return "PRU"
	case enrolAP:
		return "AP"
	case enrolOffRoll:
		return "CME"
	}
	return ""
}

// Education flags.
const eduPermEx = 1 // permanently excluded

// Children's-services statuses.
const (
	cinNone = iota
	cinCIN
	cinCP
	cinLAC
	cinClosed
)

func cinName(c uint8) string {
	switch c {
	case cinCIN:
		return "CIN"
	case cinCP:
		return "CP"
	case cinLAC:
		return "LAC"
	case cinClosed:
		return "CLOSED"
	}
	return ""
}

// Council flags.
const (
	cflagDA  = 1 << iota // domestic abuse
	cflagCFC             // local cause for concern
)

// Benefits. The first six are out-of-work benefits under the 2012
// framework; the others must not count.
const (
	benNone = iota
	benJSA
	benESA
	benIS
	benIB
	benCA
	benSDA
	benPIP
	benCB
	benPC
	benDLA
	benAA
)

func benefitCode(b uint8) string {
	switch b {
	case benJSA:
		return "JSA"
	case benESA:
		return "ESA"
	case benIS:
		return "IS"
	case benIB:
		return "IB"
	case benCA:
		return "CA"
	case benSDA:
		return "SDA"
	case benPIP:
		return "PIP"
	case benCB:
		return "CB"
	case benPC:
		return "PC"
	case benDLA:
		return "DLA"
	case benAA:
		return "AA"
	}
	return ""
}

func outOfWork(b uint8) bool { return b >= benJSA && b <= benSDA }

// rec is one row of an extract: the person it describes and, for DWP,
// which of the person's claims.
type rec struct {
	p    int32
	slot uint8
}

// District is a generated district: its households, people and facts, and
// the rows of each agency extract. It renders the extracts and the truth
// files with WriteDir.
type District struct {
	cfg        Config
	asof       int32
	t          *tables
	streets    []street
	postcodes  []string
	dwellings  []dwelling
	households []household
	persons    []person
	recs       [numAgencies][]rec
	rates      [numAgencies]Rates
	flagged    map[string]int // filled by WriteDir
}

const (
	agCouncil = iota
	agEducation
	agPolice
	agDWP
	numAgencies
)

// Generate builds the district cfg describes. The same cfg always yields
// the same district.
func Generate(cfg Config) (*District, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t, err := loadTables()
	if err != nil {
		return nil, err
	}
	d := &District{cfg: cfg, asof: daysOf(cfg.AsOf), t: t}
	for i, a := range Agencies() {
		if d.rates[i], err = cfg.Errors.Resolved(a); err != nil {
			return nil, err
		}
	}
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73796e74682f31))
	d.build(r)
	d.plant(r)
	d.collect(r)
	return d, nil
}

// build makes the dwellings, households and people.
func (d *District) build(r *rand.Rand) {
	H := d.cfg.Households
	var nLarge, nNFA int
	if H >= 1000 {
		nLarge = max(2, H/2500)
		nNFA = H * 3 / 1000
	}
	residents := make([]int, nLarge)
	total := 0
	for i := range residents {
		residents[i] = 15 + r.IntN(26)
		total += residents[i]
	}
	private := H - total - nNFA
	d.households = make([]household, 0, H)
	d.persons = make([]person, 0, H*5/2)

	// Dwellings: a few per cent more than private households, so that
	// some addresses are empty (and can still appear as stale addresses).
	// Hostels and care homes take some of the spare dwellings.
	d.makeDwellings(r, private+private/25+nLarge+1)
	order := r.Perm(len(d.dwellings))
	for i := 0; i < private; i++ {
		d.addPrivate(r, int32(order[i]))
	}
	for i, n := range residents {
		dw := int32(order[private+i])
		w := &d.dwellings[dw]
		w.flat = 0
		kind := uint8(hhHostel)
		w.kind = dwellHostel
		if i%2 == 1 {
			kind = hhCareHome
			w.kind = dwellCareHome
		}
		for j := 0; j < n; j++ {
			d.addCommunal(r, dw, kind)
		}
	}
	for i := 0; i < nNFA; i++ {
		d.addCommunal(r, -1, hhNoFixedAbode)
	}
}

const postcodeUnitLetters = "ABDEFGHJLNPQRSTUWXYZ"

func (d *District) makeDwellings(r *rand.Rand, need int) {
	t := d.t
	// Each postcode district hands out its units (sector 1-9, two unit
	// letters) in a random order.
	pcCount := make([]int, len(t.districts))
	pcPerm := newPerm(9*400, r.Uint64())
	newPostcode := func(dist uint8) int32 {
		c := int(pcPerm.at(uint64((pcCount[dist] + int(dist)*37) % 3600)))
		pcCount[dist]++
		sector := 1 + c/400
		u := c % 400
		pc := fmt.Sprintf("%s %d%c%c", t.districts[dist].outward, sector,
			postcodeUnitLetters[u/20], postcodeUnitLetters[u%20])
		d.postcodes = append(d.postcodes, pc)
		return int32(len(d.postcodes) - 1)
	}
	d.dwellings = make([]dwelling, 0, need)
	for len(d.dwellings) < need {
		s := street{
			name:     uint16(r.IntN(len(t.streets))),
			typ:      uint8(t.streetType.pick(r)),
			district: uint8(t.district.pick(r)),
		}
		si := int32(len(d.streets))
		d.streets = append(d.streets, s)
		buildings := 6 + r.IntN(70)
		pc := newPostcode(s.district)
		inUnit := 0
		unitSize := 10 + r.IntN(15)
		for b := 1; b <= buildings; b++ {
			if inUnit >= unitSize {
				pc = newPostcode(s.district)
				inUnit = 0
			}
			switch x := r.Float64(); {
			case x < 0.03: // a block of flats
				n := 4 + r.IntN(13)
				for f := 1; f <= n; f++ {
					d.dwellings = append(d.dwellings, dwelling{street: si, postcode: pc, number: uint16(b), flat: uint8(f)})
				}
				inUnit += n
			case x < 0.06: // converted house: two or three flats
				n := 2 + r.IntN(2)
				for f := 1; f <= n; f++ {
					d.dwellings = append(d.dwellings, dwelling{street: si, postcode: pc, number: uint16(b), flat: uint8(f)})
				}
				inUnit += n
			case x < 0.08: // a named house
				d.dwellings = append(d.dwellings, dwelling{street: si, postcode: pc, name: uint8(r.IntN(len(t.houseNames)))})
				inUnit++
			default:
				d.dwellings = append(d.dwellings, dwelling{street: si, postcode: pc, number: uint16(b)})
				inUnit++
			}
		}
	}
}

// age returns a date of birth for someone aged years at as-of.
func (d *District) birth(r *rand.Rand, years int) int32 {
	if years < 0 {
		years = 0
	}
	y, m, dd := civilFromDays(d.asof)
	latest := daysFromCivil(y-years, m, min(dd, daysIn(y-years, m)))
	earliest := daysFromCivil(y-years-1, m, min(dd, daysIn(y-years-1, m))) + 1
	return earliest + int32(r.IntN(int(latest-earliest+1)))
}

// newPerson appends a person of the given origin, sex and age.
func (d *District) newPerson(r *rand.Rand, hh int32, origin int, sex uint8, years int) *person {
	dob := d.birth(r, years)
	by, _, _ := civilFromDays(dob)
	era := eraYoung
	if by < 1980 {
		era = eraOld
	}
	g := &d.t.given[origin][sex][era]
	p := person{dob: dob, hh: hh, sex: sex, given: g.pick(r)}
	pMiddle := 0.3
	if d.t.origins[origin] == "british" {
		pMiddle = 0.55
	}
	if r.Float64() < pMiddle {
		m := g.pick(r)
		if m != p.given {
			p.middle = m + 1
		}
	}
	p.family = d.t.surname[origin].pick(r)
	d.persons = append(d.persons, p)
	return &d.persons[len(d.persons)-1]
}

func randSex(r *rand.Rand) uint8 {
	if r.IntN(100) < 49 {
		return sexMale
	}
	return sexFemale
}

func otherSex(s uint8) uint8 {
	if s == sexMale {
		return sexFemale
	}
	return sexMale
}

// addPrivate adds a private household living at dwelling dw.
func (d *District) addPrivate(r *rand.Rand, dw int32) {
	hi := int32(len(d.households))
	h := household{dwelling: dw, first: int32(len(d.persons))}
	origin := int(d.t.origin.pick(r))
	partnerOrigin := func() int {
		if r.Float64() < 0.08 {
			return int(d.t.origin.pick(r))
		}
		return origin
	}
	switch x := r.Float64(); {
	case x < 0.15:
		h.kind = hhSingle
		d.newPerson(r, hi, origin, randSex(r), 18+r.IntN(47))
	case x < 0.28:
		h.kind = hhSingleOld
		sex := uint8(sexFemale)
		if r.Float64() < 0.35 {
			sex = sexMale
		}
		d.newPerson(r, hi, origin, sex, 65+r.IntN(34))
	case x < 0.52:
		h.kind = hhCouple
		age := 20 + r.IntN(70)
		d.couple(r, hi, origin, partnerOrigin(), age)
	case x < 0.76:
		h.kind = hhCoupleKids
		mum := d.couple(r, hi, origin, partnerOrigin(), 22+r.IntN(34))
		d.children(r, hi, origin, mum, true)
	case x < 0.86:
		h.kind = hhLoneParent
		sex := uint8(sexFemale)
		if r.Float64() < 0.1 {
			sex = sexMale
		}
		d.newPerson(r, hi, origin, sex, 18+r.IntN(38))
		d.children(r, hi, origin, int32(len(d.persons)-1), false)
	case x < 0.89:
		h.kind = hhMultiGen
		mum := d.couple(r, hi, origin, origin, 25+r.IntN(25))
		d.children(r, hi, origin, mum, true)
		head := d.persons[h.first]
		gAge := ageAt(head.dob, d.asof) + 22 + r.IntN(12)
		if r.Float64() < 0.6 {
			gm := d.newPerson(r, hi, origin, sexFemale, gAge)
			gm.prevFamily = gm.family + 1
			gm.family = head.family
			gm.unit = 1
		}
		gf := d.newPerson(r, hi, origin, sexMale, gAge+r.IntN(4))
		gf.family = head.family
		gf.unit = 1
	default:
		h.kind = hhShare
		n := 2 + r.IntN(4)
		for i := 0; i < n; i++ {
			p := d.newPerson(r, hi, int(d.t.origin.pick(r)), randSex(r), 19+r.IntN(22))
			p.unit = uint8(i)
		}
	}
	h.n = uint8(len(d.persons) - int(h.first))
	switch x := r.Float64(); {
	case x < 0.70:
		h.depriv = 0
	case x < 0.92:
		h.depriv = 1
	default:
		h.depriv = 2
	}
	if h.kind == hhLoneParent && h.depriv < 2 && r.Float64() < 0.3 {
		h.depriv++
	}
	d.households = append(d.households, h)
}

// couple adds two partners with the first aged age and returns the index
// of the woman (or of the second partner in a same-sex couple).
func (d *District) couple(r *rand.Rand, hi int32, o1, o2 int, age int) int32 {
	s1 := randSex(r)
	s2 := otherSex(s1)
	if r.Float64() < 0.03 {
		s2 = s1
	}
	a2 := max(18, age-6+r.IntN(13))
	i1 := int32(len(d.persons))
	d.newPerson(r, hi, o1, s1, age)
	p2 := d.newPerson(r, hi, o2, s2, a2)
	p1 := &d.persons[i1]
	pMarried := 0.5
	if age > 50 {
		pMarried = 0.85
	}
	if s1 != s2 && r.Float64() < pMarried {
		// The wife took the husband's name.
		wife, husband := p2, p1
		if s1 == sexFemale {
			wife, husband = p1, p2
		}
		wife.prevFamily = wife.family + 1
		wife.family = husband.family
		wife.family2 = husband.family2
	}
	if s1 == sexFemale {
		return i1
	}
	return i1 + 1
}

// children adds the children of the mother at index mum (who may be a lone
// father); coupled says whether her partner is the person next to her.
// Their given names are drawn from the household's origin.
func (d *District) children(r *rand.Rand, hi int32, origin int, mum int32, coupled bool) {
	m := d.persons[mum]
	mAge := ageAt(m.dob, d.asof)
	var dad person
	haveDad := false
	if coupled {
		dadIdx := mum + 1
		if int(dadIdx) >= len(d.persons) || d.persons[dadIdx].hh != hi {
			dadIdx = mum - 1
		}
		dad = d.persons[dadIdx]
		haveDad = true
	}
	n := 1
	switch x := r.Float64(); {
	case x < 0.45:
		n = 1
	case x < 0.83:
		n = 2
	case x < 0.95:
		n = 3
	default:
		n = 4
	}
	maxAge := min(mAge-17, 18)
	if maxAge < 0 {
		maxAge = 0
	}
	// Surname scheme.
	married := haveDad && m.family == dad.family
	var exFamily uint16
	hasEx := false
	stepKids := 0
	if !coupled || r.Float64() < 0.15 {
		// Children of an earlier partner.
		hasEx = true
		exFamily = d.t.surname[origin].pick(r)
		if coupled {
			stepKids = 1 + r.IntN(2)
		} else {
			stepKids = n
			if r.Float64() < 0.4 {
				hasEx = false // the lone parent's own surname
			}
		}
	}
	hyphen := haveDad && !married && m.family2 == 0 && dad.family2 == 0 && m.family != dad.family && r.Float64() < 0.15
	ages := make([]int, n)
	for i := range ages {
		ages[i] = r.IntN(maxAge + 1)
		if mAge > 40 && r.Float64() < 0.1 {
			ages[i] = 19 + r.IntN(min(7, mAge-37))
		}
	}
	// Oldest first, so step-children are the older ones.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ages[j] > ages[j-1]; j-- {
			ages[j], ages[j-1] = ages[j-1], ages[j]
		}
	}
	for i, a := range ages {
		c := d.newPerson(r, hi, origin, randSex(r), a)
		switch {
		case i < stepKids && hasEx:
			c.family, c.family2 = exFamily, 0
		case i < stepKids || !haveDad:
			c.family, c.family2 = m.family, m.family2
		case married:
			c.family, c.family2 = dad.family, dad.family2
		case hyphen:
			c.family, c.family2 = dad.family, m.family+1
		case r.Float64() < 0.7:
			c.family, c.family2 = dad.family, dad.family2
		default:
			c.family, c.family2 = m.family, m.family2
		}
	}
}

// addCommunal adds a one-person household: a resident of a hostel or care
// home (dw >= 0) or a person of no fixed abode (dw < 0).
func (d *District) addCommunal(r *rand.Rand, dw int32, kind uint8) {
	hi := int32(len(d.households))
	h := household{dwelling: dw, first: int32(len(d.persons)), n: 1, kind: kind, depriv: 2}
	origin := int(d.t.origin.pick(r))
	switch kind {
	case hhCareHome:
		h.depriv = 0
		sex := uint8(sexFemale)
		if r.Float64() < 0.3 {
			sex = sexMale
		}
		p := d.newPerson(r, hi, origin, sex, 72+r.IntN(28))
		if sex == sexFemale && r.Float64() < 0.7 {
			p.prevFamily = d.t.surname[origin].pick(r) + 1
		}
	default:
		sex := uint8(sexMale)
		if r.Float64() < 0.25 {
			sex = sexFemale
		}
		d.newPerson(r, hi, origin, sex, 18+r.IntN(45))
	}
	d.households = append(d.households, h)
}
