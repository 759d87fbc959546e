package mapping

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// evalOne runs a single-indicator mapping over one data row (asof
// 2026-02-01) and returns the result or the row error.
func evalOne(t *testing.T, expr, header, row string) (bool, error) {
	t.Helper()
	src := "version: 1\nfields:\n  record_id: ID\n  dob: {column: DOB, format: YYYY-MM-DD}\n" +
		"dates:\n  EVENT: [YYYY-MM-DD]\n  OTHER: [DD/MM/YYYY]\n" +
		"indicators:\n  ind: " + quoteYAML(expr) + "\n"
	m := mustParse(t, src)
	rd, err := m.NewReader(strings.NewReader(header+"\n"+row+"\n"), "x.csv", ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	r, err := rd.Next()
	if err != nil {
		return false, err
	}
	return r.Indicators["ind"], nil
}

func quoteYAML(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

func TestIndicators(t *testing.T) {
	const header = "ID,DOB,EVENT,OTHER,OUTCOME,COUNT"
	tests := []struct {
		name, expr, row string
		want            bool
		wantErr         string // substring of the row error
	}{
		// age at asof 2026-02-01
		{"age 15", "age == 15", "1,2010-04-03,,,,", true, ""},
		{"age birthday today", "age == 18", "1,2008-02-01,,,,", true, ""},
		{"age day before birthday", "age == 17", "1,2008-02-02,,,,", true, ""},
		{"age leap birthday", "age == 13", "1,2012-02-29,,,,", true, ""},
		{"age no dob", "age == -1", "1,,,,,", true, ""},
		{"age dob after asof", "age == -1", "1,2026-02-02,,,,", true, ""},
		{"age born on asof", "age == 0", "1,2026-02-01,,,,", true, ""},
		// months_since boundaries
		{"11 months", "months_since(date.EVENT) == 11", "1,,2025-02-02,,,", true, ""},
		{"12 months exactly", "months_since(date.EVENT) == 12", "1,,2025-02-01,,,", true, ""},
		{"within 12 months", "months_since(date.EVENT) < 12", "1,,2025-02-02,,,", true, ""},
		{"not within 12 months", "months_since(date.EVENT) < 12", "1,,2025-02-01,,,", false, ""},
		{"0 months same day", "months_since(date.EVENT) == 0", "1,,2026-02-01,,,", true, ""},
		{"month end", "months_since(date.EVENT) == 0", "1,,2026-01-31,,,", true, ""},
		{"future date negative", "months_since(date.EVENT) == -1", "1,,2026-03-01,,,", true, ""},
		{"future partial month", "months_since(date.EVENT) == 0", "1,,2026-02-28,,,", true, ""},
		{"second format column", "months_since(date.OTHER) == 2", "1,,,01/12/2025,,", true, ""},
		// days_since
		{"days", "days_since(date.EVENT) == 366", "1,,2025-01-31,,,", true, ""},
		{"days future", "days_since(date.EVENT) == -1", "1,,2026-02-02,,,", true, ""},
		{"days of timestamp literal", "days_since(timestamp('2026-01-31T23:59:59Z')) == 1", "1,,,,,", true, ""},
		{"asof variable", "asof == timestamp('2026-02-01T00:00:00Z')", "1,,,,,", true, ""},
		// presence of dates
		{"present", "'EVENT' in date", "1,,2025-01-01,,,", true, ""},
		{"absent when empty", "'EVENT' in date", "1,,,,,", false, ""},
		{"absent when blank", "'EVENT' in date", "1,,   ,,,", false, ""},
		{"guarded", "'EVENT' in date && months_since(date.EVENT) < 12", "1,,,,,", false, ""},
		{"unguarded absent date", "months_since(date.EVENT) < 12", "1,,,,,", false, "indicator ind: no such key: EVENT"},
		{"unparsable date rejects", "true", "1,,2025-13-01,,,", false, `column EVENT: "2025-13-01" is not a date`},
		// row values and num()
		{"row value trimmed", "row.OUTCOME == 'PROVEN'", "1,,,, PROVEN ,", true, ""},
		{"row index syntax", "row['OUTCOME'] == 'X'", "1,,,,X,", true, ""},
		{"num", "num(row.COUNT) >= 3.0", "1,,,,,3", true, ""},
		{"num decimal", "num(row.COUNT) == 15.5", "1,,,,, 15.5 ", true, ""},
		{"num empty", "num(row.COUNT) == 0.0", "1,,,,,", true, ""},
		{"num negative", "num(row.COUNT) < 0.0", "1,,,,,-2", true, ""},
		{"num not a number", "num(row.COUNT) > 1.0", "1,,,,,abc", false, `indicator ind: num: "abc" is not a number`},
		{"num NaN", "num(row.COUNT) > 1.0", "1,,,,,NaN", false, "is not a number"},
		{"num Inf", "num(row.COUNT) > 1.0", "1,,,,,Inf", false, "is not a number"},
		{"strings extension", "row.OUTCOME.lowerAscii() == 'proven'", "1,,,,Proven,", true, ""},
		{"short-circuit hides error", "false && num(row.COUNT) > 1.0", "1,,,,,abc", false, ""},
		{"int conversion error", "int(row.COUNT) > 1", "1,,,,,x", false, "indicator ind:"},
		// row read other than by a literal column name sees every column
		{"exists over row", "row.exists(k, row[k] == 'MAGIC')", "1,,,,MAGIC,", true, ""},
		{"all over row", "row.all(k, row[k] != 'MAGIC')", "1,,,,,MAGIC", false, ""},
		{"index by a value", "row[row.OUTCOME] == '7'", "1,,,,COUNT,7", true, ""},
		{"size of row", "size(row) == 6", "1,,,,,", true, ""},
		{"presence of a column", "'OUTCOME' in row && has(row.COUNT)", "1,,,,,", true, ""},
		{"presence and a value", "'OUTCOME' in row && row.COUNT == '2'", "1,,,,x,2", true, ""},
		{"row converted", "string(dyn(row)) != ''", "1,,,,,", false, "indicator ind:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalOne(t, tt.expr, header, tt.row)
			if tt.wantErr != "" {
				var re *RowError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want RowError containing %q", err, tt.wantErr)
				}
				if re.Line != 2 {
					t.Errorf("Line = %d, want 2", re.Line)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %t, want %t", got, tt.want)
			}
		})
	}
}

func TestMonthsBetween(t *testing.T) {
	d := func(s string) time.Time {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := []struct {
		from, to string
		want     int64
	}{
		{"2025-02-01", "2026-02-01", 12},
		{"2025-02-02", "2026-02-01", 11},
		{"2025-01-31", "2025-02-28", 0},
		{"2025-01-31", "2025-03-31", 2},
		{"2024-02-29", "2025-02-28", 11},
		{"2026-02-01", "2025-02-01", -12},
		{"2026-02-01", "2025-02-02", -11},
		{"2000-01-01", "2000-01-01", 0},
	}
	for _, tt := range tests {
		if got := monthsBetween(d(tt.from), d(tt.to)); got != tt.want {
			t.Errorf("monthsBetween(%s, %s) = %d, want %d", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestReferences(t *testing.T) {
	m := mustParse(t, `version: 1
fields: {record_id: ID}
dates: {D1: [YYYY-MM-DD], D2: [YYYY-MM-DD], D3: [YYYY-MM-DD]}
indicators:
  a: "row.A == 'x' && row['B'] == 'y' && has(row.C) && 'E' in row && months_since(date.D1) > 0 && 'D2' in date && date['D3'] > asof"
`)
	ind := m.indicators[0]
	if !slices.Equal(ind.rowCols, []string{"A", "B"}) {
		t.Errorf("rowCols = %q, want [A B]", ind.rowCols)
	}
	if !slices.Equal(ind.dateCols, []string{"D1", "D2", "D3"}) {
		t.Errorf("dateCols = %q, want [D1 D2 D3]", ind.dateCols)
	}
}

func TestIndicatorsSortedAndAll(t *testing.T) {
	m := mustParse(t, `version: 1
fields: {record_id: ID}
indicators:
  work: row.B == 'JSA'
  crime_asb: "false"
  education: "true"
`)
	if got := m.Indicators(); !slices.Equal(got, []string{"crime_asb", "education", "work"}) {
		t.Fatalf("Indicators() = %q", got)
	}
	rd, err := m.NewReader(strings.NewReader("ID,B\n1,JSA\n"), "x.csv", ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatal(err)
	}
	row, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"crime_asb": false, "education": true, "work": true}
	if len(row.Indicators) != len(want) {
		t.Fatalf("Indicators = %v", row.Indicators)
	}
	for k, v := range want {
		if got, ok := row.Indicators[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

// A row's values must not leak into the next row's evaluation.
func TestNoStateBetweenRows(t *testing.T) {
	m := mustParse(t, `version: 1
fields: {record_id: ID}
dates: {D: [YYYY-MM-DD]}
indicators:
  has_d: "'D' in date"
`)
	rd, err := m.NewReader(strings.NewReader("ID,D\n1,2025-01-01\n2,\n3,2025-01-01\n"), "x.csv", ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for range 3 {
		row, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Indicators["has_d"])
	}
	if !slices.Equal(got, []bool{true, false, true}) {
		t.Errorf("got %v", got)
	}
}

// One Mapping serves several Readers at once, each with its own as-of date.
func TestConcurrentReaders(t *testing.T) {
	m := mustParse(t, `version: 1
fields: {record_id: ID}
dates: {D: [YYYY-MM-DD]}
indicators:
  recent: "months_since(date.D) < 12"
`)
	data := "ID,D\n1,2025-01-15\n"
	asofs := []time.Time{
		time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),  // 4 months: true
		time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),  // 16 months: false
		time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), // 10 months: true
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),  // 23 months: false
	}
	errs := make(chan error, len(asofs)*50)
	done := make(chan struct{})
	for i, at := range asofs {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				rd, err := m.NewReader(strings.NewReader(data), "x.csv", ReaderOptions{AsOf: at})
				if err != nil {
					errs <- err
					return
				}
				row, err := rd.Next()
				if err != nil {
					errs <- err
					return
				}
				if want := i%2 == 0; row.Indicators["recent"] != want {
					errs <- errors.New("wrong result for as-of " + at.Format(time.DateOnly))
					return
				}
			}
		}()
	}
	for range asofs {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRowNamedOnly(t *testing.T) {
	tests := []struct {
		expr string
		want bool
	}{
		{"row.OUTCOME == 'PROVEN'", true},
		{"row['OUTCOME'] == 'X' && num(row.COUNT) > 1.0", true},
		{"has(row.OUTCOME) || 'COUNT' in row", true},
		{"age > 3 && 'EVENT' in date", true},
		{"row.OUTCOME.lowerAscii() == 'x'", true},
		{"row.exists(k, row[k] == 'X')", false},
		{"row[row.OUTCOME] == 'X'", false},
		{"size(row) > 2", false},
		{"row == {'OUTCOME': 'X'}", false},
		{"row.OUTCOME == 'X' || row[string(age)] == 'Y'", false},
		{"[1].exists(row, row == 1)", false},
	}
	for _, tt := range tests {
		m := mustParse(t, "version: 1\nfields: {record_id: ID}\ndates: {EVENT: [YYYY-MM-DD]}\nindicators:\n  ind: "+quoteYAML(tt.expr)+"\n")
		if got := m.indicators[0].rowByName; got != tt.want {
			t.Errorf("%s: rowByName = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// TestManyIndicators: a mapping of more than 64 indicators (one map of
// results per row) gives every result.
func TestManyIndicators(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nfields: {record_id: ID}\nindicators:\n")
	for i := range 70 {
		fmt.Fprintf(&b, "  i%02d: \"row.N == '%d'\"\n", i, i)
	}
	m := mustParse(t, b.String())
	rd, err := m.NewReader(strings.NewReader("ID,N\n1,3\n2,66\n3,3\n"), "x.csv", ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{3, 66, 3} {
		r, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Indicators) != 70 {
			t.Fatalf("line %d: %d indicators, want 70", r.Line, len(r.Indicators))
		}
		for i := range 70 {
			if got := r.Indicators[fmt.Sprintf("i%02d", i)]; got != (i == want) {
				t.Errorf("line %d: i%02d = %v", r.Line, i, got)
			}
		}
	}
}

// TestIndicatorsShared: rows with the same results share their map, and
// each row still has its own results.
func TestIndicatorsShared(t *testing.T) {
	m := mustParse(t, "version: 1\nfields: {record_id: ID}\nindicators:\n  a: \"row.N == '1'\"\n  b: \"row.N == '2'\"\n")
	rd, err := m.NewReader(strings.NewReader("ID,N\n1,1\n2,2\n3,1\n4,0\n"), "x.csv", ReaderOptions{AsOf: asof})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]bool
	for range 4 {
		r, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Indicators)
	}
	want := []map[string]bool{{"a": true, "b": false}, {"a": false, "b": true}, {"a": true, "b": false}, {"a": false, "b": false}}
	for i := range want {
		if !maps.Equal(got[i], want[i]) {
			t.Errorf("row %d: indicators %v, want %v", i+1, got[i], want[i])
		}
	}
	if reflect.ValueOf(got[0]).UnsafePointer() != reflect.ValueOf(got[2]).UnsafePointer() {
		t.Error("rows 1 and 3 have the same results but not the same map")
	}
	if reflect.ValueOf(got[0]).UnsafePointer() == reflect.ValueOf(got[1]).UnsafePointer() {
		t.Error("rows 1 and 2 have different results but share a map")
	}
}
