package mapping

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustParse(t testing.TB, src string) *Mapping {
	t.Helper()
	m, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestLoadExample(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "police.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Fields(), []string{"record_id", "given_name", "family_name", "dob", "address", "postcode", "household_ref"}; !slices.Equal(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
	if got, want := m.Indicators(), []string{"crime_asb", "local_concern"}; !slices.Equal(got, want) {
		t.Errorf("Indicators() = %q, want %q", got, want)
	}
	if m.Source() != "police" || m.Name() != "police.yaml" {
		t.Errorf("Source, Name = %q, %q", m.Source(), m.Name())
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestParseDefaults(t *testing.T) {
	m := mustParse(t, "version: 1\nfields:\n  record_id: ID\n  given_name: {column: ' First '}\n")
	if m.delimiter != ',' || m.encoding != EncodingUTF8 {
		t.Errorf("defaults: delimiter %q encoding %q", m.delimiter, m.encoding)
	}
	if len(m.fields) != 2 || m.fields[1].columns[0] != "First" || m.fields[1].separator != " " {
		t.Errorf("fields = %+v", m.fields)
	}
	if m.Indicators() == nil || len(m.Indicators()) != 0 {
		t.Errorf("Indicators() = %#v, want empty non-nil", m.Indicators())
	}
}

func TestParseCSVOptions(t *testing.T) {
	tests := []struct {
		csv       string
		delimiter rune
		encoding  string
	}{
		{`{delimiter: ";"}`, ';', EncodingUTF8},
		{`{delimiter: "\t"}`, '\t', EncodingUTF8},
		{`{delimiter: '\t'}`, '\t', EncodingUTF8},
		{`{delimiter: "|", encoding: windows-1252}`, '|', EncodingWindows1252},
		{`{encoding: CP1252}`, ',', EncodingWindows1252},
		{`{encoding: UTF8}`, ',', EncodingUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.csv, func(t *testing.T) {
			m := mustParse(t, "version: 1\ncsv: "+tt.csv+"\nfields: {record_id: ID}\n")
			if m.delimiter != tt.delimiter || m.encoding != tt.encoding {
				t.Errorf("got delimiter %q encoding %q, want %q %q", m.delimiter, m.encoding, tt.delimiter, tt.encoding)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const head = "version: 1\n"
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"test.yaml: empty mapping file"}},
		{"not a mapping", "- a\n- b\n", []string{"test.yaml:1: want a mapping"}},
		{"bad yaml", "version: 1\nfields: [\n", []string{"test.yaml: yaml:"}},
		{"two documents", "version: 1\nfields: {record_id: A}\n---\nversion: 1\n", []string{"test.yaml:3: only one YAML document"}},
		{"no version", "fields: {record_id: A}\n", []string{"test.yaml:1: version is missing"}},
		{"version 2", "version: 2\nfields: {record_id: A}\n", []string{`test.yaml:1: version "2" is not supported`}},
		{"version list", "version: [1]\nfields: {record_id: A}\n", []string{"test.yaml:1: version: want a string"}},
		{"unknown top-level key", head + "feilds: {record_id: A}\n", []string{`test.yaml:2: unknown key "feilds"`, "test.yaml:1: fields is missing"}},
		{"duplicate top-level key", head + "source: a\nsource: b\nfields: {record_id: A}\n", []string{`test.yaml:3: mapping: duplicate key "source" (first at line 2)`}},
		{"no record_id", head + "fields:\n  given_name: A\n", []string{"test.yaml:2: fields: record_id is required"}},
		{"unknown field", head + "fields:\n  record_id: A\n  surname: B\n", []string{`test.yaml:4: fields: unknown canonical field "surname"`}},
		{"unknown field near", head + "fields:\n  record_id: A\n  given_nme: B\n", []string{`test.yaml:4: fields: unknown canonical field "given_nme" (did you mean "given_name"?)`}},
		{"unknown field synonym", head + "fields:\n  record_id: A\n  surname: B\n", []string{`test.yaml:4: fields: unknown canonical field "surname" (did you mean "family_name"?)`}},
		{"duplicate field", head + "fields:\n  record_id: A\n  record_id: B\n", []string{`test.yaml:4: fields: duplicate key "record_id"`}},
		{"empty column", head + "fields:\n  record_id: ''\n", []string{"test.yaml:3: field record_id: empty column name"}},
		{"empty column in list", head + "fields:\n  record_id: A\n  address: {columns: [A1, ' ']}\n", []string{"test.yaml:4: field address: empty column name"}},
		{"null column", head + "fields:\n  record_id:\n", []string{"test.yaml:3: field record_id: want a column name"}},
		{"column and columns", head + "fields:\n  record_id: A\n  address: {column: X, columns: [Y]}\n", []string{"test.yaml:4: field address: give column or columns, not both"}},
		{"no column", head + "fields:\n  record_id: A\n  address: {separator: ','}\n", []string{"test.yaml:4: field address: column or columns is required", "separator only applies with columns"}},
		{"empty columns", head + "fields:\n  record_id: A\n  address: {columns: []}\n", []string{"test.yaml:4: field address: columns is empty"}},
		{"unknown spec key", head + "fields:\n  record_id: A\n  address: {colum: X}\n", []string{`test.yaml:4: field address: unknown key "colum"`}},
		{"format on non-date", head + "fields:\n  record_id: {column: A, format: YYYY}\n", []string{"test.yaml:3: field record_id: format only applies to the date field dob"}},
		{"dob without format", head + "fields:\n  record_id: A\n  dob: DOB\n", []string{"test.yaml:4: field dob: a date needs a format"}},
		{"bad date token", head + "fields:\n  record_id: A\n  dob: {column: DOB, format: DD/MM/YYY}\n", []string{`test.yaml:4: field dob: date format "DD/MM/YYY": unknown token at "Y"`}},
		{"two years", head + "fields:\n  record_id: A\n  dob: {column: DOB, format: YYYY/MM/YY}\n", []string{`test.yaml:4: field dob: date format "YYYY/MM/YY" must have exactly one year`}},
		{"D then digits", head + "fields:\n  record_id: A\n  dob: {column: DOB, format: DMMYYYY}\n", []string{`must be followed by a separator`}},
		{"unknown date token", head + "fields:\n  record_id: A\n  dob: {column: DOB, format: DD/MM/YYYY HH}\n", []string{`test.yaml:4: field dob: date format "DD/MM/YYYY HH": unknown token`}},
		{"format and formats", head + "fields:\n  record_id: A\n  dob: {column: DOB, format: YYYY-MM-DD, formats: [YYYY-MM-DD]}\n", []string{"test.yaml:4: field dob: give format or formats, not both"}},
		{"formats empty", head + "fields:\n  record_id: A\n  dob: {column: DOB, formats: []}\n", []string{"test.yaml:4: field dob: no date format given"}},
		{"bad delimiter", head + "csv: {delimiter: ',,'}\nfields: {record_id: A}\n", []string{"test.yaml:2: csv.delimiter must be exactly one character"}},
		{"quote delimiter", head + "csv: {delimiter: '\"'}\nfields: {record_id: A}\n", []string{"test.yaml:2: csv.delimiter must be exactly one character"}},
		{"unsupported encoding", head + "csv:\n  encoding: latin-2\nfields: {record_id: A}\n", []string{`test.yaml:3: csv.encoding "latin-2" is not supported`}},
		{"unknown csv key", head + "csv:\n  quote: \"'\"\nfields: {record_id: A}\n", []string{`test.yaml:3: csv: unknown key "quote"`}},
		{"dates bad format", head + "fields: {record_id: A}\ndates:\n  D1: [DD/MM/YYYY]\n  D2: [QQ]\n", []string{`test.yaml:5: dates: column "D2": date format "QQ": unknown token`}},
		{"dates duplicate", head + "fields: {record_id: A}\ndates:\n  D1: [DD/MM/YYYY]\n  D1: [YYYY-MM-DD]\n", []string{`test.yaml:5: dates: duplicate key "D1"`}},
		{"indicator does not compile", head + "fields: {record_id: A}\nindicators:\n  crime_asb: row.X ==\n", []string{"test.yaml:4: indicator crime_asb does not compile", "Syntax error"}},
		{"indicator undeclared", head + "fields: {record_id: A}\nindicators:\n  work: rows.X == 'Y'\n", []string{"test.yaml:4: indicator work does not compile", "undeclared reference to 'rows'"}},
		{"indicator not bool", head + "fields: {record_id: A}\nindicators:\n  work: age + 1\n", []string{"test.yaml:4: indicator work must yield bool, not int"}},
		{"indicator duplicate", head + "fields: {record_id: A}\nindicators:\n  work: age > 1\n  work: age > 2\n", []string{`test.yaml:5: indicators: duplicate key "work" (first at line 4)`}},
		{"indicator bad name", head + "fields: {record_id: A}\nindicators:\n  crime-asb: age > 1\n", []string{`test.yaml:4: indicator "crime-asb": a name is a letter`}},
		{"indicator empty", head + "fields: {record_id: A}\nindicators:\n  work: ' '\n", []string{"test.yaml:4: indicator work: empty expression"}},
		{"indicator unlisted date", head + "fields: {record_id: A}\ndates: {D1: [YYYY-MM-DD]}\nindicators:\n  work: months_since(date.D2) < 3\n", []string{`test.yaml:5: indicator work reads date column "D2", which is not listed under dates:`}},
		{"indicator unlisted date in", head + "fields: {record_id: A}\nindicators:\n  work: \"'D3' in date\"\n", []string{`indicator work reads date column "D3"`}},
		{"indicator wrong arg type", head + "fields: {record_id: A}\nindicators:\n  work: months_since(row.X) < 3\n", []string{"test.yaml:4: indicator work does not compile", "found no matching overload for 'months_since'"}},
		{"several problems", head + "fields:\n  record_id: A\n  bogus: B\ncsv: {encoding: ebcdic}\n", []string{`test.yaml:4: fields: unknown canonical field "bogus"`, `test.yaml:5: csv.encoding "ebcdic"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.src), "test.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", m)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseExactError(t *testing.T) {
	// A bad record_id is reported once, not also as missing.
	_, err := Parse([]byte("version: 1\nfields:\n  record_id: ''\n"), "test.yaml")
	if err == nil || err.Error() != "test.yaml:3: field record_id: empty column name" {
		t.Fatalf("err = %v", err)
	}
}

func TestParseAcceptsVariants(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"quoted version", "version: '1'\nfields: {record_id: A}\n"},
		{"anchors", "version: 1\nx: &c ID\n"},
		{"dates single string", "version: 1\nfields: {record_id: A}\ndates: {D: DD/MM/YYYY}\n"},
		{"lower-case format", "version: 1\nfields: {record_id: A, dob: {column: B, format: dd/mm/yyyy}}\n"},
		{"combined date columns", "version: 1\nfields: {record_id: A, dob: {columns: [D, M, Y], separator: '/', format: D/M/YYYY}}\n"},
		{"null indicators", "version: 1\nfields: {record_id: A}\nindicators:\n"},
		{"strings extension", "version: 1\nfields: {record_id: A}\nindicators: {work: \"row.BENEFIT.lowerAscii().trim() in ['jsa', 'esa']\"}\n"},
		{"has test on row", "version: 1\nfields: {record_id: A}\nindicators: {work: \"has(row.MAYBE) && row.MAYBE == 'Y'\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "test.yaml")
			if tt.name == "anchors" {
				if err == nil || !strings.Contains(err.Error(), `unknown key "x"`) {
					t.Fatalf("err = %v, want unknown key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "police.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse(out, "marshalled.yaml")
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	out2, err := m2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(out2) {
		t.Errorf("Marshal not stable:\n%s\n---\n%s", out, out2)
	}
	for _, want := range []string{"version: 1", `delimiter: ","`, "record_id: NOMINAL_REF", `dob: {column: DOB, formats: [DD/MM/YYYY, YYYY-MM-DD]}`, "crime_asb:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal output lacks %q:\n%s", want, out)
		}
	}
}
