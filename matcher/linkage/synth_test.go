package linkage

import (
	"encoding/binary"
	"math/rand/v2"

	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// synthData is a synthetic district with known truth: households of 1-6
// persons, each person seen by 1-3 of four agencies, with typing errors
// that break the strong keys, within-agency duplicates, twins, stale
// police addresses, benefit-unit groups and a hostel.
type synthData struct {
	recs      []store.Record
	person    []int // true person per record
	household []int // true household per record
}

func synth(nrecs int, seed uint64) []store.Record { return synthWithTruth(nrecs, seed).recs }

func val(parts ...uint64) [store.TokenLen]byte {
	var v [store.TokenLen]byte
	h := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < store.TokenLen/8; i++ {
		for _, p := range parts {
			h ^= p + uint64(i)
			h = splitmix(h)
		}
		binary.BigEndian.PutUint64(v[i*8:], h)
	}
	return v
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var sources = []string{"police", "school", "dwp", "council"}

func synthWithTruth(nrecs int, seed uint64) synthData {
	rng := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	var d synthData
	var refN uint64
	newRef := func() [16]byte {
		refN++
		var r [16]byte
		v := val(seed, refN, 99)
		copy(r[:], v[:])
		return r
	}
	const (
		kPerson = iota + 1
		kAddr
		kGroup
		kNINO
		kUPN
	)
	personID, hhID := 0, 0
	for len(d.recs) < nrecs {
		hh := hhID
		hhID++
		size := 1 + rng.IntN(6)
		twins := size >= 3 && rng.IntN(20) == 0
		hostel := rng.IntN(200) == 0
		var addr uint64 = uint64(hh)
		if hostel {
			addr = 1 << 40 // everyone in a hostel shares one address
		}
		for m := 0; m < size && len(d.recs) < nrecs; m++ {
			p := personID
			personID++
			adult := m < 2
			// Twins share initial+surname+dob+postcode.
			initKey := uint64(p)
			if twins && m >= size-2 {
				initKey = uint64(1<<41 + hh)
			}
			nsrc := 1 + rng.IntN(3)
			srcs := rng.Perm(4)[:nsrc]
			for _, s := range srcs {
				if sources[s] == "school" && adult || sources[s] == "dwp" && !adult {
					continue
				}
				copies := 1
				if rng.IntN(50) == 0 {
					copies = 2 // within-agency duplicate
				}
				for range copies {
					r := store.Record{Source: sources[s], Ref: newRef()}
					typo := rng.IntN(10) == 0
					nameKey := uint64(p)
					if typo {
						nameKey = uint64(1<<42 + len(d.recs))
					}
					r.Tokens = append(r.Tokens,
						store.Token{Kind: matchkey.NameDOB, Value: val(kPerson, 1, nameKey)},
						store.Token{Kind: matchkey.InitialSurnameDOBPost, Value: val(kPerson, 2, initKey)},
						store.Token{Kind: matchkey.NameYOBPostcode, Value: val(kPerson, 3, uint64(p))},
					)
					if !typo {
						r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.PhoneticDOB, Value: val(kPerson, 4, uint64(p))})
					}
					a := addr
					if sources[s] == "police" && rng.IntN(30) == 0 {
						a = uint64(1<<43 + rng.IntN(hhID+1)) // stale: somewhere else
					}
					r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.AddressLine, Value: val(kAddr, a)})
					if adult && (sources[s] == "dwp" || sources[s] == "police") && rng.IntN(2) == 0 {
						r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.NINO, Value: val(kNINO, uint64(p))})
					}
					if !adult && sources[s] == "school" {
						r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.UPN, Value: val(kUPN, uint64(p))})
					}
					if sources[s] == "dwp" {
						r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.HouseholdGroup, Value: val(kGroup, uint64(hh))})
					}
					r.Indicators = map[string]bool{"work": sources[s] == "dwp"}
					d.recs = append(d.recs, r)
					d.person = append(d.person, p)
					d.household = append(d.household, hh)
				}
			}
		}
	}
	return d
}
