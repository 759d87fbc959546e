package eval

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The hand-made district the tests share. Truth: persons A..F and K, their
// records, and households:
//
//	H1: A (p1 c1 d1), B (p2 c2), C (s1)     flagged
//	H2: D (s2 s3)
//	H3: E (c3)                              flagged
//	H5: F (d2)
//	H6: G (no record in any extract)        flagged: nobody can find it
//	H7: K (k1, which link rejected)
//
// Predicted: A split in two (X1 = p1 c1, X2 = d1); E and F wrongly merged
// (X5); C alone in household Y4 apart from the rest of H1 (Y1); one record
// (zz) the truth does not know.
//
// Persons, pairwise over the 10 known records: truth pairs p1c1 p1d1 c1d1
// p2c2 s2s3 (5); predicted p1c1 p2c2 s2s3 c3d2 (4): TP 3, FP 1, FN 2.
// Households: truth pairs 15 in H1 + 1 in H2 = 16; predicted 10 in Y1 + 1
// in Y2 + 1 in Y3 (c3d2, wrong): TP 11, FP 1, FN 5.
var baseTruth = map[string]string{
	"persons.csv": `source,record_id,person_id
police,p1,A
council,c1,A
dwp,d1,A
police,p2,B
council,c2,B
education,s1,C
education,s2,D
education,s3,D
council,c3,E
dwp,d2,F
police,k1,K
`,
	"households.csv": `person_id,household_id
A,H1
B,H1
C,H1
D,H2
E,H3
F,H5
G,H6
K,H7
`,
	"flagged.csv": `household_id,rule,crime_asb,education,work,local_concern
H1,all_three,1,1,1,0
H3,two_plus_local,1,0,1,1
H6,all_three,1,1,1,1
`,
}

var baseOut = map[string]string{
	"clusters.csv": `source,record_id,person_id,household_id
police,p1,X1,Y1
council,c1,X1,Y1
dwp,d1,X2,Y1
police,p2,X3,Y1
council,c2,X3,Y1
education,s1,X4,Y4
education,s2,X6,Y2
education,s3,X6,Y2
council,c3,X5,Y3
dwp,d2,X5,Y3
police,zz,X9,Y9
`,
	"flagged.csv": `household_id,rule,crime_asb,education,work,local_concern
Y1,all_three,1,1,1,0
Y3,two_plus_local,1,0,1,1
`,
	"links.csv": `level,source_a,record_id_a,source_b,record_id_b,kind
person,police,p1,council,c1,nino
person,council,c3,dwp,d2,name_dob
person,police,p2,council,c2,name_dob
person,police,zz,council,c1,name_dob
household,police,p1,police,p2,address
household,council,c3,dwp,d2,address
household,education,s1,police,p1,uprn
household,education,s2,council,c2,group
household,police,zz,council,c1,group
`,
}

// district writes the base files, with changes (a "" value removes the
// file), and returns the truth and output directories.
func district(t testing.TB, truthChanges, outChanges map[string]string) (truthDir, outDir string) {
	t.Helper()
	dir := t.TempDir()
	truthDir, outDir = filepath.Join(dir, "truth"), filepath.Join(dir, "out")
	write := func(d string, base, changes map[string]string) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for k, v := range base {
			files[k] = v
		}
		for k, v := range changes {
			files[k] = v
		}
		for name, content := range files {
			if content == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(truthDir, baseTruth, truthChanges)
	write(outDir, baseOut, outChanges)
	return truthDir, outDir
}

func evaluate(t *testing.T, truthChanges, outChanges map[string]string) *Report {
	t.Helper()
	rep, err := Evaluate(district(t, truthChanges, outChanges))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestEvaluatePairwise(t *testing.T) {
	rep := evaluate(t, nil, nil)
	if rep.Records != 10 || rep.Unknown != 1 {
		t.Errorf("records %d, unknown %d; want 10, 1", rep.Records, rep.Unknown)
	}
	if want := (PRF{TP: 3, FP: 1, FN: 2}); rep.Persons != want {
		t.Errorf("persons = %+v, want %+v", rep.Persons, want)
	}
	if want := (PRF{TP: 11, FP: 1, FN: 5}); rep.Households != want {
		t.Errorf("households = %+v, want %+v", rep.Households, want)
	}
}

// TestEvaluateColumnsByName: columns are found by header name, in any
// order, with extra columns and stray spaces ignored.
func TestEvaluateColumnsByName(t *testing.T) {
	want := evaluate(t, nil, nil)
	var b strings.Builder
	b.WriteString("household_id , note, person_id,record_id,source\n")
	for _, line := range strings.Split(strings.TrimSpace(baseOut["clusters.csv"]), "\n")[1:] {
		f := strings.Split(line, ",")
		fmt.Fprintf(&b, "%s,\"a, b\",%s, %s ,%s\n", f[3], f[2], f[1], f[0])
	}
	got := evaluate(t, nil, map[string]string{"clusters.csv": b.String()})
	sortKinds(got.Kinds)
	sortKinds(want.Kinds)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with reordered columns: %+v\nwant %+v", got, want)
	}
}

func TestPairwise(t *testing.T) {
	tests := []struct {
		name        string
		pred, truth []string
		want        PRF
	}{
		{"empty", nil, nil, PRF{}},
		{"singletons", []string{"a", "b", "c"}, []string{"x", "y", "z"}, PRF{}},
		{"all right", []string{"a", "a", "b"}, []string{"x", "x", "y"}, PRF{TP: 1}},
		{"labels need not agree", []string{"b", "b", "a"}, []string{"y", "y", "x"}, PRF{TP: 1}},
		{"over-merged", []string{"a", "a", "a"}, []string{"x", "x", "y"}, PRF{TP: 1, FP: 2}},
		{"split", []string{"a", "a", "b"}, []string{"x", "x", "x"}, PRF{TP: 1, FN: 2}},
		{"one cluster of four vs two pairs", []string{"a", "a", "a", "a"}, []string{"x", "x", "y", "y"}, PRF{TP: 2, FP: 4}},
		{"crossed", []string{"a", "a", "b", "b"}, []string{"x", "y", "x", "y"}, PRF{FP: 2, FN: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pairwise(tt.pred, tt.truth); got != tt.want {
				t.Errorf("pairwise = %+v, want %+v", got, tt.want)
			}
			// Swapping prediction and truth swaps FP and FN.
			if got, want := pairwise(tt.truth, tt.pred), (PRF{TP: tt.want.TP, FP: tt.want.FN, FN: tt.want.FP}); got != want {
				t.Errorf("swapped: pairwise = %+v, want %+v", got, want)
			}
		})
	}
}

func TestPRF(t *testing.T) {
	tests := []struct {
		p           PRF
		prec, rc, f float64
	}{
		{PRF{}, 1, 1, 1},
		{PRF{TP: 3, FP: 1, FN: 2}, 0.75, 0.6, 2 * 0.75 * 0.6 / 1.35},
		{PRF{FN: 4}, 1, 0, 0},
		{PRF{FP: 4}, 0, 1, 0},
		{PRF{FP: 1, FN: 1}, 0, 0, 0},
	}
	for _, tt := range tests {
		if got := [3]float64{tt.p.Precision(), tt.p.Recall(), tt.p.F1()}; !near(got[0], tt.prec) || !near(got[1], tt.rc) || !near(got[2], tt.f) {
			t.Errorf("%+v: P/R/F1 = %v, want %v %v %v", tt.p, got, tt.prec, tt.rc, tt.f)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }

// TestFlagged: a predicted flagged household stands for the true household
// holding most of its records (ties: the smallest id); a second
// prediction of the same true household is a false positive.
func TestFlagged(t *testing.T) {
	const header = "household_id,rule,crime_asb,education,work,local_concern\n"
	tests := []struct {
		name string
		rows string // rows of the predicted flagged.csv
		want PRF
	}{
		// Y3 holds c3 (H3) and d2 (H5): the tie goes to H3, truly
		// flagged. H6 has no record anywhere and is not counted.
		{"all found", "Y1,a,1,1,1,0\nY3,b,1,0,1,1\n", PRF{TP: 2}},
		{"nothing flagged", "", PRF{FN: 2}},
		{"one missed", "Y1,a,1,1,1,0\n", PRF{TP: 1, FN: 1}},
		{"second household of the same true household", "Y1,a,1,1,1,0\nY4,a,1,1,1,0\nY3,b,1,0,1,1\n", PRF{TP: 2, FP: 1}},
		{"order does not matter", "Y4,a,1,1,1,0\nY1,a,1,1,1,0\nY3,b,1,0,1,1\n", PRF{TP: 2, FP: 1}},
		{"same household listed twice", "Y1,a,1,1,1,0\nY1,a,1,1,1,0\nY3,b,1,0,1,1\n", PRF{TP: 2, FP: 1}},
		{"not flagged in truth", "Y2,a,1,1,1,0\n", PRF{FP: 1, FN: 2}},
		{"only records the truth does not know", "Y9,a,1,1,1,0\n", PRF{FP: 1, FN: 2}},
		{"household not in clusters.csv", "Y404,a,1,1,1,0\n", PRF{FP: 1, FN: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := evaluate(t, nil, map[string]string{"flagged.csv": header + tt.rows})
			if rep.Flagged != tt.want {
				t.Errorf("flagged = %+v, want %+v", rep.Flagged, tt.want)
			}
		})
	}
}

// TestFlaggedTieOtherWay: with H5 flagged instead of H3, Y3 (one record
// of each) still stands for H3, the smaller id, and is wrong.
func TestFlaggedTieOtherWay(t *testing.T) {
	rep := evaluate(t,
		map[string]string{"flagged.csv": "household_id\nH1\nH5\n"},
		map[string]string{"flagged.csv": "household_id\nY1\nY3\n"})
	if want := (PRF{TP: 1, FP: 1, FN: 1}); rep.Flagged != want {
		t.Errorf("flagged = %+v, want %+v", rep.Flagged, want)
	}
}

// TestFlaggedRejectedHousehold: a truly flagged household whose members
// are in the extracts but whose records link did not output (rejected or
// dropped) was missed, and counts against recall. Only a household with
// no record in any extract (H6) cannot be found by anyone.
func TestFlaggedRejectedHousehold(t *testing.T) {
	rep := evaluate(t, map[string]string{"flagged.csv": "household_id\nH1\nH3\nH6\nH7\n"}, nil)
	want := PRF{TP: 2, FN: 1}
	if rep.Flagged != want {
		t.Errorf("flagged = %+v, want %+v", rep.Flagged, want)
	}
}

func TestLinks(t *testing.T) {
	rep := evaluate(t, nil, nil)
	got := map[string]KindStats{}
	for _, k := range rep.Kinds {
		got[k.Level+"/"+k.Kind] = k
	}
	want := map[string]KindStats{
		// zz is unknown: its link counts, but is neither right nor wrong.
		"person/name_dob":   {Level: "person", Kind: "name_dob", Links: 3, Wrong: 1},
		"person/nino":       {Level: "person", Kind: "nino", Links: 1},
		"household/address": {Level: "household", Kind: "address", Links: 2, Wrong: 1},
		"household/uprn":    {Level: "household", Kind: "uprn", Links: 1},
		"household/group":   {Level: "household", Kind: "group", Links: 2, Wrong: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kinds:\n%+v\nwant\n%+v", got, want)
	}
	// Person level first, then by links, most first.
	for i := 1; i < len(rep.Kinds); i++ {
		a, b := rep.Kinds[i-1], rep.Kinds[i]
		if (a.Level == "household" && b.Level == "person") || (a.Level == b.Level && a.Links < b.Links) {
			t.Errorf("kinds out of order: %+v before %+v", a, b)
		}
	}
}

// TestLinksOrderIsStable: kinds with as many links as each other come out
// in the same order every time, so two reports of the same run compare
// equal.
func TestLinksOrderIsStable(t *testing.T) {
	truth, out := district(t, nil, map[string]string{"links.csv": `level,source_a,record_id_a,source_b,record_id_b,kind
household,police,p1,police,p2,address
household,council,c1,police,p2,uprn
household,dwp,d1,police,p2,group
household,council,c2,police,p2,benefit_unit
`})
	var first []KindStats
	for i := range 20 {
		rep, err := Evaluate(truth, out)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rep.Kinds
			continue
		}
		if !reflect.DeepEqual(rep.Kinds, first) {
			t.Fatalf("kinds with equal link counts come out in different orders: %v then %v", first, rep.Kinds)
		}
	}
}

func TestMissingLinksIsFine(t *testing.T) {
	rep := evaluate(t, nil, map[string]string{"links.csv": ""})
	if len(rep.Kinds) != 0 {
		t.Errorf("kinds = %+v without links.csv", rep.Kinds)
	}
	if want := (PRF{TP: 3, FP: 1, FN: 2}); rep.Persons != want {
		t.Errorf("persons = %+v, want %+v", rep.Persons, want)
	}
}

func TestMissingFile(t *testing.T) {
	for _, tt := range []struct{ dir, file string }{
		{"truth", "persons.csv"}, {"truth", "households.csv"}, {"truth", "flagged.csv"},
		{"out", "clusters.csv"}, {"out", "flagged.csv"},
	} {
		t.Run(tt.dir+"/"+tt.file, func(t *testing.T) {
			var tc, oc map[string]string
			if tt.dir == "truth" {
				tc = map[string]string{tt.file: ""}
			} else {
				oc = map[string]string{tt.file: ""}
			}
			_, err := Evaluate(district(t, tc, oc))
			if err == nil {
				t.Fatal("no error")
			}
			if want := filepath.Join(tt.dir, tt.file); !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q, want it to name %s", err, want)
			}
		})
	}
}

// TestMissingColumn: a file without a column Evaluate needs is an error
// naming the file and the column.
func TestMissingColumn(t *testing.T) {
	needs := []struct {
		dir, file string
		cols      []string
	}{
		{"truth", "persons.csv", []string{"source", "record_id", "person_id"}},
		{"truth", "households.csv", []string{"person_id", "household_id"}},
		{"truth", "flagged.csv", []string{"household_id"}},
		{"out", "clusters.csv", []string{"source", "record_id", "person_id", "household_id"}},
		{"out", "flagged.csv", []string{"household_id"}},
		{"out", "links.csv", []string{"level", "source_a", "record_id_a", "source_b", "record_id_b", "kind"}},
	}
	for _, n := range needs {
		for _, col := range n.cols {
			t.Run(n.dir+"/"+n.file+"/"+col, func(t *testing.T) {
				base := baseTruth
				if n.dir == "out" {
					base = baseOut
				}
				header, rest, _ := strings.Cut(base[n.file], "\n")
				f := strings.Split(header, ",")
				for i := range f {
					if f[i] == col {
						f[i] = col + "_renamed"
					}
				}
				changed := map[string]string{n.file: strings.Join(f, ",") + "\n" + rest}
				var tc, oc map[string]string
				if n.dir == "truth" {
					tc = changed
				} else {
					oc = changed
				}
				_, err := Evaluate(district(t, tc, oc))
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.Contains(err.Error(), filepath.Join(n.dir, n.file)) || !strings.Contains(err.Error(), `"`+col+`"`) {
					t.Errorf("error = %q, want it to name %s and column %q", err, filepath.Join(n.dir, n.file), col)
				}
			})
		}
	}
}

func TestMalformedFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"empty", "\n", "header"},
		{"ragged row", "source,record_id,person_id,household_id\npolice,p1,X1\n", "clusters.csv"},
		{"bad quoting", "source,record_id,person_id,household_id\npolice,\"p1,X1,Y1\n", "clusters.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Evaluate(district(t, nil, map[string]string{"clusters.csv": tt.content}))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "clusters.csv") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to name clusters.csv and mention %q", err, tt.want)
			}
		})
	}
}

// TestByteOrderMark: files saved by spreadsheet programs often start with
// a UTF-8 byte order mark; the first column must still be found.
func TestByteOrderMark(t *testing.T) {
	rep, err := Evaluate(district(t, map[string]string{"persons.csv": "\ufeff" + baseTruth["persons.csv"]}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 10 {
		t.Errorf("records = %d, want 10", rep.Records)
	}
}

func TestReportWrite(t *testing.T) {
	rep := evaluate(t, nil, nil)
	sortKinds(rep.Kinds) // see TestLinksOrderIsStable
	var b bytes.Buffer
	rep.Write(&b)
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("report:\n%s\nwant (%s):\n%s", b.String(), golden, want)
	}
}

// sortKinds orders kinds as Evaluate does (person level first, then most
// links first) and, where Evaluate leaves the order open, by name (see
// TestLinksOrderIsStable).
func sortKinds(ks []KindStats) {
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.Level != b.Level {
			return a.Level > b.Level
		}
		if a.Links != b.Links {
			return a.Links > b.Links
		}
		return a.Kind < b.Kind
	})
}

// FuzzPairwise checks pairwise against counting every pair one by one.
func FuzzPairwise(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 0})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pred, truth []string
		for i := 0; i+1 < len(data) && len(pred) < 200; i += 2 {
			pred = append(pred, fmt.Sprint("p", data[i]%6))
			truth = append(truth, fmt.Sprint("t", data[i+1]%6))
		}
		var want PRF
		for i := range pred {
			for j := i + 1; j < len(pred); j++ {
				p, tr := pred[i] == pred[j], truth[i] == truth[j]
				switch {
				case p && tr:
					want.TP++
				case p:
					want.FP++
				case tr:
					want.FN++
				}
			}
		}
		if got := pairwise(pred, truth); got != want {
			t.Fatalf("pairwise(%v, %v) = %+v, want %+v", pred, truth, got, want)
		}
	})
}

// FuzzEvaluate feeds arbitrary link output to Evaluate: it must not panic,
// and a report it returns must be consistent with its input.
func FuzzEvaluate(f *testing.F) {
	f.Add(baseOut["clusters.csv"], baseOut["flagged.csv"], baseOut["links.csv"])
	f.Add("source,record_id,person_id,household_id\n", "household_id\n", "")
	f.Add("household_id,source,record_id,person_id\nY1,police,p1,X1\n", "household_id\nY1\nY1\n", "level,source_a,record_id_a,source_b,record_id_b,kind\nperson,police,p1,police,p1,self\n")
	f.Add("source,record_id,person_id,household_id\n\"police\",p1,X1,Y1\npolice,p1,X1,Y1\n", "household_id\n\n", "kind\n")
	f.Fuzz(func(t *testing.T, clusters, flagged, links string) {
		dir := t.TempDir()
		truthDir, outDir := filepath.Join(dir, "truth"), filepath.Join(dir, "out")
		for _, d := range []string{truthDir, outDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, content := range baseTruth {
			if err := os.WriteFile(filepath.Join(truthDir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for name, content := range map[string]string{"clusters.csv": clusters, "flagged.csv": flagged, "links.csv": links} {
			if err := os.WriteFile(filepath.Join(outDir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Evaluate(truthDir, outDir)
		if err != nil {
			return
		}
		rows, err := csv.NewReader(strings.NewReader(clusters)).ReadAll()
		if err != nil {
			t.Fatalf("Evaluate accepted clusters.csv that encoding/csv rejects: %v", err)
		}
		if got := rep.Records + rep.Unknown; got != len(rows)-1 {
			t.Errorf("records %d + unknown %d != %d rows", rep.Records, rep.Unknown, len(rows)-1)
		}
		n := rep.Records
		for name, p := range map[string]PRF{"persons": rep.Persons, "households": rep.Households, "flagged": rep.Flagged} {
			if p.TP < 0 || p.FP < 0 || p.FN < 0 {
				t.Errorf("%s: negative count %+v", name, p)
			}
			for _, v := range []float64{p.Precision(), p.Recall(), p.F1()} {
				if v < 0 || v > 1 {
					t.Errorf("%s: ratio %v out of [0, 1]", name, v)
				}
			}
			if name != "flagged" && p.TP+p.FP > n*(n-1)/2 {
				t.Errorf("%s: %d predicted pairs among %d records", name, p.TP+p.FP, n)
			}
		}
		for _, k := range rep.Kinds {
			if k.Wrong > k.Links || k.Links <= 0 {
				t.Errorf("kind %+v: wrong > links or no links", k)
			}
		}
	})
}
