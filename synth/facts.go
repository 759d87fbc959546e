package synth

import "math/rand/v2"

// The facts model. Every person gets background facts at rates raised by
// the household's deprivation level (so problems cluster in households, as
// they do in reality, and many households meet one or two criteria). A
// small share of families with school-age children are "troubled": they
// get problems planted on purpose so that roughly 2% of all households meet
// the phase-1 rule. Near misses (an offence 13 months ago, an adult
// offender, 14% absence, an ended claim, a benefit that does not count)
// are planted too, so that the criteria are really tested.

// troubledRate is the share of families with a school-age child that are
// troubled.
const troubledRate = 0.1

// Date windows, in days before as-of. "In window" dates are well inside
// the last 12 months and "out of window" dates well outside (13 months or
// more), so that any sensible month arithmetic classifies them the same.
func inWindow(r *rand.Rand) uint16  { return uint16(10 + r.IntN(321)) }
func outWindow(r *rand.Rand) uint16 { return uint16(395 + r.IntN(500)) }

// member is a person of the household being planted, with their age.
type member struct {
	p   *person
	age int
}

func (d *District) plant(r *rand.Rand) {
	var mem []member
	for hi := range d.households {
		h := &d.households[hi]
		mem = mem[:0]
		for i := h.first; i < h.first+int32(h.n); i++ {
			p := &d.persons[i]
			mem = append(mem, member{p, ageAt(p.dob, d.asof)})
		}
		mult := [3]float64{1, 2.5, 5}[h.depriv]
		d.background(r, h, mem, mult)
		if h.kind == hhCoupleKids || h.kind == hhLoneParent || h.kind == hhMultiGen {
			if hasAge(mem, 5, 16) && r.Float64() < troubledRate {
				d.troubled(r, h, mem)
			}
		}
		if h.flags&hhCouncilKnown == 0 {
			known := false
			for _, m := range mem {
				if m.p.cin != cinNone || m.p.cflags != 0 || m.p.evictAgo != 0 {
					known = true
				}
			}
			var p float64
			switch h.kind {
			case hhHostel:
				p = 0.3
			case hhCareHome:
				p = 0.15
			case hhNoFixedAbode:
				p = 0.4
			default:
				p = 0.12 * mult
			}
			if known || r.Float64() < p {
				h.flags |= hhCouncilKnown
			}
		}
	}
}

func hasAge(mem []member, lo, hi int) bool {
	for _, m := range mem {
		if m.age >= lo && m.age <= hi {
			return true
		}
	}
	return false
}

// pickAge returns a random member aged lo..hi, or nil.
func pickAge(r *rand.Rand, mem []member, lo, hi int) *person {
	n := 0
	for _, m := range mem {
		if m.age >= lo && m.age <= hi {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := r.IntN(n)
	for _, m := range mem {
		if m.age >= lo && m.age <= hi {
			if k == 0 {
				return m.p
			}
			k--
		}
	}
	return nil
}

// addClaim gives p a benefit claim in a free slot (or the second slot when
// both are taken and force is set). It reports whether it did.
func addClaim(p *person, ben uint8, start, end uint16, partner, force bool) bool {
	for _, b := range p.ben {
		if b == ben {
			return false // one claim per benefit
		}
	}
	s := 0
	switch {
	case p.ben[0] == benNone:
	case p.ben[1] == benNone:
		s = 1
	case force:
		s = 1
	default:
		return false
	}
	p.ben[s] = ben
	p.benStart[s] = start
	p.benEnd[s] = end
	p.benRole &^= 1 << s
	if partner {
		p.benRole |= 1 << s
	}
	return true
}

func claimStart(r *rand.Rand, end uint16) uint16 { return end + uint16(30+r.IntN(2000)) }

// background draws the everyday facts of one household's members.
func (d *District) background(r *rand.Rand, h *household, mem []member, mult float64) {
	chance := func(p float64) bool { return r.Float64() < p*mult }
	for _, m := range mem {
		p, a := m.p, m.age
		// Police.
		switch {
		case a >= 10 && a < 18:
			switch {
			case chance(0.003):
				p.outcome, p.offAgo = outcomeProven, inWindow(r)
			case chance(0.004):
				p.outcome, p.offAgo = outcomeProven, outWindow(r)
			case chance(0.006):
				p.outcome, p.offAgo = uint8(outcomeNFA+r.IntN(3)), inWindow(r)
			}
		case a >= 18 && a < 75:
			if chance(0.015) {
				p.outcome = outcomeProven
				if r.Float64() < 0.45 {
					p.outcome = uint8(outcomeNFA + r.IntN(3))
				}
				p.offAgo = uint16(10 + r.IntN(1500))
			}
		}
		if a >= 10 && a < 75 {
			switch {
			case chance(0.0007):
				p.asbKind, p.asbAgo = uint8(asbASBO+r.IntN(4)), inWindow(r)
			case chance(0.001):
				p.asbKind, p.asbAgo = uint8(asbASBO+r.IntN(4)), outWindow(r)
			}
		}
		// Education.
		if a >= 5 && a <= 16 {
			p.enrol = enrolCurrent
			if r.Float64() < 0.04 {
				p.enrol = enrolDualMain
			}
			abs := int(r.ExpFloat64() * 20 * mult)
			if abs >= 100 {
				abs = r.IntN(100)
			}
			switch {
			case chance(0.006):
				abs = 150 + r.IntN(250)
			case chance(0.015):
				abs = 100 + r.IntN(50) // persistent absence, but under 15%
			}
			p.absence = uint16(abs)
			switch {
			case chance(0.002):
				p.fte = uint8(3 + r.IntN(3))
			case chance(0.015):
				p.fte = uint8(1 + r.IntN(2))
			}
			switch {
			case chance(0.0003):
				p.eflags |= eduPermEx
				p.enrol = enrolPRU
			case chance(0.0008):
				p.enrol = uint8(enrolPRU + r.IntN(2))
			case chance(0.0015):
				p.enrol, p.absence, p.fte = enrolOffRoll, 0, 0
			}
		}
		// DWP.
		switch {
		case a >= 66:
			if chance(0.12) {
				addClaim(p, benPC, claimStart(r, 0), 0, false, false)
			}
			if chance(0.05) {
				addClaim(p, benAA, claimStart(r, 0), 0, false, false)
			}
		case a >= 16:
			if chance(0.035) {
				b := [...]uint8{benJSA, benJSA, benESA, benESA, benESA, benESA, benIS, benCA, benCA, benIB}[r.IntN(10)]
				if a >= 40 && r.Float64() < 0.05 {
					b = benSDA
				}
				var end uint16
				if r.Float64() < 0.15 {
					end = uint16(30 + r.IntN(400))
				}
				addClaim(p, b, claimStart(r, end), end, false, false)
			}
			if chance(0.015) { // an ended claim: does not count
				end := uint16(30 + r.IntN(400))
				addClaim(p, benJSA+uint8(r.IntN(3)), claimStart(r, end), end, false, false)
			}
			if r.Float64() < 0.05 {
				addClaim(p, benPIP, claimStart(r, 0), 0, false, false)
			}
			if r.Float64() < 0.004 {
				addClaim(p, benDLA, claimStart(r, 0), 0, false, false)
			}
		}
		// Council: children's services.
		if a < 18 {
			switch {
			case chance(0.006):
				p.cin = cinCIN
			case chance(0.002):
				p.cin = cinCP
			case chance(0.0005):
				p.cin = cinLAC
			case chance(0.015):
				p.cin = cinClosed
			}
		}
	}
	// Household-level facts.
	if h.kind == hhLoneParent && chance(0.12) {
		if parent := pickAge(r, mem, 18, 120); parent != nil {
			addClaim(parent, benIS, claimStart(r, 0), 0, false, false)
		}
	}
	if hasAge(mem, 0, 15) && r.Float64() < 0.6 {
		if parent := d.mother(mem); parent != nil {
			addClaim(parent, benCB, claimStart(r, 0), 0, false, false)
		}
	}
	if len(mem) > 1 && chance(0.004) {
		d.domesticAbuse(mem)
	}
	if chance(0.002) {
		mem[0].p.cflags |= cflagCFC
	}
	if a := pickAge(r, mem, 18, 120); a != nil {
		switch {
		case chance(0.0003):
			a.evictAgo = inWindow(r)
		case chance(0.0008):
			a.evictAgo = outWindow(r)
		}
	}
}

// mother returns the first adult woman of the household, else the first
// adult.
func (d *District) mother(mem []member) *person {
	for _, m := range mem {
		if m.age >= 18 && m.p.sex == sexFemale {
			return m.p
		}
	}
	for _, m := range mem {
		if m.age >= 18 {
			return m.p
		}
	}
	return nil
}

// domesticAbuse flags the victim (the mother, else the first adult) and
// the children.
func (d *District) domesticAbuse(mem []member) {
	if v := d.mother(mem); v != nil {
		v.cflags |= cflagDA
	}
	for _, m := range mem {
		if m.age < 18 {
			m.p.cflags |= cflagDA
		}
	}
}

// troubled plants correlated problems in a family with a school-age child.
func (d *District) troubled(r *rand.Rand, h *household, mem []member) {
	h.flags |= hhTroubled | hhCouncilKnown
	h.depriv = 2
	crime, edu, work, local := r.Float64() < 0.85, r.Float64() < 0.85, r.Float64() < 0.85, r.Float64() < 0.7

	if crime {
		kid := pickAge(r, mem, 10, 17)
		switch x := r.Float64(); {
		case kid != nil && x < 0.65:
			kid.outcome, kid.offAgo = outcomeProven, inWindow(r)
		case x < 0.85:
			if p := pickAge(r, mem, 10, 70); p != nil {
				p.asbKind, p.asbAgo = uint8(asbASBO+r.IntN(4)), inWindow(r)
			}
		default:
			if p := pickAge(r, mem, 18, 120); p != nil {
				p.evictAgo = inWindow(r)
			}
		}
	} else if r.Float64() < 0.6 {
		// Near misses.
		switch r.IntN(4) {
		case 0:
			if p := pickAge(r, mem, 18, 70); p != nil { // adult offender
				p.outcome, p.offAgo = outcomeProven, inWindow(r)
			}
		case 1:
			if p := pickAge(r, mem, 10, 17); p != nil { // 13+ months ago
				p.outcome, p.offAgo = outcomeProven, uint16(395+r.IntN(60))
			}
		case 2:
			if p := pickAge(r, mem, 10, 17); p != nil { // not proven
				p.outcome, p.offAgo = outcomeNFA, inWindow(r)
			}
		default:
			if p := pickAge(r, mem, 10, 70); p != nil { // old intervention
				p.asbKind, p.asbAgo = uint8(asbASBO+r.IntN(4)), outWindow(r)
			}
		}
	}

	if kid := pickAge(r, mem, 5, 16); kid != nil {
		if edu {
			switch x := r.Float64(); {
			case x < 0.55:
				kid.absence = uint16(150 + r.IntN(300))
			case x < 0.75:
				kid.fte = uint8(3 + r.IntN(4))
			case x < 0.83:
				kid.eflags |= eduPermEx
				kid.enrol = enrolPRU
				if r.Float64() < 0.3 {
					kid.enrol = enrolAP
				}
			case x < 0.93:
				kid.enrol = uint8(enrolPRU + r.IntN(2))
			default:
				kid.enrol, kid.absence, kid.fte = enrolOffRoll, 0, 0
			}
		} else if r.Float64() < 0.6 && kid.enrol != enrolOffRoll {
			kid.absence = uint16(120 + r.IntN(30)) // 12.0% to 14.9%
			kid.fte = uint8(r.IntN(3))
		}
	}

	adult := d.mother(mem)
	if adult != nil {
		if work {
			b := [...]uint8{benJSA, benESA, benESA, benESA, benIS, benIS, benIS, benCA, benIB, benSDA}[r.IntN(10)]
			addClaim(adult, b, claimStart(r, 0), 0, false, true)
			if b == benJSA || b == benESA || b == benIS {
				// A joint claim: the partner appears in the benefit unit.
				for _, m := range mem {
					if m.p != adult && m.age >= 18 && m.p.unit == adult.unit && r.Float64() < 0.5 {
						addClaim(m.p, b, adult.benStart[0], 0, true, false)
						break
					}
				}
			}
		} else if r.Float64() < 0.6 {
			switch r.IntN(3) {
			case 0:
				addClaim(adult, benCB, claimStart(r, 0), 0, false, false)
			case 1:
				addClaim(adult, benPIP, claimStart(r, 0), 0, false, false)
			default:
				end := uint16(30 + r.IntN(200))
				addClaim(adult, benJSA, claimStart(r, end), end, false, false)
			}
		}
	}

	if local {
		switch x := r.Float64(); {
		case x < 0.5:
			if kid := pickAge(r, mem, 0, 17); kid != nil {
				kid.cin = cinCIN
				if r.Float64() < 0.3 {
					kid.cin = cinCP
				}
			}
		case x < 0.85:
			d.domesticAbuse(mem)
		default:
			mem[0].p.cflags |= cflagCFC
		}
	}
}

// collect lists the rows of every extract and shuffles each list.
func (d *District) collect(r *rand.Rand) {
	for i := range d.persons {
		p := &d.persons[i]
		pi := int32(i)
		if d.households[p.hh].flags&hhCouncilKnown != 0 {
			d.recs[agCouncil] = append(d.recs[agCouncil], rec{p: pi})
		}
		if p.enrol != enrolNone {
			d.recs[agEducation] = append(d.recs[agEducation], rec{p: pi})
		}
		if p.outcome != outcomeNone || p.asbKind != asbNone {
			d.recs[agPolice] = append(d.recs[agPolice], rec{p: pi})
		}
		for s := range p.ben {
			if p.ben[s] != benNone {
				d.recs[agDWP] = append(d.recs[agDWP], rec{p: pi, slot: uint8(s)})
			}
		}
	}
	for a := range d.recs {
		rs := d.recs[a]
		r.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	}
}
