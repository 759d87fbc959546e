package normalize

import (
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestSex(t *testing.T) {
	tests := []struct{ in, want string }{
		{"M", "m"}, {"male", "m"}, {"Male ", "m"}, {"1", "m"}, {"BOY", "m"},
		{"F", "f"}, {"Female", "f"}, {"2", "f"}, {"woman", "f"},
		{"U", "u"}, {"Unknown", "u"}, {"Not known", "u"}, {"9", "u"}, {"0", "u"}, {"X", "u"},
		{"", ""}, {"Q", ""}, {"3", ""},
	}
	for _, tt := range tests {
		if got := Sex(tt.in); got != tt.want {
			t.Errorf("Sex(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name    string
		fields  map[string]string
		wantErr string // exact message
	}{
		{"missing record id", map[string]string{FieldFamilyName: "Smith"}, `field "record_id": missing`},
		{"blank record id", map[string]string{FieldRecordID: "  ", FieldFamilyName: "Smith"}, `field "record_id": missing`},
		{"unreal dob", map[string]string{FieldRecordID: "1", FieldFamilyName: "Smith", FieldDOB: "2031-02-30"},
			`field "dob": date 2031-02-30 is not a real date`},
		{"dob too early", map[string]string{FieldRecordID: "1", FieldFamilyName: "Smith", FieldDOB: "1850-01-01"},
			`field "dob": date 1850-01-01: year outside 1890-2100`},
		{"dob not a date", map[string]string{FieldRecordID: "1", FieldFamilyName: "Smith", FieldDOB: "unknown"},
			`field "dob": not a YYYY-MM-DD date`},
		{"no name no identifier", map[string]string{FieldRecordID: "1", FieldDOB: "1990-01-01", FieldPostcode: "LS1 1AB"},
			`field "family_name": record has no name (given_name, family_name, full_name) and no valid identifier (nino, nhs_number, upn, other_id)`},
		{"no name, invalid identifier", map[string]string{FieldRecordID: "1", FieldNINO: "XX"},
			`field "family_name": record has no name (given_name, family_name, full_name) and no valid identifier (nino, nhs_number, upn, other_id)`},
		{"title only", map[string]string{FieldRecordID: "1", FieldGivenName: "Mr"},
			`field "family_name": record has no name (given_name, family_name, full_name) and no valid identifier (nino, nhs_number, upn, other_id)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Normalize(tt.fields)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Normalize error = %v, want a *FieldError", err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Normalize error = %q, want %q", err.Error(), tt.wantErr)
			}
		})
	}
}

func TestNormalizeUsable(t *testing.T) {
	tests := []struct {
		name       string
		fields     map[string]string
		check      func(Person) bool
		wantIssues []string // Issue fields, in order
	}{
		{"identifier without name or dob", map[string]string{FieldRecordID: "7", FieldNHSNumber: "943 476 5919"},
			func(p Person) bool { return p.NHS == "9434765919" && p.DOB.IsZero() }, nil},
		{"name without dob", map[string]string{FieldRecordID: "7", FieldGivenName: "Ann"},
			func(p Person) bool { return p.Given == "ann" }, nil},
		{"invalid identifiers dropped", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith",
			FieldNINO: "QQ123456C", FieldNHSNumber: "1234567890", FieldUPN: "A801200005001", FieldUPRN: "x1"},
			func(p Person) bool { return p.NINO == "" && p.NHS == "" && p.UPN == "" && p.Address.UPRN == "" },
			[]string{FieldNINO, FieldNHSNumber, FieldUPN, FieldUPRN}},
		{"invalid postcode is missing", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldPostcode: "LS1 1XX1"},
			func(p Person) bool { return p.Address.Postcode == "" }, []string{FieldPostcode}},
		{"invalid postcode field, postcode in address", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith",
			FieldPostcode: "unknown", FieldAddress: "1 High St, Leeds LS1 1AB"},
			func(p Person) bool { return p.Address.Postcode == "LS1 1AB" }, []string{FieldPostcode}},
		{"pseudo postcode", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldPostcode: "ZZ99 3WZ"},
			func(p Person) bool { return p.Address.Postcode == "" }, []string{FieldPostcode}},
		{"NFA postcode", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldPostcode: "ZZ99 3VZ", FieldUPRN: "12"},
			func(p Person) bool { return p.Address == Address{NoFixedAbode: true} }, nil},
		{"NFA street", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldStreet: "N.F.A.", FieldPostcode: "LS1 1AB"},
			func(p Person) bool { return p.Address == Address{NoFixedAbode: true} }, nil},
		{"unknown sex", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldSex: "Q"},
			func(p Person) bool { return p.Sex == "" }, []string{FieldSex}},
		{"full name fills family only", map[string]string{FieldRecordID: "7", FieldGivenName: "Bill", FieldFullName: "William SMITH"},
			func(p Person) bool { return p.Given == "bill" && p.Family == "smith" }, nil},
		{"explicit fields override free text", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith",
			FieldAddress: "Flat 2, 14 High St, Leeds", FieldHouseNumber: "16", FieldTown: "Bradford"},
			func(p Person) bool {
				return p.Address == Address{Flat: "2", Number: "16", Street: "high street", Town: "bradford"}
			}, nil},
		{"house number column with flat", map[string]string{FieldRecordID: "7", FieldFamilyName: "Smith", FieldHouseNumber: "2/14"},
			func(p Person) bool { return p.Address.Flat == "2" && p.Address.Number == "14" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, issues, err := Normalize(tt.fields)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !tt.check(p) {
				t.Errorf("Normalize = %+v: check failed", p)
			}
			var got []string
			for _, is := range issues {
				got = append(got, is.Field)
				for _, v := range tt.fields {
					if len(v) > 3 && strings.Contains(is.Reason, v) {
						t.Errorf("issue %q echoes the value %q", is, v)
					}
				}
			}
			if !slices.Equal(got, tt.wantIssues) {
				t.Errorf("issues = %v, want fields %v", issues, tt.wantIssues)
			}
		})
	}
}

// goldenRecords are realistic rows as a mapping might yield them.
var goldenRecords = []map[string]string{
	{FieldRecordID: "P1", FieldTitle: "Mr", FieldGivenName: "William John", FieldFamilyName: "O'Brien-Smith", FieldDOB: "1980-03-04",
		FieldSex: "Male", FieldNINO: "ab 12 34 56 c", FieldAddress: "Flat 2, 14 High St, Leeds, ls1 1ab", FieldHouseholdRef: " F-99 "},
	{FieldRecordID: "P2", FieldFullName: "SMITH, Mrs Zoë Ann", FieldDOB: "1975-12-01", FieldSex: "2",
		FieldNHSNumber: "943-476-5919", FieldPostcode: "ec1a1bb", FieldHouseNumber: "Rose Cottage", FieldStreet: "Mill Ln"},
	{FieldRecordID: "P3", FieldGivenName: "Mo", FieldFamilyName: "Al Hassan", FieldDOB: "2008-07-21", FieldUPN: "b801200005001",
		FieldUPRN: "000100023336956", FieldAddress: "2/14 St Mary's Rd, St Albans AL1 3AB"},
	{FieldRecordID: "P4", FieldFullName: "Dr José García-López Jr", FieldAddress: "NFA"},
	{FieldRecordID: "P5", FieldGivenName: "alex", FieldFamilyName: "van der Berg", FieldDOB: "2011-11-30", FieldPostcode: "LS1 1A"},
}

func TestNormalizeGolden(t *testing.T) {
	type result struct {
		Person Person  `json:",omitempty"`
		Issues []Issue `json:",omitempty"`
		Error  string  `json:",omitempty"`
	}
	var out []result
	for _, r := range goldenRecords {
		p, issues, err := Normalize(r)
		res := result{Person: p, Issues: issues}
		if err != nil {
			res.Error = err.Error()
		}
		out = append(out, res)
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "normalize.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("Normalize output differs from %s (run go test -update after checking):\n%s", path, got)
	}
}

// FuzzNormalize checks that Normalize never panics and that a normalised
// person, written back into fields, normalises to itself.
func FuzzNormalize(f *testing.F) {
	for _, r := range goldenRecords {
		f.Add(r[FieldRecordID], r[FieldGivenName], r[FieldFamilyName], r[FieldFullName], r[FieldDOB], r[FieldSex],
			r[FieldNINO], r[FieldAddress], r[FieldPostcode])
	}
	f.Fuzz(func(t *testing.T, id, given, family, full, dob, sex, nino, addr, postcode string) {
		p, _, err := Normalize(map[string]string{
			FieldRecordID: id, FieldGivenName: given, FieldFamilyName: family, FieldFullName: full,
			FieldDOB: dob, FieldSex: sex, FieldNINO: nino, FieldAddress: addr, FieldPostcode: postcode,
		})
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			return
		}
		back := map[string]string{
			FieldRecordID: p.RecordID, FieldTitle: p.Title, FieldGivenName: p.Given,
			FieldMiddleNames: strings.Join(p.Middle, " "), FieldFamilyName: strings.Join(p.FamilyParts, "-"),
			FieldDOB: p.DOB.String(), FieldSex: p.Sex, FieldNINO: p.NINO, FieldNHSNumber: p.NHS, FieldUPN: p.UPN,
			FieldUPRN: p.Address.UPRN, FieldPostcode: p.Address.Postcode, FieldFlat: p.Address.Flat,
			FieldHouseNumber: p.Address.Number, FieldStreet: p.Address.Street, FieldTown: p.Address.Town,
			FieldHouseholdRef: p.HouseholdRef,
		}
		if p.Address.NoFixedAbode {
			back[FieldAddress] = "no fixed abode"
		}
		if p.Address.RawPostcode != "" {
			back[FieldPostcode] = p.Address.RawPostcode
		}
		q, _, err := Normalize(back)
		if err != nil {
			t.Fatalf("normalised person %+v does not normalise again: %v", p, err)
		}
		pj, _ := json.Marshal(p)
		qj, _ := json.Marshal(q)
		if string(pj) != string(qj) {
			t.Fatalf("not idempotent:\n%s\n%s", pj, qj)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	r := goldenRecords[0]
	for b.Loop() {
		if _, _, err := Normalize(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNormalizeOtherIDOnly(t *testing.T) {
	// A record with no name but an identifier of another scheme can
	// still be linked by that identifier: it is kept.
	p, _, err := Normalize(map[string]string{FieldRecordID: "1", FieldOtherID: " 64-3229 0", FieldDOB: "1900-04-30"})
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if p.OtherID != "6432290" || p.Given != "" || p.Family != "" {
		t.Errorf("got other id %q, names %q %q; want 6432290 and no names", p.OtherID, p.Given, p.Family)
	}
}

func TestValues(t *testing.T) {
	names := Fields()
	if len(names) != NumFields {
		t.Fatalf("Fields() has %d names, NumFields is %d", len(names), NumFields)
	}
	var v Values
	want := map[string]string{}
	for i, name := range names {
		if j, ok := FieldIndex(name); !ok || j != i {
			t.Errorf("FieldIndex(%q) = %d, %v; want %d, true", name, j, ok, i)
		}
		v.Set(i, "value of "+name)
		want[name] = "value of " + name
	}
	// Each index has a field of its own: no Set overwrote another's.
	for i, name := range names {
		if got := v.Get(i); got != want[name] {
			t.Errorf("Get(%d) = %q, want %q", i, got, want[name])
		}
	}
	if got := v.Map(); !maps.Equal(got, want) {
		t.Errorf("Map() = %q, want %q", got, want)
	}
	if got := ValuesOf(want); got != v {
		t.Errorf("ValuesOf(Map()) = %+v, want %+v", got, v)
	}
	for _, bad := range []string{"", "surname", "Record_ID", "record_id "} {
		if _, ok := FieldIndex(bad); ok {
			t.Errorf("FieldIndex(%q) is ok, want not a field", bad)
		}
	}
	if got := ValuesOf(map[string]string{"surname": "Smith", FieldTown: "Leeds"}); got != (Values{Town: "Leeds"}) {
		t.Errorf("ValuesOf with a name outside the schema = %+v, want only the town", got)
	}
	if v.Get(-1) != "" || v.Get(NumFields) != "" {
		t.Error("Get outside the schema is not empty")
	}
	if got := (&Values{RecordID: "1", Postcode: ""}).Map(); !maps.Equal(got, map[string]string{FieldRecordID: "1"}) {
		t.Errorf("Map() of a record with empty fields = %q, want only the record id", got)
	}
}
