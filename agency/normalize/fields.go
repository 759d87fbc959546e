package normalize

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

// Fields lists every canonical field name, in schema order.
func Fields() []string {
	return []string{
		FieldRecordID, FieldTitle, FieldGivenName, FieldMiddleNames,
		FieldFamilyName, FieldFullName, FieldDOB, FieldSex, FieldNINO,
		FieldNHSNumber, FieldUPN, FieldUPRN, FieldAddress, FieldFlat,
		FieldHouseNumber, FieldStreet, FieldTown, FieldPostcode,
		FieldOtherID, FieldHouseholdRef, FieldUnitRef,
	}
}
