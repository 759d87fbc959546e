package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"tfmatch/eval"
	"tfmatch/keys"
)

// febrlDir is where the FEBRL 4 benchmark lives relative to the repository
// root (see its README); the test is skipped when it is absent.
const febrlDir = "../../shared/data/febrl"

// writeFEBRLTruth writes a truth directory in the layout eval reads for
// FEBRL-style files: each record id is "rec-N-org" or "rec-N-dup-K", and
// records with the same N are one person. Every person is a household of
// its own and nothing is flagged. sources maps a source name (as given
// to Run) to its CSV file, whose first column is the record id.
func writeFEBRLTruth(dir string, sources map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	persons := [][]string{{"source", "record_id", "person_id"}}
	seen := map[string]bool{}
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := os.Open(sources[name])
		if err != nil {
			return err
		}
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		first := true
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", sources[name], err)
			}
			if first {
				first = false
				continue
			}
			id := strings.TrimSpace(rec[0])
			parts := strings.Split(id, "-")
			if len(parts) < 3 || parts[0] != "rec" {
				f.Close()
				return fmt.Errorf("%s: record id %q is not rec-N-org or rec-N-dup-K", sources[name], id)
			}
			persons = append(persons, []string{name, id, parts[1]})
			seen[parts[1]] = true
		}
		f.Close()
	}
	households := [][]string{{"person_id", "household_id"}}
	ids := make([]string, 0, len(seen))
	for p := range seen {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	for _, p := range ids {
		households = append(households, []string{p, p})
	}
	for file, rows := range map[string][][]string{
		"persons.csv":    persons,
		"households.csv": households,
		"flagged.csv":    {{"household_id"}},
	} {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		w := csv.NewWriter(f)
		w.WriteAll(rows)
		if err := w.Error(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func TestWriteFEBRLTruth(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	b := filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("rec_id, given_name\nrec-1-org, ann\nrec-2-org, bob\n"), 0o644)
	os.WriteFile(b, []byte("rec_id, given_name\nrec-2-dup-0, bbo\nrec-1-dup-0, anne\n"), 0o644)
	truth := filepath.Join(dir, "truth")
	if err := writeFEBRLTruth(truth, map[string]string{"a": a, "b": b}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(truth, "persons.csv"))
	want := "source,record_id,person_id\na,rec-1-org,1\na,rec-2-org,2\nb,rec-2-dup-0,2\nb,rec-1-dup-0,1\n"
	if string(got) != want {
		t.Errorf("persons.csv =\n%s\nwant\n%s", got, want)
	}
	got, _ = os.ReadFile(filepath.Join(truth, "households.csv"))
	if string(got) != "person_id,household_id\n1,1\n2,2\n" {
		t.Errorf("households.csv = %q", got)
	}
	os.WriteFile(b, []byte("rec_id\nfoo\n"), 0o644)
	if err := writeFEBRLTruth(truth, map[string]string{"b": b}); err == nil {
		t.Error("accepted a record id not in FEBRL form")
	}
}

// fixedKeys returns the keys of run n of an evaluation: the same on every
// machine and every run, and unrelated from one n to the next.
func fixedKeys(t *testing.T, n int, sources ...string) *Keys {
	t.Helper()
	text := func(prefix, what string) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "tfmatch test keys %d %s", n, what))
		return []byte(prefix + base64.RawURLEncoding.EncodeToString(h[:]))
	}
	k := &Keys{Local: map[string]keys.LocalKey{}}
	if err := k.Secret.UnmarshalText(text("tfmatch-programme-secret-v1:", "secret")); err != nil {
		t.Fatal(err)
	}
	if err := k.Blinding.UnmarshalText(text("tfmatch-blinding-key-v1:", "blinding")); err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		var l keys.LocalKey
		if err := l.UnmarshalText(text("tfmatch-local-key-v1:", "local "+s)); err != nil {
			t.Fatal(err)
		}
		k.Local[s] = l
	}
	return k
}

// TestFEBRL4 runs the FEBRL 4 benchmark through the whole privacy-
// preserving pipeline (both files, deploy/examples/febrl4.yaml) and pins
// person precision and recall. The similarity tier's Bloom filters, and
// the threshold it chooses from them, depend on the keys, so a few
// borderline pairs link under some keys and not others: the test runs
// under five fixed sets of keys (repeatable, not chosen) and pins every
// run's precision, every run's recall and their median recall. See
// docs/linkage.md for the measured figures and why recall stays below
// the 0.995 aimed for.
func TestFEBRL4(t *testing.T) {
	a := filepath.Join(febrlDir, "dataset4a.csv")
	b := filepath.Join(febrlDir, "dataset4b.csv")
	if _, err := os.Stat(a); err != nil {
		t.Skipf("FEBRL 4 not present at %s", febrlDir)
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth")
	if err := writeFEBRLTruth(truth, map[string]string{"a": a, "b": b}); err != nil {
		t.Fatal(err)
	}
	mapping := filepath.Join("..", "deploy", "examples", "febrl4.yaml")
	var recalls []float64
	for n := 1; n <= 5; n++ {
		out := filepath.Join(dir, fmt.Sprint("out", n))
		sum, err := Run(context.Background(), Config{
			Out:     out,
			Sources: []Source{{Name: "a", Data: a, Mapping: mapping}, {Name: "b", Data: b, Mapping: mapping}},
			Keys:    fixedKeys(t, n, "a", "b"),
		})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := eval.Evaluate(truth, out)
		if err != nil {
			t.Fatal(err)
		}
		p := rep.Persons
		t.Logf("FEBRL 4 persons, keys %d: precision %.4f recall %.4f (TP %d FP %d FN %d) over %d records, threshold %.2f",
			n, p.Precision(), p.Recall(), p.TP, p.FP, p.FN, rep.Records, sum.Threshold)
		if p.Precision() < 0.999 {
			t.Errorf("keys %d: precision %.4f, want >= 0.999", n, p.Precision())
		}
		if p.Recall() < 0.99 {
			t.Errorf("keys %d: recall %.4f, want >= 0.99", n, p.Recall())
		}
		if rep.Records < 9900 {
			t.Errorf("keys %d: only %d of 10000 records linked; want >= 9900", n, rep.Records)
		}
		recalls = append(recalls, p.Recall())
	}
	slices.Sort(recalls)
	if m := recalls[len(recalls)/2]; m < 0.994 {
		t.Errorf("median recall %.4f, want >= 0.994", m)
	}
}
