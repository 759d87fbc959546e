package normalize

import (
	"fmt"
	"strings"
)

// Person is one agency record after normalisation. Name parts are folded
// as by Name; identifiers are in their canonical forms; empty means
// missing.
type Person struct {
	RecordID string // the agency's record identifier, trimmed
	Title    string // canonical title (mr, mrs, dr...), informational only
	Given    string // first given name as recorded, folded
	// GivenVariants are the forms of Given to match on: Given itself first,
	// then the formal names it may stand for (see GivenVariants).
	GivenVariants []string
	Middle        []string // middle names, folded
	Family        string   // canonical family name (all parts joined)
	FamilyParts   []string // the parts of a multi-part family name
	DOB           Date     // zero when not recorded
	Sex           string   // "m", "f", "u" or "" (not recorded)
	NINO          string   // canonical NINO without suffix, see NINO
	NHS           string   // ten-digit NHS number
	UPN           string   // Unique Pupil Number
	Address       Address
	HouseholdRef  string // agency-local household reference, trimmed
	UnitRef       string // agency-local sub-household grouping (benefit unit), trimmed
	OtherID       string // a shared identifier of another scheme: letters and digits, upper case
}

// Issue is a non-fatal problem found while normalising a record: a value
// was dropped or repaired and the rest of the record is still used. Reason
// never contains the value itself.
type Issue struct {
	Field  string // canonical field name
	Reason string
}

func (i Issue) String() string { return i.Field + ": " + i.Reason }

// FieldError is a fatal problem with a record: the record cannot be used.
type FieldError struct {
	Field  string // canonical field name
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Reason) }

// Sex normalises a recorded sex or gender to "m", "f" or "u" (recorded as
// unknown, not specified or other), and "" when s is empty or
// unrecognised. It understands letters and words (M, Male, F, Female,
// Woman, Girl...) and the NHS Data Dictionary codes 1 (male), 2 (female),
// 0 and 9 (not known / not specified).
func Sex(s string) string {
	var buf [32]byte
	switch string(squeeze(appendFold(buf[:0], s, foldAddress))) {
	case "m", "male", "man", "boy", "1":
		return "m"
	case "f", "female", "woman", "girl", "2", "w":
		return "f"
	case "u", "unknown", "notknown", "notspecified", "unspecified", "x", "other", "o", "i", "indeterminate", "0", "9", "n":
		return "u"
	}
	return ""
}

// Normalize turns one mapped record (canonical field name → raw value, as
// produced by the mapping layer) into a Person. Issues report values that
// were dropped as invalid; the error, a *FieldError, reports a record that
// cannot be used at all. See the package documentation for the rules.
func Normalize(fields map[string]string) (Person, []Issue, error) {
	v := ValuesOf(fields)
	return NormalizeValues(&v)
}

// NormalizeValues is Normalize for a record's fields held in Values.
func NormalizeValues(r *Values) (Person, []Issue, error) {
	var p Person
	var issues []Issue
	add := func(field, reason string) { issues = append(issues, Issue{Field: field, Reason: reason}) }

	p.RecordID = strings.TrimSpace(r.RecordID)
	if p.RecordID == "" {
		return Person{}, nil, &FieldError{Field: FieldRecordID, Reason: "missing"}
	}

	// Names: split fields first, the full name fills what they lack.
	p.Given, p.Middle = GivenNames(r.GivenName, r.MiddleNames)
	p.Family, p.FamilyParts = FamilyName(r.FamilyName)
	if t := strings.TrimSpace(r.Title); t != "" {
		p.Title = Title(t)
	}
	if full := r.FullName; strings.TrimSpace(full) != "" && (p.Given == "" || p.Family == "") {
		fn := ParseFullName(full)
		if p.Given == "" && (p.Family == "" || p.Family == fn.Family) {
			p.Given, p.Middle = fn.Given, fn.Middle
		}
		if p.Family == "" {
			p.Family, p.FamilyParts = fn.Family, fn.FamilyParts
		}
		if p.Title == "" {
			p.Title = fn.Title
		}
	}

	if s := strings.TrimSpace(r.Sex); s != "" {
		p.Sex = Sex(s)
		if p.Sex == "" {
			add(FieldSex, "unrecognised value dropped")
		}
	}
	p.GivenVariants = GivenVariants(p.Given, p.Sex)

	if s := strings.TrimSpace(r.DOB); s != "" {
		d, err := ParseISO(s)
		if err != nil {
			return Person{}, nil, &FieldError{Field: FieldDOB, Reason: err.Error()}
		}
		p.DOB = d
	}

	ident := func(field, value string, f func(string) (string, bool), what string) string {
		s := strings.TrimSpace(value)
		if s == "" {
			return ""
		}
		v, ok := f(s)
		if !ok {
			add(field, "not a valid "+what+"; dropped")
		}
		return v
	}
	p.NINO = ident(FieldNINO, r.NINO, NINO, "National Insurance number")
	p.NHS = ident(FieldNHSNumber, r.NHSNumber, NHSNumber, "NHS number")
	p.UPN = ident(FieldUPN, r.UPN, UPN, "Unique Pupil Number")
	p.OtherID = OtherID(r.OtherID)

	if p.Given == "" && p.Family == "" && p.NINO == "" && p.NHS == "" && p.UPN == "" && p.OtherID == "" {
		return Person{}, nil, &FieldError{Field: FieldFamilyName, Reason: "record has no name (given_name, family_name, full_name) and no valid identifier (nino, nhs_number, upn, other_id)"}
	}

	p.Address = normalizeAddress(r, add)
	p.HouseholdRef = strings.TrimSpace(r.HouseholdRef)
	p.UnitRef = strings.TrimSpace(r.UnitRef)
	return p, issues, nil
}

// normalizeAddress combines the address fields: explicit fields win over
// what is parsed from the free-text address.
func normalizeAddress(r *Values, add func(field, reason string)) Address {
	var a Address
	text := r.Address
	if strings.TrimSpace(text) != "" {
		a = ParseAddress(text)
	}
	// A valid postcode is never "no fixed abode" text
	// (FuzzValidPostcodeNotNFA), so the postcode field, nearly always
	// valid, is checked as a postcode first.
	pc := strings.TrimSpace(r.Postcode)
	var c string
	ok := false
	if pc != "" {
		c, ok = Postcode(pc)
	}
	for _, v := range [...]string{r.HouseNumber, r.Street, r.Flat} {
		if v != "" && isNFAText(v) {
			a.NoFixedAbode = true
		}
	}
	if !ok && r.Postcode != "" && isNFAText(r.Postcode) {
		a.NoFixedAbode = true
	}
	if pc != "" && !a.NoFixedAbode {
		switch {
		case ok:
			a.Postcode = c
		case strings.EqualFold(strings.ReplaceAll(pc, " ", ""), nhsNFAPostcode):
			a.NoFixedAbode = true
		case strings.HasPrefix(strings.ToUpper(pc), "ZZ99"):
			add(FieldPostcode, "pseudo-postcode (not known); treated as missing")
		default:
			if a.Postcode == "" {
				a.RawPostcode = RawPostcode(pc)
				add(FieldPostcode, "not a valid UK postcode; kept as recorded for blocking and similarity, not for address keys")
			} else {
				add(FieldPostcode, "not a valid UK postcode; the one in the address is used")
			}
		}
	}
	if a.NoFixedAbode {
		return Address{NoFixedAbode: true}
	}
	if s := strings.TrimSpace(r.UPRN); s != "" {
		if u, ok := UPRN(s); ok {
			a.UPRN = u
		} else {
			add(FieldUPRN, "not a valid UPRN; dropped")
		}
	}
	if s := r.HouseNumber; strings.TrimSpace(s) != "" {
		// A house-number column sometimes carries the flat too ("2/14",
		// "Flat 2, 14").
		if pa := ParseAddress(s); pa.Flat != "" && pa.Number != "" {
			a.Number = pa.Number
			if a.Flat == "" {
				a.Flat = pa.Flat
			}
		} else {
			a.Number = HouseNumber(s)
		}
	}
	if s := r.Flat; strings.TrimSpace(s) != "" {
		a.Flat = Flat(s)
	}
	if s := r.Street; strings.TrimSpace(s) != "" {
		a.Street = Street(s)
	}
	if s := r.Town; strings.TrimSpace(s) != "" {
		a.Town = Town(s)
	}
	return a
}
