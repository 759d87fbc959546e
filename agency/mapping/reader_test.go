package mapping

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var asof = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

// readAll reads every row, rendering rows and rejects one per line.
func readAll(t testing.TB, m *Mapping, data []byte, file string) string {
	t.Helper()
	rd, err := m.NewReader(bytes.NewReader(data), file, ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var b strings.Builder
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if errors.As(err, &re) {
			fmt.Fprintf(&b, "reject %v\n", re)
			continue
		}
		if err != nil {
			t.Fatalf("fatal: %v", err)
		}
		fmt.Fprintf(&b, "row %d:", row.Line)
		for _, k := range slices.Sorted(maps.Keys(row.Fields)) {
			fmt.Fprintf(&b, " %s=%q", k, row.Fields[k])
		}
		for _, k := range slices.Sorted(maps.Keys(row.Indicators)) {
			fmt.Fprintf(&b, " [%s=%t]", k, row.Indicators[k])
		}
		for _, w := range row.Warnings {
			fmt.Fprintf(&b, " warning field %s (column %s): %s", w.Field, w.Column, w.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestReaderGolden(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "police.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "police.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, m, data, "police.csv")
	golden := filepath.Join("testdata", "police.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n%s", golden, got)
	}
}

const simpleMapping = `version: 1
fields:
  record_id: ID
  given_name: NAME
  dob: {column: DOB, format: YYYY-MM-DD}
dates:
  EVENT: [DD/MM/YYYY]
`

func TestHeaderErrors(t *testing.T) {
	const withIndicator = simpleMapping + "indicators:\n  work: row.BENEFIT == 'JSA'\n"
	tests := []struct {
		name    string
		mapping string
		header  string
		want    []string
	}{
		{"empty file", simpleMapping, "", []string{"x.csv: no header: the file is empty"}},
		{"missing column", simpleMapping, "ID,NAME,EVENT\n", []string{`x.csv: column "DOB" (field dob) is not in the header`}},
		{"near match", simpleMapping, "ID,NAME,D.O.B,EVENT\n", []string{`x.csv: column "DOB" (field dob) is not in the header; near matches: "D.O.B"`}},
		{"missing date column", simpleMapping, "ID,NAME,DOB\n", []string{`x.csv: column "EVENT" (dates) is not in the header`}},
		{"missing indicator column", withIndicator, "ID,NAME,DOB,EVENT\n", []string{`x.csv: column "BENEFIT" (indicator work) is not in the header`}},
		{"duplicate header", simpleMapping, "ID,NAME,DOB,EVENT,NAME\n", []string{`x.csv: header: column "NAME" appears twice (columns 2 and 5)`}},
		{"duplicate after trim", simpleMapping, "ID, NAME,DOB,EVENT,NAME \n", []string{`column "NAME" appears twice`}},
		{"ambiguous case", simpleMapping, "ID,name,Name,DOB,EVENT\n", []string{`x.csv: column "NAME" (field given_name) is not in the header, and matches "name", "Name" ignoring case`}},
		{"several missing", simpleMapping, "ID\n", []string{`column "NAME" (field given_name)`, `column "DOB" (field dob)`, `column "EVENT" (dates)`}},
		{"malformed header", simpleMapping, "ID,\"NAME,DOB\n", []string{"x.csv: header:", "extraneous or missing"}},
		{"invalid utf-8", simpleMapping, "ID,N\xe9ME,DOB,EVENT\n", []string{"x.csv: header column 2 is not valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.mapping)
			_, err := m.NewReader(strings.NewReader(tt.header), "x.csv", ReaderOptions{})
			if err == nil {
				t.Fatal("NewReader succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestHeaderMatching(t *testing.T) {
	const mapping = simpleMapping + "indicators:\n  work: row.BENEFIT == 'JSA'\n"
	tests := []struct {
		name, csv, want string
	}{
		{"exact", "ID,NAME,DOB,EVENT,BENEFIT\n1,Al,2000-01-02,,JSA\n", `row 2: dob="2000-01-02" given_name="Al" record_id="1" [work=true]`},
		{"spaces and BOM", "\ufeff ID , NAME,DOB ,EVENT, BENEFIT\n1,Al,2000-01-02,,JSA\n", `row 2: dob="2000-01-02" given_name="Al" record_id="1" [work=true]`},
		{"case-insensitive", "id,Name,dob,Event,benefit\n1,Al,2000-01-02,,JSA\n", `row 2: dob="2000-01-02" given_name="Al" record_id="1" [work=true]`},
		{"extra and unnamed columns", "X,ID,NAME,DOB,EVENT,BENEFIT,,\n9,1,Al,,,ESA,,\n", `row 2: given_name="Al" record_id="1" [work=false]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.TrimSpace(readAll(t, mustParse(t, mapping), []byte(tt.csv), "x.csv"))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRowErrors(t *testing.T) {
	const header = "ID,NAME,DOB,EVENT\n"
	tests := []struct {
		name string
		csv  string
		want string // whole output of readAll
	}{
		{"ok", "1,Al,2000-01-02,03/04/2025\n",
			"row 2: dob=\"2000-01-02\" given_name=\"Al\" record_id=\"1\"\n"},
		{"too few columns", "1,Al\n2,Bo,,\n",
			"reject x.csv:2: has 2 columns, the header has 4\nrow 3: given_name=\"Bo\" record_id=\"2\"\n"},
		{"too many columns", "1,Al,,,\n",
			"reject x.csv:2: has 5 columns, the header has 4\n"},
		{"bad dob is left out with a warning", "1,Al,2000-02-30,\n",
			"row 2: given_name=\"Al\" record_id=\"1\" warning field dob (column DOB): \"2000-02-30\" is not a date in format YYYY-MM-DD; left out\n"},
		{"day and month swapped in the dob", "1,Al,2000-13-05,\n",
			"row 2: dob=\"2000-05-13\" given_name=\"Al\" record_id=\"1\" warning field dob (column DOB): \"2000-13-05\" is not a date in format YYYY-MM-DD; read with day and month swapped as 2000-05-13\n"},
		{"bad date column", "1,Al,,2025-01-01\n",
			"reject x.csv:2: column EVENT: \"2025-01-01\" is not a date in format DD/MM/YYYY\n"},
		{"empty record_id", " ,Al,,\n",
			"reject x.csv:2: field record_id (column ID): is empty\n"},
		{"bare quote continues", "1,A\"l,,\n2,Bo,,\n",
			"reject x.csv:2: malformed CSV: bare \" in non-quoted-field (line 2, column 4)\n" +
				"row 3: given_name=\"Bo\" record_id=\"2\"\n"},
		{"extraneous quote continues", "1,\"A\"l,,\n2,Bo,,\n",
			"reject x.csv:2: malformed CSV: extraneous or missing \" in quoted-field (line 2, column 5)\n" +
				"row 3: given_name=\"Bo\" record_id=\"2\"\n"},
		{"multi-line fields keep line numbers", "1,\"Al\nAn\",,\n2,\"B\n\no\",,\n3,Cy,,\n4,D\"y,,\n5,Ed,,\n",
			"row 2: given_name=\"Al An\" record_id=\"1\"\n" +
				"row 4: given_name=\"B o\" record_id=\"2\"\n" +
				"row 7: given_name=\"Cy\" record_id=\"3\"\n" +
				"reject x.csv:8: malformed CSV: bare \" in non-quoted-field (line 8, column 4)\n" +
				"row 9: given_name=\"Ed\" record_id=\"5\"\n"},
		{"blank lines skipped", "\n1,Al,,\n\n\n2,Bo,,\n",
			"row 3: given_name=\"Al\" record_id=\"1\"\nrow 6: given_name=\"Bo\" record_id=\"2\"\n"},
		{"CRLF", "1,Al,,\r\n2,\"B\r\no\",,\r\n3,Cy,,\r\n",
			"row 2: given_name=\"Al\" record_id=\"1\"\nrow 3: given_name=\"B o\" record_id=\"2\"\nrow 5: given_name=\"Cy\" record_id=\"3\"\n"},
		{"unterminated quote", "1,Al,,\n2,\"Bo,,\n3,Cy,,\n",
			"row 2: given_name=\"Al\" record_id=\"1\"\n" +
				"reject x.csv:3: malformed CSV: extraneous or missing \" in quoted-field (line 4, column 8); a quoted field runs over several lines: check for an unbalanced quote\n"},
		{"invalid utf-8", "1,Jos\xe9,,\n",
			"reject x.csv:2: column NAME: is not valid UTF-8 (if the file is windows-1252, set csv.encoding)\n"},
		{"no trailing newline", "1,Al,,",
			"row 2: given_name=\"Al\" record_id=\"1\"\n"},
	}
	m := mustParse(t, simpleMapping)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, m, []byte(header+tt.csv), "x.csv")
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestFieldValues(t *testing.T) {
	const mapping = `version: 1
fields:
  record_id: ID
  full_name: {columns: [FIRST, LAST]}
  address: {columns: [A1, A2, A3], separator: ", "}
  postcode: PC
`
	tests := []struct {
		name, row, want string
	}{
		{"trim and collapse", "  7 ,  Mary   Ann ,Smith,1  High\tSt,,Leeds,  LS1 1AA ",
			`row 2: address="1 High St, Leeds" full_name="Mary Ann Smith" postcode="LS1 1AA" record_id="7"`},
		{"empty parts skipped", "7,,Smith,,,,",
			`row 2: full_name="Smith" record_id="7"`},
		{"unicode spaces", "7,Zo\u00eb\u00a0Ann,Smith,,,,",
			`row 2: full_name="Zoë Ann Smith" record_id="7"`},
		{"all empty", "7,,,,,,",
			`row 2: record_id="7"`},
	}
	m := mustParse(t, mapping)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.TrimSpace(readAll(t, m, []byte("ID,FIRST,LAST,A1,A2,A3,PC\n"+tt.row+"\n"), "x.csv"))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEncodingAndDelimiter(t *testing.T) {
	tests := []struct {
		name    string
		csvOpts string
		data    []byte
		want    string
	}{
		{"utf-8 with BOM", "{}", []byte("\xef\xbb\xbfID,NAME\n1,Zo\xc3\xab\n"), `row 2: given_name="Zoë" record_id="1"`},
		{"windows-1252", "{encoding: windows-1252}", []byte("ID,NAME\n1,Zo\xeb \x93Bill\x94 Ren\xe9e\n"), `row 2: given_name="Zoë “Bill” Renée" record_id="1"`},
		{"tab", `{delimiter: "\t"}`, []byte("ID\tNAME\n1\tAl, Jr\n"), `row 2: given_name="Al, Jr" record_id="1"`},
		{"semicolon", `{delimiter: ";"}`, []byte("ID;NAME\n1;\"A;l\"\n"), `row 2: given_name="A;l" record_id="1"`},
		{"multi-byte delimiter", `{delimiter: "¦"}`, []byte("ID¦NAME\n1¦Al\n"), `row 2: given_name="Al" record_id="1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, "version: 1\ncsv: "+tt.csvOpts+"\nfields: {record_id: ID, given_name: NAME}\n")
			got := strings.TrimSpace(readAll(t, m, tt.data, "x.csv"))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	// The windows-1252 decoder agrees with the x/text reference for every byte.
	var all []byte
	for b := 0x20; b < 0x100; b++ {
		if b != '"' && b != ',' && b != 0x7f {
			all = append(all, byte(b))
		}
	}
	want, err := charmap.Windows1252.NewDecoder().Bytes(all)
	if err != nil {
		t.Fatal(err)
	}
	m := mustParse(t, "version: 1\ncsv: {encoding: windows-1252}\nfields: {record_id: ID, given_name: NAME}\n")
	rd, err := m.NewReader(bytes.NewReader(append([]byte("ID,NAME\n1,"), all...)), "x.csv", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if got := row.Fields["given_name"]; got != clean(string(want)) {
		t.Errorf("decoded %q, want %q", got, clean(string(want)))
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestFatalReadError(t *testing.T) {
	m := mustParse(t, "version: 1\nfields: {record_id: ID}\n")
	boom := errors.New("disk on fire")
	rd, err := m.NewReader(&failingReader{data: []byte("ID\n1\n2\n"), err: boom}, "x.csv", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for {
		row, err := rd.Next()
		if err != nil {
			var re *RowError
			if errors.As(err, &re) || errors.Is(err, io.EOF) {
				t.Fatalf("got %v, want fatal error", err)
			}
			if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "x.csv: read: ") {
				t.Fatalf("err = %v", err)
			}
			if _, again := rd.Next(); !errors.Is(again, boom) {
				t.Fatalf("second Next after fatal error = %v", again)
			}
			break
		}
		lines = append(lines, row.Line)
	}
	if !slices.Equal(lines, []int{2, 3}) {
		t.Errorf("rows before failure at lines %v, want [2 3]", lines)
	}
}

func TestEOFIsSticky(t *testing.T) {
	m := mustParse(t, "version: 1\nfields: {record_id: ID}\n")
	rd, err := m.NewReader(strings.NewReader("ID\n"), "x.csv", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := rd.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next = %v, want io.EOF", err)
		}
	}
}

func TestDefaultAsOf(t *testing.T) {
	m := mustParse(t, "version: 1\nfields: {record_id: ID}\n")
	rd, err := m.NewReader(strings.NewReader("ID\n"), "x.csv", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	y, mo, d := time.Now().UTC().Date()
	if want := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC); !rd.AsOf().Equal(want) && !rd.AsOf().Equal(want.AddDate(0, 0, -1)) {
		t.Errorf("AsOf() = %v, want %v", rd.AsOf(), want)
	}
	// A non-UTC as-of keeps its own calendar date.
	loc := time.FixedZone("east", 10*3600)
	rd, err = m.NewReader(strings.NewReader("ID\n"), "x.csv", ReaderOptions{AsOf: time.Date(2025, 3, 1, 5, 0, 0, 0, loc)})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC); !rd.AsOf().Equal(want) {
		t.Errorf("AsOf() = %v, want %v", rd.AsOf(), want)
	}
}

func TestRowErrorFormat(t *testing.T) {
	tests := []struct {
		e    RowError
		want string
	}{
		{RowError{File: "police.csv", Line: 17, Field: "dob", Column: "DOB", Reason: `"31/02/2013" is not a date in format DD/MM/YYYY`},
			`police.csv:17: field dob (column DOB): "31/02/2013" is not a date in format DD/MM/YYYY`},
		{RowError{File: "a.csv", Line: 2, Field: "record_id", Reason: "is empty"}, "a.csv:2: field record_id: is empty"},
		{RowError{File: "a.csv", Line: 3, Column: "X", Reason: "bad"}, "a.csv:3: column X: bad"},
		{RowError{File: "a.csv", Line: 4, Indicator: "work", Reason: "no such key: X"}, "a.csv:4: indicator work: no such key: X"},
		{RowError{File: "a.csv", Line: 5, Reason: "has 2 columns"}, "a.csv:5: has 2 columns"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{" abc", "abc"},
		{"abc ", "abc"},
		{"a  b", "a b"},
		{"a b c", "a b c"},
		{"a\tb", "a b"},
		{"\u00a0a\u2003b\u00a0", "a b"},
		{"   ", ""},
		{"é  è", "é è"},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := clean(clean(tt.in)); got != clean(tt.in) {
			t.Errorf("clean not idempotent on %q", tt.in)
		}
	}
}
