// Package eval measures linkage against ground truth: pairwise precision,
// recall and F1 of persons and households, precision and recall of flagged
// households, and how many links each match key made and how many of those
// joined different people.
//
// It reads the output of `matchctl link` (clusters.csv, flagged.csv and
// links.csv) and a truth directory in the layout `matchctl gen` writes
// (persons.csv, households.csv, flagged.csv), so it works on any data with
// truth in that layout, not only on generated districts.
package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PRF is a precision / recall / F1 triple with the counts behind it.
type PRF struct {
	TP, FP, FN int
}

// Precision is TP / (TP + FP), 1 when nothing was predicted.
func (p PRF) Precision() float64 {
	if p.TP+p.FP == 0 {
		return 1
	}
	return float64(p.TP) / float64(p.TP+p.FP)
}

// Recall is TP / (TP + FN), 1 when there was nothing to find.
func (p PRF) Recall() float64 {
	if p.TP+p.FN == 0 {
		return 1
	}
	return float64(p.TP) / float64(p.TP+p.FN)
}

// F1 is the harmonic mean of precision and recall.
func (p PRF) F1() float64 {
	pr, rc := p.Precision(), p.Recall()
	if pr+rc == 0 {
		return 0
	}
	return 2 * pr * rc / (pr + rc)
}

// KindStats counts the links one match key made.
type KindStats struct {
	Level string // "person" or "household"
	Kind  string
	Links int
	// Wrong counts links joining different true persons (person level)
	// or different true households (household level).
	Wrong int
}

// Report is the result of Evaluate.
type Report struct {
	Records    int // records in clusters.csv that the truth knows
	Unknown    int // records in clusters.csv the truth does not know
	Persons    PRF // pairwise, over records
	Households PRF // pairwise, over records
	Flagged    PRF // households
	Kinds      []KindStats
}

// record identifies one extract row.
type record struct{ source, id string }

// Evaluate compares the link output in outDir with the truth in truthDir.
// links.csv is optional.
func Evaluate(truthDir, outDir string) (*Report, error) {
	truePerson := map[record]string{}
	err := readCSV(filepath.Join(truthDir, "persons.csv"), []string{"source", "record_id", "person_id"}, func(f []string) error {
		truePerson[record{f[0], f[1]}] = f[2]
		return nil
	})
	if err != nil {
		return nil, err
	}
	personHH := map[string]string{}
	err = readCSV(filepath.Join(truthDir, "households.csv"), []string{"person_id", "household_id"}, func(f []string) error {
		personHH[f[0]] = f[1]
		return nil
	})
	if err != nil {
		return nil, err
	}
	trueFlagged := map[string]bool{}
	err = readCSV(filepath.Join(truthDir, "flagged.csv"), []string{"household_id"}, func(f []string) error {
		trueFlagged[f[0]] = true
		return nil
	})
	if err != nil {
		return nil, err
	}

	rep := &Report{}
	var predPerson, predHH, tPerson, tHH []string
	recHH := map[record]string{}
	predHHRecords := map[string][]record{}
	err = readCSV(filepath.Join(outDir, "clusters.csv"), []string{"source", "record_id", "person_id", "household_id"}, func(f []string) error {
		r := record{f[0], f[1]}
		tp, ok := truePerson[r]
		if !ok {
			rep.Unknown++
			return nil
		}
		rep.Records++
		predPerson = append(predPerson, f[2])
		predHH = append(predHH, f[3])
		tPerson = append(tPerson, tp)
		tHH = append(tHH, personHH[tp])
		recHH[r] = personHH[tp]
		predHHRecords[f[3]] = append(predHHRecords[f[3]], r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Persons = pairwise(predPerson, tPerson)
	rep.Households = pairwise(predHH, tHH)

	// Flagged households: a predicted flagged household stands for the
	// true household holding most of its records (ties: smallest id). It
	// is right if that household is truly flagged and no other predicted
	// flagged household already stands for it. A truly flagged household
	// is found if some predicted flagged household stands for it; one
	// whose members are in no extract cannot be found by anyone and is
	// not counted.
	inExtracts := map[string]bool{}
	for _, p := range truePerson {
		inExtracts[personHH[p]] = true
	}
	found := map[string]bool{}
	err = readCSV(filepath.Join(outDir, "flagged.csv"), []string{"household_id"}, func(f []string) error {
		hh := majority(predHHRecords[f[0]], recHH)
		if trueFlagged[hh] && !found[hh] {
			found[hh] = true
			rep.Flagged.TP++
		} else {
			rep.Flagged.FP++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for hh := range trueFlagged {
		if inExtracts[hh] && !found[hh] {
			rep.Flagged.FN++
		}
	}

	kinds := map[string]*KindStats{}
	err = readCSV(filepath.Join(outDir, "links.csv"), []string{"level", "source_a", "record_id_a", "source_b", "record_id_b", "kind"}, func(f []string) error {
		level, kind := f[0], f[5]
		ks := kinds[level+"/"+kind]
		if ks == nil {
			ks = &KindStats{Level: level, Kind: kind}
			kinds[level+"/"+kind] = ks
		}
		ks.Links++
		a, aok := truePerson[record{f[1], f[2]}]
		b, bok := truePerson[record{f[3], f[4]}]
		if !aok || !bok {
			return nil
		}
		if (level == "person" && a != b) || (level == "household" && personHH[a] != personHH[b]) {
			ks.Wrong++
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, ks := range kinds {
		rep.Kinds = append(rep.Kinds, *ks)
	}
	sort.Slice(rep.Kinds, func(i, j int) bool {
		a, b := rep.Kinds[i], rep.Kinds[j]
		if a.Level != b.Level {
			return a.Level > b.Level // person before household
		}
		if a.Links != b.Links {
			return a.Links > b.Links
		}
		return a.Kind < b.Kind
	})
	return rep, nil
}

func majority(recs []record, recHH map[record]string) string {
	count := map[string]int{}
	for _, r := range recs {
		count[recHH[r]]++
	}
	best, bestN := "", 0
	for hh, n := range count {
		if n > bestN || (n == bestN && hh < best) {
			best, bestN = hh, n
		}
	}
	return best
}

// pairwise counts record pairs placed together by pred and by truth: TP
// pairs together in both, FP together only in pred, FN only in truth.
func pairwise(pred, truth []string) PRF {
	pairs := func(counts map[string]int) int {
		n := 0
		for _, c := range counts {
			n += c * (c - 1) / 2
		}
		return n
	}
	pc, tc, both := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range pred {
		pc[pred[i]]++
		tc[truth[i]]++
		both[pred[i]+"\x00"+truth[i]]++
	}
	tp := pairs(both)
	return PRF{TP: tp, FP: pairs(pc) - tp, FN: pairs(tc) - tp}
}

// readCSV reads a CSV file with a header naming at least the given columns
// and calls fn with those columns of each row, in the order asked for.
func readCSV(path string, cols []string, fn func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: reading header: %w", path, err)
	}
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = -1
		for j, h := range header {
			if j == 0 {
				h = strings.TrimPrefix(h, "\ufeff") // a byte order mark from a spreadsheet
			}
			if strings.TrimSpace(h) == c {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return fmt.Errorf("%s: no column %q in header", path, c)
		}
	}
	vals := make([]string, len(cols))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for i, j := range idx {
			vals[i] = strings.TrimSpace(rec[j])
		}
		if err := fn(vals); err != nil {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "records evaluated: %d (not in truth: %d)\n\n", r.Records, r.Unknown)
	fmt.Fprintf(w, "%-22s %10s %10s %8s %10s %10s %10s\n", "", "precision", "recall", "F1", "TP", "FP", "FN")
	for _, row := range []struct {
		name string
		p    PRF
	}{{"persons (pairwise)", r.Persons}, {"households (pairwise)", r.Households}, {"flagged households", r.Flagged}} {
		fmt.Fprintf(w, "%-22s %10.4f %10.4f %8.4f %10d %10d %10d\n", row.name, row.p.Precision(), row.p.Recall(), row.p.F1(), row.p.TP, row.p.FP, row.p.FN)
	}
	if len(r.Kinds) > 0 {
		fmt.Fprintf(w, "\n%-10s %-30s %10s %10s\n", "level", "links by match key", "links", "wrong")
		for _, k := range r.Kinds {
			fmt.Fprintf(w, "%-10s %-30s %10d %10d\n", k.Level, k.Kind, k.Links, k.Wrong)
		}
	}
}
