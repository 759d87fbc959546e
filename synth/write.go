package synth

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Phase-1 rule names, as written to flagged.csv.
const (
	RuleAllThree     = "all_three"      // crime/ASB, education and work
	RuleTwoPlusLocal = "two_plus_local" // two of those three plus a local cause for concern
)

// Summary describes a district and, once WriteDir has run, what it wrote.
type Summary struct {
	Generator  string         `json:"generator"`
	Seed       int64          `json:"seed"`
	AsOf       string         `json:"asof"`
	Households int            `json:"households"`
	Persons    int            `json:"persons"`
	Records    map[string]int `json:"records"`         // rows per extract
	Flagged    map[string]int `json:"flagged"`         // households per rule; filled by WriteDir
	Errors     string         `json:"errors"`          // "none", "default" or "custom"
	Rates      map[string]any `json:"rates,omitempty"` // effective error rates per agency
}

// Summary reports the district's size and record counts. Flagged is nil
// until WriteDir has computed it.
func (d *District) Summary() Summary {
	s := Summary{
		Generator:  Version,
		Seed:       d.cfg.Seed,
		AsOf:       formatDate(d.asof, layoutISO),
		Households: len(d.households),
		Persons:    len(d.persons),
		Records:    map[string]int{},
		Errors:     "custom",
		Rates:      map[string]any{},
	}
	switch {
	case d.cfg.Errors.None:
		s.Errors = "none"
	case d.cfg.Errors == (ErrorModel{}):
		s.Errors = "default"
	}
	for i, a := range Agencies() {
		s.Records[a] = len(d.recs[i])
		s.Rates[a] = d.rates[i]
	}
	if d.flagged != nil {
		s.Flagged = map[string]int{}
		for k, v := range d.flagged {
			s.Flagged[k] = v
		}
	}
	return s
}

// WriteDir writes the district into dir (created if needed):
//
//	council.csv, education.csv, police.csv, dwp.csv   the extracts
//	mappings/<agency>.yaml                            their mapping files
//	truth/persons.csv      source,record_id,person_id
//	truth/households.csv   person_id,household_id
//	truth/indicators.csv   source,record_id,crime_asb,education,work,local_concern
//	truth/flagged.csv      household_id,rule,crime_asb,education,work,local_concern
//	district.json          the Summary
//
// Existing files of those names are replaced.
func (d *District) WriteDir(dir string) (err error) {
	for _, sub := range []string{"", "truth", "mappings"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	for _, a := range Agencies() {
		m, err := Mapping(a)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "mappings", a+".yaml"), m, 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}

	persons, err := createFile(filepath.Join(dir, "truth", "persons.csv"))
	if err != nil {
		return err
	}
	defer persons.close(&err)
	inds, err := createFile(filepath.Join(dir, "truth", "indicators.csv"))
	if err != nil {
		return err
	}
	defer inds.close(&err)
	persons.WriteString("source,record_id,person_id\n")
	inds.WriteString("source,record_id,crime_asb,education,work,local_concern\n")

	// Indicators each person shows in any record, for flagged.csv.
	shown := make([]uint8, len(d.persons))
	x := d.newIDs()
	for ag, name := range Agencies() {
		if err := d.writeExtract(filepath.Join(dir, name+".csv"), ag, name, x, persons, inds, shown); err != nil {
			return err
		}
	}

	hh, err := createFile(filepath.Join(dir, "truth", "households.csv"))
	if err != nil {
		return err
	}
	defer hh.close(&err)
	hh.WriteString("person_id,household_id\n")
	for i := range d.persons {
		hh.WriteString(personID(int32(i)))
		hh.WriteByte(',')
		hh.WriteString(householdID(d.persons[i].hh))
		hh.WriteByte('\n')
	}

	fl, err := createFile(filepath.Join(dir, "truth", "flagged.csv"))
	if err != nil {
		return err
	}
	defer fl.close(&err)
	fl.WriteString("household_id,rule,crime_asb,education,work,local_concern\n")
	flagged := map[string]int{RuleAllThree: 0, RuleTwoPlusLocal: 0}
	for hi := range d.households {
		h := &d.households[hi]
		var bits uint8
		for i := h.first; i < h.first+int32(h.n); i++ {
			bits |= shown[i]
		}
		rule := Rule(bits&indCrimeASB != 0, bits&indEducation != 0, bits&indWork != 0, bits&indLocalConcern != 0)
		if rule == "" {
			continue
		}
		flagged[rule]++
		fl.WriteString(householdID(int32(hi)))
		fl.WriteByte(',')
		fl.WriteString(rule)
		writeBits(fl.Writer, bits)
	}
	d.flagged = flagged

	js, err := json.MarshalIndent(d.Summary(), "", "  ")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "district.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// Rule applies the phase-1 identification rule to a household's
// indicators: RuleAllThree when crime/ASB, education and work all hold,
// else RuleTwoPlusLocal when two of them and a local cause for concern
// hold, else "".
func Rule(crimeASB, education, work, localConcern bool) string {
	n := 0
	for _, b := range []bool{crimeASB, education, work} {
		if b {
			n++
		}
	}
	switch {
	case n == 3:
		return RuleAllThree
	case n == 2 && localConcern:
		return RuleTwoPlusLocal
	}
	return ""
}

func (d *District) writeExtract(path string, ag int, name string, x *ids, persons, inds *file, shown []uint8) (err error) {
	f, err := createFile(path)
	if err != nil {
		return err
	}
	defer f.close(&err)
	w := csv.NewWriter(f)
	if err := w.Write(header(ag)); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	rd := d.newRenderer(ag, x)
	for k := range d.recs[ag] {
		id, ind := rd.row(k)
		if err := w.Write(rd.out); err != nil {
			return fmt.Errorf("synth: %s: %w", path, err)
		}
		pi := d.recs[ag][k].p
		shown[pi] |= ind
		persons.WriteString(name)
		persons.WriteByte(',')
		persons.WriteString(id)
		persons.WriteByte(',')
		persons.WriteString(personID(pi))
		persons.WriteByte('\n')
		inds.WriteString(name)
		inds.WriteByte(',')
		inds.WriteString(id)
		writeBits(inds.Writer, ind)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	return nil
}

// writeBits writes ",c,e,w,l\n" for the four indicator bits.
func writeBits(w *bufio.Writer, bits uint8) {
	for i := 0; i < 4; i++ {
		w.WriteByte(',')
		w.WriteByte('0' + (bits>>i)&1)
	}
	w.WriteByte('\n')
}

func personID(pi int32) string   { return "P" + padInt(uint64(pi)+1, 8) }
func householdID(h int32) string { return "H" + padInt(uint64(h)+1, 7) }

// file is a buffered output file whose write errors surface at close.
type file struct {
	*bufio.Writer
	f *os.File
}

func createFile(path string) (*file, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return &file{bufio.NewWriterSize(f, 1<<20), f}, nil
}

// close flushes and closes the file, setting *errp if it is nil and either
// fails.
func (f *file) close(errp *error) {
	ferr := f.Flush()
	cerr := f.f.Close()
	if e := errors.Join(ferr, cerr); e != nil && *errp == nil {
		*errp = fmt.Errorf("synth: writing %s: %w", f.f.Name(), e)
	}
}

// AsOf reads the reference date of the district written in dir (from its
// district.json), which agency runs over its extracts must use as their
// as-of date for the indicators to match the truth files.
func AsOf(dir string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, "district.json"))
	if err != nil {
		return time.Time{}, fmt.Errorf("synth: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return time.Time{}, fmt.Errorf("synth: %s: %w", filepath.Join(dir, "district.json"), err)
	}
	t, err := time.Parse(time.DateOnly, s.AsOf)
	if err != nil {
		return time.Time{}, fmt.Errorf("synth: %s: asof: %w", filepath.Join(dir, "district.json"), err)
	}
	return t, nil
}
