// Package matchkey is the contract between agency nodes and the matcher
// about match keys: the kinds that exist, what class each belongs to, and
// their strength order. Agencies derive keys of these kinds (package
// agency/derive) and the matcher links on the resulting tokens without
// knowing what went into them.
//
// A kind's name is part of the token construction (it selects the HMAC key,
// see package keys) and of the wire protocol, so names are frozen: a kind
// may be added, never renamed or reused for other content.
package matchkey

import "fmt"

// Class says what a kind of token identifies.
type Class uint8

const (
	// Identifier kinds are issued identifiers (NINO, NHS number, UPN). One
	// person has at most one value of each; two different values of the
	// same identifier kind in one cluster are a contradiction.
	Identifier Class = iota + 1
	// Person kinds combine names and dates of birth (and sometimes a
	// postcode) into keys that identify one person with high probability.
	Person
	// Address kinds identify a dwelling.
	Address
	// Group kinds identify an agency's own groupings of people: a whole
	// household (a family reference) or a unit within one (a benefit
	// unit). They are keyed with the agency's local key and so only ever
	// match within one agency.
	Group
	// Block kinds only ever propose candidate pairs to the similarity
	// tier: two records sharing a block token have their Bloom-filter
	// encodings compared. They never link on their own, so they may be
	// weaker than person kinds, but no block kind has low entropy on its
	// own (a date of birth alone, a year and a postcode).
	Block
)

func (c Class) String() string {
	switch c {
	case Identifier:
		return "identifier"
	case Person:
		return "person"
	case Address:
		return "address"
	case Group:
		return "group"
	case Block:
		return "block"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Kind names one kind of match key.
type Kind string

// The kinds, strongest first within each class.
const (
	NINO Kind = "nino" // National Insurance number
	NHS  Kind = "nhs"  // NHS number
	UPN  Kind = "upn"  // Unique Pupil Number

	OtherID               Kind = "other_id"                     // an identifier of another scheme shared by the sources
	NameDOB               Kind = "name_dob"                     // given + family + date of birth
	NameDOBDayMonth       Kind = "name_dob_daymonth"            // given + family + year + {day, month} unordered
	NameSwappedDOB        Kind = "name_swapped_dob"             // {given, family} unordered + date of birth
	InitialSurnameDOBPost Kind = "initial_surname_dob_postcode" // initial + family + dob + postcode
	PhoneticDOB           Kind = "phonetic_dob"                 // phonetic given + phonetic family + dob
	NameYOBPostcode       Kind = "name_yob_postcode"            // given + family + year of birth + postcode
	GivenDOBPostcode      Kind = "given_dob_postcode"           // given + dob + postcode (family name changed)
	NameDayMonthPostcode  Kind = "name_daymonth_postcode"       // given + family + day + month + postcode (year mistyped)

	UPRN        Kind = "uprn"    // Unique Property Reference Number
	AddressLine Kind = "address" // postcode + house number/name + flat
	House       Kind = "house"   // postcode + house number or name, no flat

	HouseholdGroup Kind = "group" // agency-local household: different values are different households
	UnitGroup      Kind = "unit"  // agency-local unit within a household (benefit unit)

	BlockPhoneticYear   Kind = "block_phonetic_yob"      // soundex(given) + soundex(family) + year of birth
	BlockName           Kind = "block_name"              // given + family
	BlockFamilyDOB      Kind = "block_family_dob"        // family + date of birth
	BlockGivenDOB       Kind = "block_given_dob"         // given + date of birth
	BlockFamilyPostcode Kind = "block_family_postcode"   // family + postcode (UK or as recorded)
	BlockGivenPostcode  Kind = "block_given_postcode"    // given + postcode (UK or as recorded)
	BlockPhoneticPost   Kind = "block_phonetic_postcode" // soundex(given) + soundex(family) + postcode (UK or as recorded)
	BlockDOBPostcode    Kind = "block_dob_postcode"      // date of birth + postcode (UK or as recorded)
	BlockPostcodeNumber Kind = "block_postcode_number"   // postcode (UK or as recorded) + house number or name
	// Added with the blocks that tolerate a typing error in the family
	// name or in a shared identifier.
	BlockPhoneticFamilyDOB   Kind = "block_phonetic_family_dob"   // soundex(family) + date of birth
	BlockGivenPhoneticFamily Kind = "block_given_phonetic_family" // given + soundex(family)
	BlockOtherIDNear         Kind = "block_other_id_near"         // other_id, and other_id with one character left out (one token each)
)

// Similarity is not a token kind: it names the links the similarity tier
// makes (Bloom-filter encodings within Dice threshold), so that link
// counts by kind can report them beside the token kinds. It is not in the
// registry, so no token may carry it.
const Similarity Kind = "similarity"

// Info describes one kind.
type Info struct {
	Kind  Kind
	Class Class
	// Strength orders kinds: lower is stronger. Linkage applies stronger
	// kinds first and never lets a weaker kind override a contradiction
	// found by a stronger one.
	Strength int
	// BirthDate says the kind's fields include the date of birth or a
	// part of it (the year, or the day and month), so two records sharing
	// a token of the kind agree on their dates of birth at least in part.
	BirthDate bool
	// NearIdentifier says two records sharing a token of the kind carry
	// the same identifier up to one typing error. A parent and a child do
	// not, so the similarity tier's birth-date guard does not apply to
	// such a pair.
	NearIdentifier bool
}

var registry = []Info{
	{NINO, Identifier, 0, false, false},
	{NHS, Identifier, 1, false, false},
	{UPN, Identifier, 2, false, false},
	// other_id is of the Person class, not Identifier: a scheme tfmatch
	// cannot check (no check digit) carries typing errors, so two values
	// are evidence for a link when equal but never a contradiction.
	{NameDOB, Person, 10, true, false},
	{NameDOBDayMonth, Person, 11, true, false},
	{NameSwappedDOB, Person, 12, true, false},
	{InitialSurnameDOBPost, Person, 13, true, false},
	{PhoneticDOB, Person, 14, true, false},
	{NameYOBPostcode, Person, 15, true, false},
	{GivenDOBPostcode, Person, 16, true, false},
	{NameDayMonthPostcode, Person, 17, true, false},
	{OtherID, Person, 18, false, false},
	{UPRN, Address, 20, false, false},
	{AddressLine, Address, 21, false, false},
	{House, Address, 22, false, false},
	{HouseholdGroup, Group, 30, false, false},
	{UnitGroup, Group, 31, false, false},
	{BlockPhoneticYear, Block, 40, true, false},
	{BlockName, Block, 41, false, false},
	{BlockFamilyDOB, Block, 42, true, false},
	{BlockGivenDOB, Block, 43, true, false},
	{BlockDOBPostcode, Block, 44, true, false},
	{BlockFamilyPostcode, Block, 45, false, false},
	{BlockGivenPostcode, Block, 46, false, false},
	{BlockPhoneticPost, Block, 47, false, false},
	{BlockPostcodeNumber, Block, 48, false, false},
	{BlockPhoneticFamilyDOB, Block, 49, true, false},
	{BlockGivenPhoneticFamily, Block, 50, false, false},
	{BlockOtherIDNear, Block, 51, false, true},
}

// All returns every known kind, strongest first.
func All() []Info {
	out := make([]Info, len(registry))
	copy(out, registry)
	return out
}

// index finds a kind's place in registry (plus one; zero marks an empty
// slot). It is built once from registry and only read: the matcher looks
// up the kind of every token it receives, tens of millions in a large
// run, so it is an open-addressed table hashed on a kind's length and three
// of its bytes, the candidate then compared whole, rather than a map that
// hashes every byte.
var index = func() (t [indexSlots]uint8) {
	for i, in := range registry {
		h := slot(in.Kind)
		for t[h] != 0 {
			h = (h + 1) % indexSlots
		}
		t[h] = uint8(i + 1)
	}
	return t
}()

// indexSlots is the size of index: a power of two, at least twice the
// number of kinds, so that probes are short.
const indexSlots = 128

// slot is where k's probe starts in index.
func slot[S ~string | ~[]byte](k S) int {
	n := len(k)
	if n == 0 {
		return 0
	}
	return int((uint(n)*97 + uint(k[0])*31 + uint(k[n-1])*7 + uint(k[n/2])) % indexSlots)
}

// find returns k's place in registry, or -1.
func find[S ~string | ~[]byte](k S) int {
	for h := slot(k); index[h] != 0; h = (h + 1) % indexSlots {
		if i := int(index[h]) - 1; string(registry[i].Kind) == string(k) {
			return i
		}
	}
	return -1
}

// Index returns k's place in All, and false if k is not a known kind.
func Index(k Kind) (int, bool) {
	i := find(k)
	return i, i >= 0
}

// Lookup returns the description of k, and false if k is not a known kind.
func Lookup(k Kind) (Info, bool) {
	i := find(k)
	if i < 0 {
		return Info{}, false
	}
	return registry[i], true
}

// LookupBytes is Lookup of a kind's name as bytes, as a decoder has it:
// the Info's Kind is the package's constant, so a caller keeps no copy of
// b.
func LookupBytes(b []byte) (Info, bool) {
	i := find(b)
	if i < 0 {
		return Info{}, false
	}
	return registry[i], true
}

// Valid reports whether k is a known kind.
func Valid(k Kind) bool {
	_, ok := Lookup(k)
	return ok
}
