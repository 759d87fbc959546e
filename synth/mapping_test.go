package synth_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tfmatch/agency/mapping"
	"tfmatch/synth"
)

// TestMappingsReadExtracts reads every generated extract through its
// embedded mapping file and checks that no row is rejected and that the
// indicators the mapping derives are exactly those in truth/indicators.csv.
func TestMappingsReadExtracts(t *testing.T) {
	for _, cfg := range []synth.Config{
		{Seed: 3, Households: 500},
		{Seed: 4, Households: 500, Errors: synth.ErrorModel{None: true}},
		{Seed: 5, Households: 500, AsOf: time.Date(2021, time.February, 28, 0, 0, 0, 0, time.UTC)},
	} {
		dir := t.TempDir()
		d, err := synth.Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		asof, err := synth.AsOf(dir)
		if err != nil {
			t.Fatal(err)
		}
		truth := readIndicators(t, dir)
		for _, a := range synth.Agencies() {
			src, err := synth.Mapping(a)
			if err != nil {
				t.Fatal(err)
			}
			// The copy written beside the extracts is the embedded file.
			written, err := os.ReadFile(filepath.Join(dir, "mappings", a+".yaml"))
			if err != nil || !bytes.Equal(written, src) {
				t.Errorf("%s: mappings/%s.yaml differs from the embedded mapping (%v)", a, a, err)
			}
			m, err := mapping.Parse(src, a+".yaml")
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			f, err := os.Open(filepath.Join(dir, a+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			rd, err := m.NewReader(f, a+".csv", mapping.ReaderOptions{AsOf: asof})
			if err != nil {
				f.Close()
				t.Fatalf("%s: %v", a, err)
			}
			rows, mismatches := 0, 0
			for {
				row, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				var re *mapping.RowError
				if errors.As(err, &re) {
					t.Errorf("%s: row rejected: %v", a, err)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", a, err)
				}
				rows++
				id := row.Fields["record_id"]
				want, ok := truth[a+"/"+id]
				if !ok {
					t.Errorf("%s line %d: record %s not in truth/indicators.csv", a, row.Line, id)
					continue
				}
				for i, name := range synth.Indicators() {
					got := row.Indicators[name] // absent means false
					if got != want[i] {
						mismatches++
						if mismatches <= 10 {
							t.Errorf("%s line %d: indicator %s = %v, truth says %v", a, row.Line, name, got, want[i])
						}
					}
				}
			}
			f.Close()
			if rows != d.Summary().Records[a] {
				t.Errorf("%s: read %d rows, generated %d", a, rows, d.Summary().Records[a])
			}
		}
	}
}

// readIndicators reads truth/indicators.csv into source/record_id ->
// the four indicators.
func readIndicators(t *testing.T, dir string) map[string][4]bool {
	t.Helper()
	recs := readCSV(t, filepath.Join(dir, "truth", "indicators.csv"))
	out := map[string][4]bool{}
	for _, r := range recs[1:] {
		var v [4]bool
		for i := range v {
			switch r[2+i] {
			case "1":
				v[i] = true
			case "0":
			default:
				t.Fatalf("indicators.csv: bad value %q", r[2+i])
			}
		}
		out[r[0]+"/"+r[1]] = v
	}
	return out
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
		t.Fatalf("%s: empty", path)
	}
	return recs
}
