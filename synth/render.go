package synth

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Indicator bits, in the order of the truth files' columns.
const (
	indCrimeASB = 1 << iota
	indEducation
	indWork
	indLocalConcern
)

// Indicator names as the mapping files and truth files spell them.
const (
	IndicatorCrimeASB     = "crime_asb"
	IndicatorEducation    = "education"
	IndicatorWork         = "work"
	IndicatorLocalConcern = "local_concern"
)

// Indicators lists the phase-1 indicator names, in the truth files' order.
func Indicators() []string {
	return []string{IndicatorCrimeASB, IndicatorEducation, IndicatorWork, IndicatorLocalConcern}
}

// headers are the extract columns, per agency.
func header(ag int) []string {
	switch ag {
	case agCouncil:
		return []string{"PERSON_ID", "TITLE", "FORENAME", "MIDDLE_NAMES", "SURNAME", "DATE_OF_BIRTH",
			"GENDER", "NHS_NUMBER", "ADDRESS_LINE_1", "ADDRESS_LINE_2", "ADDRESS_LINE_3", "TOWN",
			"POSTCODE", "UPRN", "FAMILY_REF", "CIN_STATUS", "DOMESTIC_ABUSE_FLAG", "CAUSE_FOR_CONCERN",
			"HOUSING_ASB_EVICTION_DATE"}
	case agEducation:
		return []string{"PupilID", "UPN", "LegalSurname", "LegalForename", "LegalMiddleNames",
			"PreferredSurname", "DOB", "Sex", "AddressLine1", "AddressLine2", "AddressLine3",
			"AddressLine4", "Postcode", "LAEstab", "EnrolmentStatus", "OnRoll",
			"UnauthorisedAbsencePct", "FixedTermExclusions", "PermanentlyExcluded"}
	case agPolice:
		return []string{"NOMINAL_ID", "SURNAME", "FIRST_NAME", "SEX", "DOB", "ADDRESS", "POSTCODE",
			"OFFENCE_DATE", "OUTCOME", "ASB_INTERVENTION", "ASB_DATE"}
	case agDWP:
		return []string{"CLAIM_REF", "NINO", "SURNAME", "FORENAME", "DOB", "ADDR1", "ADDR2", "ADDR3",
			"ADDR4", "POSTCODE", "BENEFIT", "CLAIM_START", "CLAIM_END", "CLAIM_ROLE", "BENEFIT_UNIT"}
	}
	return nil
}

// ids holds the permutations that turn entity indexes into identifiers.
type ids struct {
	nino, nhs, upn, uprn perm
	record               [numAgencies]perm
	family, unit         perm
	ninoPrefixes         []string
	seed                 uint64
}

func (d *District) newIDs() *ids {
	s := uint64(d.cfg.Seed)
	pre := ninoPrefixes()
	x := &ids{
		nino:         newPerm(uint64(len(pre))*1_000_000, hash2(s, 1)),
		nhs:          newPerm(100_000_000, hash2(s, 2)),
		upn:          newPerm(8_000_000, hash2(s, 3)),
		uprn:         newPerm(900_000_000_000, hash2(s, 4)),
		family:       newPerm(9_000_000, hash2(s, 5)),
		unit:         newPerm(90_000_000, hash2(s, 6)),
		ninoPrefixes: pre,
		seed:         s,
	}
	x.record[agCouncil] = newPerm(90_000_000, hash2(s, 10))
	x.record[agEducation] = newPerm(9_000_000, hash2(s, 11))
	x.record[agPolice] = newPerm(90_000_000, hash2(s, 12))
	x.record[agDWP] = newPerm(900_000_000, hash2(s, 13))
	return x
}

func (x *ids) recordID(ag int, k int) string {
	v := x.record[ag].at(uint64(k))
	switch ag {
	case agCouncil:
		return strconv.FormatUint(10_000_000+v, 10)
	case agEducation:
		return strconv.FormatUint(1_000_000+v, 10)
	case agPolice:
		return "N" + strconv.FormatUint(10_000_000+v, 10)
	default:
		return "CR" + strconv.FormatUint(100_000_000+v, 10)
	}
}

func (x *ids) ninoOf(pi int32) string {
	k := x.nino.at(uint64(pi))
	return x.ninoPrefixes[k/1_000_000] + padInt(k%1_000_000, 6) + string(rune('A'+hash2(x.seed, uint64(pi))%4))
}

func (x *ids) nhsOf(pi int32) string { return nhsNumber(x.nhs.at(uint64(pi))) }

func (x *ids) uprnOf(dw int32) string {
	return strconv.FormatUint(100_000_000_000+x.uprn.at(uint64(dw)), 10)
}

// upnOf gives a pupil a UPN allocated by a school of the district's LA
// (383) or, for some, of a neighbouring LA, in the year they started
// school.
func (x *ids) upnOf(pi int32, dob int32) string {
	k := x.upn.at(uint64(pi))
	h := hash2(x.seed^0x75706e, uint64(pi))
	la := 383
	if h%10 == 0 {
		la = [...]int{380, 381, 382, 384}[(h/10)%4]
	}
	by, _, _ := civilFromDays(dob)
	return makeUPN(la, 2000+int(k/1000), (by+4)%100, int(k%1000))
}

func (x *ids) familyRef(hh int32) string {
	return "F" + strconv.FormatUint(1_000_000+x.family.at(uint64(hh)), 10)
}

func (x *ids) benefitUnit(hh int32, unit uint8) string {
	return "BU" + strconv.FormatUint(10_000_000+x.unit.at(uint64(hh)*8+uint64(unit&7)), 10)
}

// renderer renders the rows of one agency's extract.
type renderer struct {
	d     *District
	ids   *ids
	ag    int
	rates Rates
	pcg   *rand.PCG
	r     *rand.Rand
	out   []string
}

func (d *District) newRenderer(ag int, x *ids) *renderer {
	pcg := rand.NewPCG(0, 0)
	return &renderer{
		d: d, ids: x, ag: ag, rates: d.rates[ag], pcg: pcg, r: rand.New(pcg),
		out: make([]string, len(header(ag))),
	}
}

func (rd *renderer) chance(p float64) bool { return p > 0 && rd.r.Float64() < p }

// row renders record k of the extract into rd.out and returns its record
// id and the indicators its own values imply.
func (rd *renderer) row(k int) (id string, ind uint8) {
	d := rd.d
	rc := d.recs[rd.ag][k]
	// Each row has its own random stream, so rows render independently
	// of each other and of the order they are written in.
	rd.pcg.Seed(hash2(uint64(d.cfg.Seed), uint64(rd.ag)), uint64(k))
	id = rd.ids.recordID(rd.ag, k)
	switch rd.ag {
	case agCouncil:
		ind = rd.council(id, rc)
	case agEducation:
		ind = rd.education(id, rc)
	case agPolice:
		ind = rd.police(id, rc)
	case agDWP:
		ind = rd.dwp(id, rc)
	}
	return id, ind
}

// names returns the person's names as this record shows them.
func (rd *renderer) names(p *person, middleColumn bool) (given, middle, family string) {
	t := rd.d.t
	given = t.names[p.given]
	if nn := t.nicknames[p.given]; len(nn) > 0 && rd.chance(rd.rates.Nickname) {
		given = nn[rd.r.IntN(len(nn))]
	}
	if p.middle > 0 {
		middle = t.names[p.middle-1]
	}
	family = t.names[p.family]
	if p.family2 > 0 {
		family += "-" + t.names[p.family2-1]
	}
	if p.prevFamily > 0 && rd.chance(rd.rates.OldSurname) {
		family = t.names[p.prevFamily-1]
	}
	if rd.chance(rd.rates.StripAccents) {
		given, middle, family = plainName(rd.r, given), plainName(rd.r, middle), plainName(rd.r, family)
	}
	if rd.chance(rd.rates.Typo) {
		given = typo(rd.r, given)
	}
	if rd.chance(rd.rates.Typo) {
		family = typo(rd.r, family)
	}
	if middle != "" {
		switch {
		case rd.chance(rd.rates.MiddleInGiven):
			given += " " + middle
			middle = ""
		case !middleColumn || rd.chance(rd.rates.DropMiddle):
			middle = ""
		}
	}
	if rd.chance(rd.rates.NameSwap) {
		given, family = family, given
	}
	return given, middle, family
}

// dob returns the date of birth as this record shows it.
func (rd *renderer) dob(p *person) int32 {
	dob := p.dob
	if rd.chance(rd.rates.DOBSwap) {
		dob, _ = swapDayMonth(dob)
	} else if rd.chance(rd.rates.DOBOffByOne) {
		dob = offByOne(rd.r, dob)
	}
	if dob > rd.d.asof {
		dob = p.dob
	}
	return dob
}

// addr is an address as one record shows it.
type addr struct {
	nfa      bool
	flat     string // "Flat 2"
	premise  string // house number, house name or building name
	named    bool   // premise is a name, not a number
	street   string
	locality string
	town     string
	postcode string
	uprn     string
}

const noFixedAbode = "NO FIXED ABODE"

func (rd *renderer) address(pi int32, p *person) addr {
	d := rd.d
	dw := d.households[p.hh].dwelling
	if dw < 0 || rd.chance(rd.rates.NoFixedAbode) {
		return addr{nfa: true}
	}
	if rd.chance(rd.rates.StaleAddress) {
		n := uint64(len(d.dwellings))
		prev := int32(hash2(uint64(d.cfg.Seed)^0x6d6f7665, uint64(pi)) % n)
		if prev == dw {
			prev = int32((uint64(prev) + 1) % n)
		}
		dw = prev
	}
	w := &d.dwellings[dw]
	s := &d.streets[w.street]
	t := d.t
	st := t.streetTypes[s.typ]
	typ := st.name
	if rd.chance(rd.rates.StreetAbbrev) {
		typ = st.abbrev
	}
	a := addr{
		street:   t.streets[s.name] + " " + typ,
		locality: t.districts[s.district].locality,
		town:     t.districts[s.district].town,
		postcode: d.postcodes[w.postcode],
		uprn:     rd.ids.uprnOf(dw),
	}
	switch {
	case w.kind == dwellHostel:
		a.premise, a.named = t.streets[s.name]+" Lodge", true
	case w.kind == dwellCareHome:
		a.premise, a.named = t.streets[s.name]+" Care Home", true
	case w.number == 0:
		a.premise, a.named = t.houseNames[w.name], true
	default:
		a.premise = strconv.Itoa(int(w.number))
	}
	if w.flat > 0 && !rd.chance(rd.rates.MissingFlat) {
		a.flat = "Flat " + strconv.Itoa(int(w.flat))
	}
	if rd.chance(rd.rates.MissingPostcode) {
		a.postcode = ""
	} else if rd.chance(rd.rates.PostcodeFormat) {
		a.postcode = postcodeVariant(rd.r, a.postcode)
	}
	if rd.chance(rd.rates.MissingID) {
		a.uprn = ""
	}
	return a
}

// lines returns the address as separate lines: flat, number and street
// (or building name, then street), locality, town. Empty parts are left
// out; the town is included only when withTown is set.
func (a addr) lines(withTown bool) []string {
	if a.nfa {
		return []string{noFixedAbode}
	}
	out := make([]string, 0, 5)
	if a.flat != "" {
		out = append(out, a.flat)
	}
	if a.named {
		out = append(out, a.premise, a.street)
	} else {
		out = append(out, a.premise+" "+a.street)
	}
	if a.locality != "" {
		out = append(out, a.locality)
	}
	if withTown {
		out = append(out, a.town)
	}
	return out
}

// fill copies lines into n columns of out starting at i, joining any
// overflow into the last column.
func fill(out []string, i, n int, lines []string) {
	for j := 0; j < n; j++ {
		out[i+j] = ""
	}
	for j, l := range lines {
		if j < n {
			out[i+j] = l
		} else {
			out[i+n-1] += ", " + l
		}
	}
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

func (rd *renderer) within12(ago uint16) bool {
	return ago > 0 && monthsSince(rd.d.asof-int32(ago), rd.d.asof) < 12
}

func (rd *renderer) council(id string, rc rec) uint8 {
	d, o := rd.d, rd.out
	p := &d.persons[rc.p]
	given, middle, family := rd.names(p, true)
	dob := rd.dob(p)
	age := ageAt(p.dob, d.asof)
	o[0] = id
	switch {
	case age < 18:
		o[1] = ""
	case rd.r.IntN(100) == 0:
		o[1] = "Dr"
	case p.sex == sexMale:
		o[1] = "Mr"
	case p.prevFamily > 0:
		o[1] = "Mrs"
	case age < 30:
		o[1] = "Miss"
	default:
		o[1] = "Ms"
	}
	o[2], o[3], o[4] = given, middle, family
	o[5] = formatDate(dob, layoutDMYSlash)
	o[6] = "Female"
	if p.sex == sexMale {
		o[6] = "Male"
	}
	o[7] = ""
	if !rd.chance(rd.rates.MissingID) {
		o[7] = rd.ids.nhsOf(rc.p)
	}
	a := rd.address(rc.p, p)
	fill(o, 8, 3, a.lines(false))
	o[11], o[12], o[13] = a.town, a.postcode, a.uprn
	o[14] = rd.ids.familyRef(p.hh)
	o[15] = cinName(p.cin)
	o[16] = yn(p.cflags&cflagDA != 0)
	o[17] = yn(p.cflags&cflagCFC != 0)
	o[18] = ""
	var ind uint8
	if p.evictAgo > 0 {
		o[18] = formatDate(d.asof-int32(p.evictAgo), layoutDMYSlash)
		if rd.within12(p.evictAgo) {
			ind |= indCrimeASB
		}
	}
	if p.cin == cinCIN || p.cin == cinCP || p.cin == cinLAC || p.cflags&(cflagDA|cflagCFC) != 0 {
		ind |= indLocalConcern
	}
	return ind
}

func (rd *renderer) education(id string, rc rec) uint8 {
	d, o := rd.d, rd.out
	p := &d.persons[rc.p]
	given, middle, family := rd.names(p, true)
	dob := rd.dob(p)
	o[0] = id
	o[1] = ""
	if !rd.chance(rd.rates.MissingID) {
		o[1] = rd.ids.upnOf(rc.p, p.dob)
	}
	o[2], o[3], o[4] = family, given, middle
	// A step-child often uses the family's surname day to day.
	o[5] = ""
	h := &d.households[p.hh]
	for i := h.first; i < h.first+int32(h.n); i++ {
		q := &d.persons[i]
		if q.sex == sexFemale && ageAt(q.dob, d.asof) >= 18 {
			if q.family != p.family && hash2(uint64(d.cfg.Seed)^0x707265, uint64(rc.p))%10 < 4 {
				o[5] = d.t.names[q.family]
			}
			break
		}
	}
	o[6] = formatDate(dob, layoutISO)
	o[7] = "F"
	if p.sex == sexMale {
		o[7] = "M"
	}
	a := rd.address(rc.p, p)
	fill(o, 8, 4, a.lines(true))
	o[12] = a.postcode
	age := ageAt(p.dob, d.asof)
	school := 2000 + int(hash2(uint64(d.cfg.Seed)^0x736368, uint64(p.hh))%300)
	if age >= 11 {
		school = 4000 + int(hash2(uint64(d.cfg.Seed)^0x736563, uint64(p.hh))%40)
	}
	switch p.enrol {
	case enrolPRU:
		school = 1100
	case enrolAP:
		school = 1150
	}
	o[13] = "383" + strconv.Itoa(school)
	o[14] = enrolCode(p.enrol)
	o[15] = yn(p.enrol != enrolOffRoll)
	if p.enrol == enrolOffRoll {
		o[13], o[16], o[17] = "", "", ""
	} else {
		o[16] = strconv.Itoa(int(p.absence/10)) + "." + strconv.Itoa(int(p.absence%10))
		o[17] = strconv.Itoa(int(p.fte))
	}
	o[18] = yn(p.eflags&eduPermEx != 0)
	if p.eflags&eduPermEx != 0 || p.fte >= 3 || p.absence >= 150 ||
		p.enrol == enrolPRU || p.enrol == enrolAP || p.enrol == enrolOffRoll {
		return indEducation
	}
	return 0
}

func (rd *renderer) police(id string, rc rec) uint8 {
	d, o := rd.d, rd.out
	p := &d.persons[rc.p]
	given, _, family := rd.names(p, false)
	dob := rd.dob(p)
	o[0] = id
	o[1] = upper(family)
	o[2] = given
	o[3] = "F"
	if p.sex == sexMale {
		o[3] = "M"
	}
	o[4] = formatDate(dob, layoutCompact)
	a := rd.address(rc.p, p)
	o[5] = upper(strings.Join(a.lines(true), ", "))
	o[6] = a.postcode
	o[7], o[8], o[9], o[10] = "", "", "", ""
	var ind uint8
	if p.outcome != outcomeNone {
		o[7] = formatDate(d.asof-int32(p.offAgo), layoutDMYSlash)
		o[8] = outcomeName(p.outcome)
		if age := ageAt(dob, d.asof); age >= 0 && age < 18 && p.outcome == outcomeProven && rd.within12(p.offAgo) {
			ind |= indCrimeASB
		}
	}
	if p.asbKind != asbNone {
		o[9] = asbName(p.asbKind)
		o[10] = formatDate(d.asof-int32(p.asbAgo), layoutISO)
		if rd.within12(p.asbAgo) {
			ind |= indCrimeASB
		}
	}
	return ind
}

func (rd *renderer) dwp(id string, rc rec) uint8 {
	d, o := rd.d, rd.out
	p := &d.persons[rc.p]
	given, _, family := rd.names(p, false)
	dob := rd.dob(p)
	o[0] = id
	o[1] = ""
	if !rd.chance(rd.rates.MissingID) {
		o[1] = rd.ids.ninoOf(rc.p)
	}
	o[2], o[3] = upper(family), upper(given)
	o[4] = formatDate(dob, layoutDMonY)
	a := rd.address(rc.p, p)
	lines := a.lines(true)
	for i := range lines {
		lines[i] = upper(lines[i])
	}
	fill(o, 5, 4, lines)
	o[9] = a.postcode
	s := rc.slot
	b := p.ben[s]
	o[10] = benefitCode(b)
	o[11] = formatDate(d.asof-int32(p.benStart[s]), layoutDMYSlash)
	o[12] = ""
	if p.benEnd[s] > 0 {
		o[12] = formatDate(d.asof-int32(p.benEnd[s]), layoutDMYSlash)
	}
	o[13] = "C"
	if p.benRole&(1<<s) != 0 {
		o[13] = "P"
	}
	o[14] = rd.ids.benefitUnit(p.hh, p.unit)
	if outOfWork(b) && p.benEnd[s] == 0 {
		return indWork
	}
	return 0
}
