package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestLinkUsage pins what `matchctl link -h` prints: the interface of link
// is fixed (scripts and the evaluation harness call it), so a change here
// must be deliberate. Run with -update to accept one.
func TestLinkUsage(t *testing.T) {
	_, stderr, err := run(cmdLink, "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v, want flag.ErrHelp", err)
	}
	golden := filepath.Join("testdata", "link_usage.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(stderr), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if stderr != string(want) {
		t.Errorf("matchctl link -h printed\n%s\nwant (%s)\n%s", stderr, golden, want)
	}
	const line = "usage: matchctl link -out DIR [-rules FILE] [-asof YYYY-MM-DD] NAME=DATA.csv,MAPPING.yaml [NAME=DATA.csv,MAPPING.yaml ...]\n"
	if !strings.HasPrefix(string(want), line) {
		t.Errorf("%s does not start with the fixed usage line %q", golden, line)
	}
}

// TestLinkMappingError: a broken mapping file is named in the error, so
// the operator knows which of several to fix.
func TestLinkMappingError(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "police.csv")
	if err := os.WriteFile(data, []byte("ID,SURNAME\n1,Smith\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "council-mapping.yaml")
	if err := os.WriteFile(good, []byte("version: 1\nsource: council\nfields:\n  record_id: ID\n  family_name: SURNAME\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		content string // "" leaves the file missing
	}{
		{"not YAML", "police-mapping.yaml", "fields: [record_id\n"},
		{"unknown key", "police-mapping.yaml", "version: 1\nfields:\n  record_id: ID\ncolumns: {}\n"},
		{"no fields", "police-mapping.yaml", "version: 1\nsource: police\n"},
		{"unknown field", "police-mapping.yaml", "version: 1\nfields:\n  record_id: ID\n  shoe_size: SHOE\n"},
		{"bad indicator expression", "police-mapping.yaml", "version: 1\nfields:\n  record_id: ID\nindicators:\n  crime_asb: 'row.X =='\n"},
		{"missing", "police-mapping.yaml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := t.TempDir()
			mapFile := filepath.Join(sub, tt.file)
			if tt.content != "" {
				if err := os.WriteFile(mapFile, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(sub, "out")
			_, _, err := run(cmdLink, "-out", out, "council="+data+","+good, "police="+data+","+mapFile)
			if err == nil {
				t.Fatal("link accepted a broken mapping file")
			}
			var ue usageError
			if errors.As(err, &ue) {
				t.Errorf("a broken mapping file is not a usage error: %v", err)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("error = %q, want it to name %s", err, tt.file)
			}
			if strings.Contains(err.Error(), "council-mapping.yaml") {
				t.Errorf("error = %q names the good mapping file", err)
			}
		})
	}
}

// TestGenLinkEval runs the evaluation path end to end on a small district:
// gen writes it, link links it, eval scores the result against the truth.
func TestGenLinkEval(t *testing.T) {
	dir := t.TempDir()
	district := filepath.Join(dir, "district")
	out := filepath.Join(dir, "out")
	const asof = "2026-10-31"

	stdout, _, err := run(cmdGen, "-out", district, "-households", "300", "-seed", "7", "-asof", asof)
	if err != nil {
		t.Fatalf("gen: %v", err)
	}
	if !strings.Contains(stdout, "300 households") {
		t.Errorf("gen printed %q, want it to say 300 households", stdout)
	}

	agencies := []string{"council", "education", "police", "dwp"}
	args := []string{"-out", out, "-asof", asof}
	for _, a := range agencies {
		args = append(args, a+"="+filepath.Join(district, a+".csv")+","+filepath.Join(district, "mappings", a+".yaml"))
	}
	stdout, stderr, err := run(cmdLink, args...)
	if err != nil {
		t.Fatalf("link: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}

	// link reports each source: read, accepted, rejected.
	summary := regexp.MustCompile(`(?m)^(\w+): read (\d+), accepted (\d+), rejected (\d+),`)
	accepted := map[string]int{}
	for _, m := range summary.FindAllStringSubmatch(stdout, -1) {
		read, _ := strconv.Atoi(m[2])
		acc, _ := strconv.Atoi(m[3])
		rej, _ := strconv.Atoi(m[4])
		if acc+rej != read {
			t.Errorf("%s: accepted %d + rejected %d != read %d", m[1], acc, rej, read)
		}
		if rows := len(readCSV(t, filepath.Join(district, m[1]+".csv"))) - 1; read != rows {
			t.Errorf("%s: read %d records, the extract has %d rows", m[1], read, rows)
		}
		accepted[m[1]] = acc
	}
	if len(accepted) != len(agencies) {
		t.Fatalf("link printed a summary for %d sources, want %d:\n%s", len(accepted), len(agencies), stdout)
	}

	// The truth knows every record of every extract.
	truthRecords := map[[2]string]bool{}
	for _, r := range readCSV(t, filepath.Join(district, "truth", "persons.csv"))[1:] {
		truthRecords[[2]string{r[0], r[1]}] = true
	}

	// clusters.csv: one row per accepted record.
	clusters := readCSV(t, filepath.Join(out, "clusters.csv"))
	wantHeader(t, "clusters.csv", clusters, "source,record_id,person_id,household_id")
	perSource := map[string]int{}
	seen := map[[2]string]bool{}
	households := map[string]bool{}
	for _, r := range clusters[1:] {
		key := [2]string{r[0], r[1]}
		if seen[key] {
			t.Errorf("clusters.csv: record %s/%s appears twice", r[0], r[1])
		}
		seen[key] = true
		if !truthRecords[key] {
			t.Errorf("clusters.csv: record %s/%s is in no extract", r[0], r[1])
		}
		if r[2] == "" || r[3] == "" {
			t.Errorf("clusters.csv: record %s/%s has no person or household id", r[0], r[1])
		}
		perSource[r[0]]++
		households[r[3]] = true
	}
	for _, a := range agencies {
		if perSource[a] != accepted[a] {
			t.Errorf("clusters.csv has %d rows of %s, link accepted %d", perSource[a], a, accepted[a])
		}
	}

	// flagged.csv: criteria 0/1, consistent with the phase-1 rules.
	flagged := readCSV(t, filepath.Join(out, "flagged.csv"))
	wantHeader(t, "flagged.csv", flagged, "household_id,rule,crime_asb,education,work,local_concern")
	if len(flagged) < 2 {
		t.Error("flagged.csv flags no household; the district has some")
	}
	for _, r := range flagged[1:] {
		if !households[r[0]] {
			t.Errorf("flagged.csv: household %s is not in clusters.csv", r[0])
		}
		crit := map[string]int{}
		for i, c := range []string{"crime_asb", "education", "work", "local_concern"} {
			switch r[2+i] {
			case "0":
			case "1":
				crit[c] = 1
			default:
				t.Errorf("flagged.csv: household %s: %s = %q, want 0 or 1", r[0], c, r[2+i])
			}
		}
		three := crit["crime_asb"] + crit["education"] + crit["work"]
		switch r[1] {
		case "all_three":
			if three != 3 {
				t.Errorf("flagged.csv: household %s flagged all_three with criteria %v", r[0], r[2:])
			}
		case "two_plus_local":
			if three < 2 || crit["local_concern"] != 1 {
				t.Errorf("flagged.csv: household %s flagged two_plus_local with criteria %v", r[0], r[2:])
			}
		default:
			t.Errorf("flagged.csv: household %s: rule %q is not a phase-1 rule", r[0], r[1])
		}
	}

	// links.csv: every link joins two records that link wrote out.
	links := readCSV(t, filepath.Join(out, "links.csv"))
	wantHeader(t, "links.csv", links, "level,source_a,record_id_a,source_b,record_id_b,kind")
	if len(links) < 2 {
		t.Error("links.csv holds no link")
	}
	for _, r := range links[1:] {
		if r[0] != "person" && r[0] != "household" {
			t.Errorf("links.csv: level %q", r[0])
		}
		if !seen[[2]string{r[1], r[2]}] || !seen[[2]string{r[3], r[4]}] {
			t.Errorf("links.csv: link %v joins a record not in clusters.csv", r)
		}
		if r[5] == "" {
			t.Errorf("links.csv: link %v has no kind", r)
		}
	}

	// eval scores it.
	stdout, _, err = run(cmdEval, "-truth", filepath.Join(district, "truth"), "-out", out)
	if err != nil {
		t.Fatalf("eval: %v", err)
	}
	f1 := map[string]float64{}
	row := regexp.MustCompile(`(?m)^(persons \(pairwise\)|households \(pairwise\)|flagged households)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+\d+\s+\d+\s+\d+$`)
	for _, m := range row.FindAllStringSubmatch(stdout, -1) {
		for _, v := range m[2:5] {
			if x, err := strconv.ParseFloat(v, 64); err != nil || x < 0 || x > 1 {
				t.Errorf("eval: %s: %q is not a ratio", m[1], v)
			}
		}
		f1[m[1]], _ = strconv.ParseFloat(m[4], 64)
	}
	if len(f1) != 3 {
		t.Fatalf("eval printed %d of the 3 precision/recall lines:\n%s", len(f1), stdout)
	}
	if got := f1["persons (pairwise)"]; got < 0.9 {
		t.Errorf("person pairwise F1 = %.4f, want at least 0.9\n%s", got, stdout)
	}
	if want := "records evaluated: " + strconv.Itoa(len(clusters)-1) + " (not in truth: 0)"; !strings.Contains(stdout, want) {
		t.Errorf("eval printed\n%s\nwant %q", stdout, want)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s is empty; want at least a header", path)
	}
	return recs
}

func wantHeader(t *testing.T, name string, recs [][]string, want string) {
	t.Helper()
	if got := strings.Join(recs[0], ","); got != want {
		t.Fatalf("%s header = %q, want %q", name, got, want)
	}
}
