package normalize

import "slices"

// Field names of the canonical person schema. A mapping file maps an
// agency's columns onto these names; Normalize reads them. The names are
// part of the mapping-file format and so are frozen.
const (
	FieldRecordID     = "record_id"     // the agency's own record identifier (required)
	FieldTitle        = "title"         // Mr, Mrs, Dr, ...
	FieldGivenName    = "given_name"    // first name (may hold middle names too)
	FieldMiddleNames  = "middle_names"  // middle names, space separated
	FieldFamilyName   = "family_name"   // surname
	FieldFullName     = "full_name"     // whole name in one column, when not split
	FieldDOB          = "dob"           // date of birth, already parsed by the mapping to YYYY-MM-DD
	FieldSex          = "sex"           // M/F/U and spelled-out variants
	FieldNINO         = "nino"          // National Insurance number
	FieldNHSNumber    = "nhs_number"    // NHS number (10 digits, mod-11 check)
	FieldUPN          = "upn"           // Unique Pupil Number (13 characters, check letter)
	FieldUPRN         = "uprn"          // Unique Property Reference Number
	FieldAddress      = "address"       // free-text address (possibly several columns joined)
	FieldFlat         = "flat"          // flat / sub-building
	FieldHouseNumber  = "house_number"  // house number or name
	FieldStreet       = "street"        // street name
	FieldTown         = "town"          // town / locality
	FieldPostcode     = "postcode"      // UK postcode
	FieldHouseholdRef = "household_ref" // agency-local reference to a whole household (family ref): different refs mean different households
	FieldOtherID      = "other_id"      // an identifier the sources share that is not a NINO, NHS number or UPN (a client, case or social-security number)
	FieldUnitRef      = "unit_ref"      // agency-local grouping narrower than a household (benefit unit): its members live together, a household may hold several
)

// fieldNames are the canonical field names in schema order: a field's
// index here is its index in Values (FieldIndex).
var fieldNames = [NumFields]string{
	FieldRecordID, FieldTitle, FieldGivenName, FieldMiddleNames,
	FieldFamilyName, FieldFullName, FieldDOB, FieldSex, FieldNINO,
	FieldNHSNumber, FieldUPN, FieldUPRN, FieldAddress, FieldFlat,
	FieldHouseNumber, FieldStreet, FieldTown, FieldPostcode,
	FieldOtherID, FieldHouseholdRef, FieldUnitRef,
}

// NumFields is the number of canonical fields.
const NumFields = 21

// Fields lists every canonical field name, in schema order.
func Fields() []string {
	return append([]string(nil), fieldNames[:]...)
}

// FieldIndex returns the index of a canonical field name in Fields() and
// in Values, and false for a name outside the schema.
func FieldIndex(name string) (int, bool) {
	i := slices.Index(fieldNames[:], name)
	return i, i >= 0
}

// Values holds the canonical fields of one mapped record, raw as the
// mapping layer yields them, "" for a field that is missing. It is what
// Normalize reads: a mapping layer fills it by field index (Set), without
// the allocation and the hashing of a map per record; Normalize's map
// argument is read into one first.
type Values struct {
	RecordID, Title, GivenName, MiddleNames, FamilyName, FullName string
	DOB, Sex, NINO, NHSNumber, UPN, UPRN                          string
	Address, Flat, HouseNumber, Street, Town, Postcode            string
	OtherID, HouseholdRef, UnitRef                                string
}

// field returns the field of v at index i of Fields(), nil for an index
// outside the schema.
func (v *Values) field(i int) *string {
	switch i {
	case 0:
		return &v.RecordID
	case 1:
		return &v.Title
	case 2:
		return &v.GivenName
	case 3:
		return &v.MiddleNames
	case 4:
		return &v.FamilyName
	case 5:
		return &v.FullName
	case 6:
		return &v.DOB
	case 7:
		return &v.Sex
	case 8:
		return &v.NINO
	case 9:
		return &v.NHSNumber
	case 10:
		return &v.UPN
	case 11:
		return &v.UPRN
	case 12:
		return &v.Address
	case 13:
		return &v.Flat
	case 14:
		return &v.HouseNumber
	case 15:
		return &v.Street
	case 16:
		return &v.Town
	case 17:
		return &v.Postcode
	case 18:
		return &v.OtherID
	case 19:
		return &v.HouseholdRef
	case 20:
		return &v.UnitRef
	}
	return nil
}

// Get returns the field at index i of Fields() (see FieldIndex), "" for
// an index outside the schema.
func (v *Values) Get(i int) string {
	if p := v.field(i); p != nil {
		return *p
	}
	return ""
}

// Set sets the field at index i of Fields() (see FieldIndex) to s; an
// index outside the schema is ignored.
func (v *Values) Set(i int, s string) {
	if p := v.field(i); p != nil {
		*p = s
	}
}

// ValuesOf reads a map of canonical field names to values, as the mapping
// layer's Row.Fields holds them. Names outside the schema are ignored.
func ValuesOf(fields map[string]string) Values {
	var v Values
	for name, s := range fields {
		if i, ok := FieldIndex(name); ok {
			v.Set(i, s)
		}
	}
	return v
}

// Map returns the non-empty fields of v by canonical name: the form
// ValuesOf reads.
func (v *Values) Map() map[string]string {
	n := 0
	for i := range NumFields {
		if v.Get(i) != "" {
			n++
		}
	}
	m := make(map[string]string, n)
	for i, name := range fieldNames {
		if s := v.Get(i); s != "" {
			m[name] = s
		}
	}
	return m
}
