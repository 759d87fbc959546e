package mapping

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseMapping(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "police.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte(simpleMapping))
	f.Add([]byte("version: 1\ncsv: {delimiter: \"\\t\", encoding: windows-1252}\nfields: {record_id: A, address: {columns: [B, C], separator: ' / '}}\n"))
	f.Add([]byte("version: 1\nfields: {record_id: A, dob: {column: D, formats: [D MONTH YYYY, DD-MON-YY*]}}\nindicators: {x: \"age > 3\"}\n"))
	f.Add([]byte("version: 1\nfields: &a {record_id: *a}\n"))
	f.Add([]byte("version: 1\nfields:\n  record_id: \"\\u00e9\\t\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m2, err := Parse(out, "again.yaml")
		if err != nil {
			t.Fatalf("re-parse of marshalled mapping: %v\n%s", err, out)
		}
		out2, err := m2.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("marshalled form not stable:\n%s\n---\n%s", out, out2)
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	const mapping = `version: 1
fields:
  record_id: ID
  given_name: NAME
  dob: {column: DOB, formats: [DD/MM/YYYY, YYYY-MM-DD]}
  address: {columns: [A1, A2], separator: ", "}
dates:
  EVENT: [DD/MM/YY]
indicators:
  flag: "age >= 0 && age < 18 && 'EVENT' in date && months_since(date.EVENT) < 12"
  num: "num(row.N) > 2.0"
`
	m, err := Parse([]byte(mapping), "fuzz.yaml")
	if err != nil {
		f.Fatal(err)
	}
	const header = "ID,NAME,DOB,A1,A2,EVENT,N\n"
	f.Add([]byte(header + "1,Al,01/02/2010,x,y,01/01/26,3\n"))
	f.Add([]byte(header + "1,\"A\nl\",2010-02-01,,,,\n2,B\"o,,,,,\n"))
	f.Add([]byte(header + "1,Al\n,,,,,,\n3,\"unterminated,,,,,,\n"))
	f.Add([]byte("\ufeff" + header + "\r\n1,Al,31/02/2010,,,,x\r\n"))
	f.Add([]byte("ID,NAME\n1,2\n"))
	f.Add([]byte(header + "1,\xff,,,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := m.NewReader(bytes.NewReader(data), "fuzz.csv", ReaderOptions{AsOf: asof})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("header error does not name the file: %v", err)
			}
			return
		}
		last := 1
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("more records than bytes: Next does not make progress")
			}
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				if re.Line <= last {
					t.Fatalf("reject at line %d after line %d", re.Line, last)
				}
				last = re.Line
				continue
			}
			if err != nil {
				t.Fatalf("fatal error from an in-memory reader: %v", err)
			}
			if row.Line <= last {
				t.Fatalf("row at line %d after line %d", row.Line, last)
			}
			last = row.Line
			if row.Fields["record_id"] == "" {
				t.Fatalf("row %d accepted without record_id", row.Line)
			}
			for k, v := range row.Fields {
				if v == "" || v != clean(v) || !utf8.ValidString(v) {
					t.Fatalf("field %s = %q is not clean", k, v)
				}
			}
			if dob, ok := row.Fields["dob"]; ok && len(dob) != 10 {
				t.Fatalf("dob %q is not YYYY-MM-DD", dob)
			}
			if len(row.Indicators) != 2 {
				t.Fatalf("indicators = %v", row.Indicators)
			}
		}
	})
}

func FuzzParseDate(f *testing.F) {
	seeds := [][2]string{
		{"DD/MM/YYYY", "03/04/2010"},
		{"D/M/YY", "3/4/10"},
		{"YYYYMMDD", "20120229"},
		{"DD-MON-YYYY", "01-sep-1999"},
		{"D MONTH YYYY*", "1 December 2001 10:00"},
		{"MONTH D, YYYY", "may 5, 2020"},
		{"dd.mm.yy", "31.12.99"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, format, value string) {
		df, err := compileDateFormat(format)
		if err != nil {
			return
		}
		d, err := df.parse(value, 2026)
		if err != nil {
			return
		}
		iso := isoDate(d)
		if len(iso) != 10 {
			t.Fatalf("isoDate = %q", iso)
		}
		s := df.format(d)
		d2, err := df.parse(s, 2026)
		if err != nil || !d2.Equal(d) {
			t.Fatalf("%q parsed as %s, formatted as %q, re-parsed as %v (%v)", value, iso, s, d2, err)
		}
	})
}
