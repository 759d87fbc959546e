// Package derive owns match-key derivation: it turns a normalised person
// (package agency/normalize) into the match keys of the kinds registered in
// package matchkey. A key is a kind and an ordered list of canonical field
// values; the agency node encodes the fields length-prefixed and HMACs them
// with the kind's key (package keys), so derive never joins fields into one
// string and never sees a token.
//
// # Field layout per kind
//
// The layout is part of the token construction: changing it changes every
// token of the kind, so it is frozen like the kind names. Dates are
// YYYY-MM-DD, years four digits, days and months two digits; names are
// folded as by normalize.Name; postcodes canonical ("LS1 1AB").
//
//	nino                          [nino]
//	nhs                           [nhs number]
//	upn                           [upn]
//	other_id                      [identifier, letters and digits]
//	name_dob                      [given, family, dob]
//	name_dob_daymonth             [given, family, year, min(dd, mm), max(dd, mm)]
//	name_swapped_dob              [min(given, family), max(given, family), dob]
//	initial_surname_dob_postcode  [initial, family, dob, postcode]
//	phonetic_dob                  [soundex(given), soundex(family), dob]
//	name_yob_postcode             [given, family, year, postcode]
//	given_dob_postcode            [given, dob, postcode]
//	name_daymonth_postcode        [given, family, dd, mm, postcode]
//	uprn                          [uprn]
//	address                       [postcode, number or house name, flat]
//	house                         [postcode, number or house name] (no flat)
//	block_phonetic_yob            [soundex(given), soundex(family), year]
//	block_name                    [given, family]
//	block_family_dob              [family, dob]
//	block_given_dob               [given, dob]
//	block_family_postcode         [family, postcode or raw postcode]
//	block_given_postcode          [given, postcode or raw postcode]
//	block_phonetic_postcode       [soundex(given), soundex(family), postcode or raw postcode]
//	block_dob_postcode            [dob, postcode or raw postcode]
//	block_postcode_number         [postcode or raw postcode, number or house name]
//	block_phonetic_family_dob     [soundex(family), dob]
//	block_given_phonetic_family   [given, soundex(family)]
//	block_other_id_near           [identifier], and [identifier with one character left out] for each position
//
// The unordered pairs are written smaller first (byte order), so a day and
// month swapped, or given and family names swapped, give the same key.
//
// # Which keys a person gets
//
//   - One key per identifier present.
//   - Name kinds need a given name of at least two letters (an initial
//     alone only feeds initial_surname_dob_postcode) and a family name of
//     at least two letters; dob kinds need a date of birth; postcode kinds
//     need a valid postcode. A kind whose inputs are missing is skipped;
//     no key has an empty field.
//   - Every name kind is emitted once per given-name variant (the name as
//     recorded and each formal name it may stand for: bill → bill, william),
//     so a nickname in one agency meets the formal name in another.
//   - A multi-part family name (Smith-Jones) also gives name_dob and
//     initial_surname_dob_postcode keys for each part, because agencies
//     often record only one part. Only these two kinds get part keys: they
//     carry the full date of birth (and the second a postcode as well), so
//     "Mary Smith-Jones" meets "Mary Jones" born the same day but not every
//     Mary Jones born that year; the weaker kinds stay on the full name.
//   - name_dob also gets a key with the first middle name as given name,
//     for people known by their middle name.
//   - Identical keys are emitted once. Keys come strongest kind first.
//
// Known limitation: twins who share a surname, a postcode and a given-name
// initial (Jack and James) share their initial_surname_dob_postcode key;
// the matcher must treat that kind as weak (it does: it is below the full
// name kinds in matchkey's strength order).
//
// # Block keys
//
// Block keys (matchkey.Block) never link records: they only propose the
// candidate pairs whose Bloom-filter encodings the similarity tier compares
// (package agency/clk). Each drops one or two of the person's details so
// that a pair with an error in any one of them still shares some block:
// the name pair survives an error in the date of birth, the
// name-and-date pairs an error in the other name, the phonetic key a typo
// in both names that keeps their sound, the date-and-postcode and the
// postcode-and-number keys errors in both names. Every block key still combines
// two details (no date of birth alone, no year and postcode), so a block
// stays small and a block token says little on its own. The postcode is
// the UK postcode, or the postcode as recorded when it is not a UK one
// (normalize.Address.RawPostcode), so data from elsewhere still blocks on
// its postcodes. Name fields use every given-name variant.
//
// # Address keys
//
// uprn when present; address from postcode + number (or house name) +
// flat when there is a flat; house from postcode + number (or house name)
// when there is none. A flat's address never loses its flat (that would
// merge every flat of a building into one household); a record whose flat
// number was left off gives a house key, which the matcher does not trust
// in a building where other records name flats. No key is made without a
// postcode (street names are too variable to stand in for it). A person of
// no fixed abode has no address keys.
package derive

import (
	"slices"
	"unicode/utf8"

	"tfmatch/agency/normalize"
	"tfmatch/matchkey"
)

// Key is one match key: its kind and the canonical field values that the
// keys package length-prefixes and HMACs. Keys of one kind always have the
// same number of fields, in the order documented in the package comment.
type Key struct {
	Kind   matchkey.Kind
	Fields []string
}

// Equal reports whether k and o are the same key.
func (k Key) Equal(o Key) bool {
	return k.Kind == o.Kind && slices.Equal(k.Fields, o.Fields)
}

// keySet accumulates keys, dropping duplicates and keys with an empty
// field. The keys' fields are copied into one backing array, so add's
// variadic arguments stay on the caller's stack: a record's keys cost a
// few allocations, not one per key.
//
// The keys of one kind are added one after another (personKeys,
// addressKeys and blockKeys are written so), so a duplicate can only be
// among the keys at the end of the set, and add looks no further back
// than the kind's own keys. The tests (checkShape, over the golden people
// and FuzzKeys) hold the derivations to that: a duplicate key fails them.
type keySet struct {
	keys   []Key
	fields []string
}

func newKeySet(keys, fields int) keySet {
	return keySet{keys: make([]Key, 0, keys), fields: make([]string, 0, fields)}
}

// reset empties s, keeping its arrays for the next record: keys returned
// before are overwritten.
func (s *keySet) reset() {
	s.keys = s.keys[:0]
	s.fields = s.fields[:0]
}

// result returns the keys, nil for none.
func (s *keySet) result() []Key {
	if len(s.keys) == 0 {
		return nil
	}
	return s.keys
}

func (s *keySet) add(kind matchkey.Kind, fields ...string) {
	for _, f := range fields {
		if f == "" {
			return
		}
	}
	for i := len(s.keys) - 1; i >= 0 && s.keys[i].Kind == kind; i-- {
		if slices.Equal(s.keys[i].Fields, fields) {
			return
		}
	}
	if cap(s.fields)-len(s.fields) < len(fields) {
		// Keys made so far keep the old array; it is never written again.
		s.fields = make([]string, 0, max(2*cap(s.fields), len(fields)))
	}
	l := len(s.fields)
	s.fields = s.fields[:l+len(fields)]
	for i, f := range fields {
		// One by one: while the collector marks, a string stored alone
		// costs less than append's bulk copy of a few of them.
		s.fields[l+i] = f
	}
	s.keys = append(s.keys, Key{Kind: kind, Fields: s.fields[l:len(s.fields):len(s.fields)]})
}

// minNameLen is the shortest given or family name used in a name kind; a
// single letter is an initial.
const minNameLen = 2

func nameOK(s string) bool {
	// A rune is at most utf8.UTFMax bytes: a longer name needs no count.
	return len(s) > utf8.UTFMax*(minNameLen-1) || utf8.RuneCountInString(s) >= minNameLen
}

// two formats n as two decimal digits.
func two(n int) string {
	n %= 100
	return twoDigits[2*n : 2*n+2] // a substring of a constant: no allocation
}

// twoDigits holds "00" to "99" in order.
const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// four formats n as four decimal digits.
func four(n int) string {
	return string([]byte{byte('0' + n/1000%10), byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)})
}

// ordered returns a and b smaller first.
func ordered(a, b string) (string, string) {
	if b < a {
		return b, a
	}
	return a, b
}

// initial returns the first letter of a folded name.
func initial(s string) string {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}

// facts are the values of a person that keys are made of, worked out
// once for all of its keys: the date of birth and the Soundex codes are
// written into one string, one allocation per person.
type facts struct {
	given []string // every given-name variant
	// named are the variants long enough for a name kind (nameOK), and
	// phonetic their Soundex codes.
	named, phonetic []string
	family          string // the family name, "" unless nameOK
	sf              string // Soundex(family)
	dob, year       string // "" when there is no date of birth

	namedBuf, phoneticBuf [4]string
}

// init works out f for p.
func (f *facts) init(p normalize.Person) {
	*f = facts{}
	f.given = p.GivenVariants
	if len(f.given) == 0 && p.Given != "" {
		f.given = []string{p.Given}
	}
	f.family = p.Family
	if !nameOK(f.family) {
		f.family = ""
	}
	f.named = f.namedBuf[:0]
	for _, g := range f.given {
		if nameOK(g) {
			f.named = append(f.named, g)
		}
	}
	var buf [48]byte
	b := p.DOB.AppendTo(buf[:0])
	nd := len(b)
	b = appendSoundex(b, f.family)
	ns := len(b)
	for _, g := range f.named {
		b = appendSoundex(b, g)
	}
	text := ""
	if len(b) > 0 {
		text = string(b)
	}
	f.dob, f.sf = text[:nd], text[nd:ns]
	if nd > 0 {
		// four(year) is the date's first four digits for every year Date
		// writes as such.
		if f.year = f.dob[:4]; p.DOB.Year < 0 {
			f.year = four(p.DOB.Year)
		}
	}
	f.phonetic = f.phoneticBuf[:0]
	for i := range f.named {
		// Every named variant has a letter a-z (folded names are a-z and
		// other scripts' letters), or none: its code is 4 bytes or none.
		code := ""
		if ns+4 <= len(text) && hasLetterAZ(f.named[i]) {
			code, ns = text[ns:ns+4], ns+4
		}
		f.phonetic = append(f.phonetic, code)
	}
}

// hasLetterAZ reports whether s has a letter a-z or A-Z, that is whether
// Soundex(s) is not "".
func hasLetterAZ(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// PersonKeys returns the identifier and person keys of p, strongest kind
// first, without duplicates. See the package comment for the rules.
func PersonKeys(p normalize.Person) []Key {
	ks := newKeySet(16, 48)
	var f facts
	f.init(p)
	personKeys(&ks, p, &f)
	return ks.result()
}

func personKeys(ks *keySet, p normalize.Person, f *facts) {
	ks.add(matchkey.NINO, p.NINO)
	ks.add(matchkey.NHS, p.NHS)
	ks.add(matchkey.UPN, p.UPN)
	ks.add(matchkey.OtherID, p.OtherID)

	given, named, family := f.given, f.named, f.family
	var partBuf [4]string
	parts := partBuf[:0]
	if len(p.FamilyParts) > 1 && family != "" {
		for _, fp := range p.FamilyParts {
			if nameOK(fp) && fp != family {
				parts = append(parts, fp)
			}
		}
	}
	hasDOB := !p.DOB.IsZero()
	dob, year := f.dob, f.year
	var lo, hi string
	if hasDOB {
		lo, hi = ordered(two(p.DOB.Day), two(p.DOB.Month))
	}
	postcode := p.Address.Postcode
	if p.Address.NoFixedAbode {
		postcode = ""
	}

	if hasDOB && family != "" {
		for _, g := range named {
			ks.add(matchkey.NameDOB, g, family, dob)
		}
		if len(p.Middle) > 0 && nameOK(p.Middle[0]) {
			ks.add(matchkey.NameDOB, p.Middle[0], family, dob)
		}
		for _, part := range parts {
			for _, g := range named {
				ks.add(matchkey.NameDOB, g, part, dob)
			}
		}
		for _, g := range named {
			ks.add(matchkey.NameDOBDayMonth, g, family, year, lo, hi)
		}
		for _, g := range named {
			a, b := ordered(g, family)
			ks.add(matchkey.NameSwappedDOB, a, b, dob)
		}
		if postcode != "" {
			for i := -1; i < len(parts); i++ {
				fam := family
				if i >= 0 {
					fam = parts[i]
				}
				for _, g := range given {
					ks.add(matchkey.InitialSurnameDOBPost, initial(g), fam, dob, postcode)
				}
			}
		}
		if sf := f.sf; sf != "" {
			for i := range named {
				ks.add(matchkey.PhoneticDOB, f.phonetic[i], sf, dob)
			}
		}
	}
	if hasDOB && family != "" && postcode != "" {
		for _, g := range named {
			ks.add(matchkey.NameYOBPostcode, g, family, year, postcode)
		}
	}
	// A family name changed on marriage: the given name, the full date of
	// birth and the postcode still meet.
	if hasDOB && postcode != "" {
		for _, g := range named {
			ks.add(matchkey.GivenDOBPostcode, g, dob, postcode)
		}
	}
	// A year of birth mistyped: full name, birthday and postcode.
	if hasDOB && family != "" && postcode != "" {
		for _, g := range named {
			ks.add(matchkey.NameDayMonthPostcode, g, family, two(p.DOB.Day), two(p.DOB.Month), postcode)
		}
	}
}

// Deriver derives the keys of one person after another, reusing its
// buffers: the keys its Keys returns are the same as PersonKeys,
// AddressKeys and BlockKeys return, but valid only until its next call.
// It is not safe for concurrent use.
type Deriver struct {
	person, address, block keySet
	facts                  facts
}

// Keys returns p's person, address and block keys.
func (d *Deriver) Keys(p normalize.Person) (person, address, block []Key) {
	d.person.reset()
	d.address.reset()
	d.block.reset()
	d.facts.init(p)
	personKeys(&d.person, p, &d.facts)
	addressKeys(&d.address, p)
	blockKeys(&d.block, p, &d.facts)
	return d.person.keys, d.address.keys, d.block.keys
}

// AddressKeys returns the address keys of p (uprn, then address), none for
// a person of no fixed abode.
func AddressKeys(p normalize.Person) []Key {
	ks := newKeySet(2, 4)
	addressKeys(&ks, p)
	return ks.result()
}

func addressKeys(ks *keySet, p normalize.Person) {
	a := p.Address
	if a.NoFixedAbode {
		return
	}
	ks.add(matchkey.UPRN, a.UPRN)
	switch {
	case a.Postcode == "" || a.Number == "":
	case a.Flat != "":
		ks.add(matchkey.AddressLine, a.Postcode, a.Number, a.Flat)
	default:
		// No flat: a house, or a flat whose number was left off. Its own
		// kind lets the matcher tell the two apart (package
		// matcher/linkage: a house token in a building with flats is
		// ambiguous).
		ks.add(matchkey.House, a.Postcode, a.Number)
	}
}

// BlockKeys returns the block keys of p (see the package comment): they
// only select candidate pairs for the similarity tier and never link on
// their own.
func BlockKeys(p normalize.Person) []Key {
	ks := newKeySet(12, 32)
	var f facts
	f.init(p)
	blockKeys(&ks, p, &f)
	return ks.result()
}

// blockKeys adds the block keys kind by kind in the kinds' strength order
// (matchkey), the given-name variants in their order within a kind;
// TestBlockKeysInStrengthOrder checks the order against the registry.
func blockKeys(ks *keySet, p normalize.Person, f *facts) {
	named, family, sf, dob, year := f.named, f.family, f.sf, f.dob, f.year
	postcode := BlockPostcode(p.Address)
	for i := range named {
		ks.add(matchkey.BlockPhoneticYear, f.phonetic[i], sf, year)
	}
	for _, g := range named {
		ks.add(matchkey.BlockName, g, family)
	}
	ks.add(matchkey.BlockFamilyDOB, family, dob)
	for _, g := range named {
		ks.add(matchkey.BlockGivenDOB, g, dob)
	}
	ks.add(matchkey.BlockDOBPostcode, dob, postcode)
	ks.add(matchkey.BlockFamilyPostcode, family, postcode)
	for _, g := range named {
		ks.add(matchkey.BlockGivenPostcode, g, postcode)
	}
	for i := range named {
		ks.add(matchkey.BlockPhoneticPost, f.phonetic[i], sf, postcode)
	}
	if !p.Address.NoFixedAbode {
		ks.add(matchkey.BlockPostcodeNumber, postcode, p.Address.Number)
	}
	ks.add(matchkey.BlockPhoneticFamilyDOB, sf, dob)
	for _, g := range named {
		ks.add(matchkey.BlockGivenPhoneticFamily, g, sf)
	}
	nearIDKeys(ks, p.OtherID)
}

// BlockPostcode is the postcode used by block keys and the similarity
// tier: the UK postcode, else the postcode as recorded, "" for a person of
// no fixed abode.
func BlockPostcode(a normalize.Address) string {
	switch {
	case a.NoFixedAbode:
		return ""
	case a.Postcode != "":
		return a.Postcode
	}
	return a.RawPostcode
}

// minNearIDLen is the shortest identifier given block_other_id_near keys:
// with one character left out, a shorter one would make blocks of many
// unrelated people.
const minNearIDLen = 7

// nearIDKeys adds the block_other_id_near keys of an identifier of
// another scheme: the identifier itself and each string made by leaving
// one character out. Two identifiers one substitution, one insertion or
// deletion, or one swap of neighbouring characters apart share at least
// one of them, so a typing error in the identifier still puts the two
// records in a block.
func nearIDKeys(ks *keySet, id string) {
	if len(id) < minNearIDLen { // normalize.OtherID keeps ASCII letters and digits only
		return
	}
	ks.add(matchkey.BlockOtherIDNear, id)
	for i := range len(id) {
		if i > 0 && id[i] == id[i-1] {
			continue // leaving out either of two equal neighbours gives the same string
		}
		ks.add(matchkey.BlockOtherIDNear, id[:i]+id[i+1:])
	}
}
