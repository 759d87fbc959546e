package agency

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tfmatch/keys"
	"tfmatch/matchkey"
	"tfmatch/synth"
)

var (
	runExtract = filepath.Join("testdata", "run", "extract.csv")
	runMapping = filepath.Join("testdata", "run", "mapping.yaml")
	runAsOf    = time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)
)

// acceptedRun lists the rows of testdata/run/extract.csv that Run must
// accept: record id, the names as mapped, and the token kinds the record
// must carry (at least).
var acceptedRun = []struct {
	id, given, family string
	kinds             []matchkey.Kind
	concern           bool
}{
	{"H001", "Mary", "O'Brien", []matchkey.Kind{matchkey.NINO, matchkey.NameDOB, matchkey.AddressLine, matchkey.HouseholdGroup}, true},
	{"H002", "Jack", "O'Brien", []matchkey.Kind{matchkey.NameDOB, matchkey.AddressLine, matchkey.HouseholdGroup}, false},
	// A date of birth that is not a date is left out with a warning; the
	// record is still linkable on its name and address.
	{"H003", "Tom", "Jones", []matchkey.Kind{matchkey.House, matchkey.HouseholdGroup}, false},
	{"H007", "Eve", "Brown", []matchkey.Kind{matchkey.NameDOB}, false},
	// No date of birth and no identifier: only the similarity tier can
	// link it (block keys and a filter).
	{"H008", "Raj", "Patel", []matchkey.Kind{matchkey.House, matchkey.HouseholdGroup}, true},
	{"H009", "", "", []matchkey.Kind{matchkey.NINO}, false},
	{"H010", "Zoë", "Brown", []matchkey.Kind{matchkey.NameDOB}, true},
	{"H011", "Ben", "Ward", []matchkey.Kind{matchkey.NameDOB, matchkey.HouseholdGroup}, false},
	{"H012", "Amy", "Ward", []matchkey.Kind{matchkey.NameDOB, matchkey.HouseholdGroup}, false},
}

// rejectedRun lists the rows Run must reject: physical line, field and a
// part of the reason.
var rejectedRun = []struct {
	line          int
	field, reason string
}{
	{5, "record_id", "is empty"},
	{6, "family_name", "no name"},
	{7, "", "has 3 columns, the header has 9"},
}

func runTestExtract(t *testing.T, k Keys, cfg Config, sink Sink) (Summary, *Vault, error) {
	t.Helper()
	v := openVault(t)
	cfg.Mapping = loadMapping(t, runMapping)
	if cfg.Extract == "" {
		cfg.Extract = runExtract
	}
	cfg.AsOf = runAsOf
	cfg.Keys = k
	sum, err := Run(context.Background(), cfg, v, sink)
	return sum, v, err
}

func TestRunSummaryAndRejects(t *testing.T) {
	k := newKeys(t)
	sink := &fakeSink{}
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	sum, vault, err := runTestExtract(t, k, Config{RejectsPath: rejects, BatchSize: 3, Workers: 2}, sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := Summary{Read: 12, Accepted: len(acceptedRun), Rejected: len(rejectedRun), Sent: len(acceptedRun), Issues: 2}
	got := sum
	got.Elapsed = 0
	var tokens int
	for _, b := range sink.batches {
		for _, r := range b.Records {
			tokens += len(r.Tokens)
		}
	}
	if got.Tokens != tokens || tokens == 0 {
		t.Errorf("summary counts %d tokens, the sink received %d", got.Tokens, tokens)
	}
	got.Tokens = 0
	if got != want {
		t.Errorf("summary = %+v, want %+v", got, want)
	}
	if !strings.Contains(sum.String(), "read 12, accepted 9, rejected 3, sent 9, warnings 2") {
		t.Errorf("summary line %q", sum.String())
	}

	// The rejects file lists exactly the bad rows, pinned by a golden file.
	data, err := os.ReadFile(rejects)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "run", "rejects.golden"), data)
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("rejects file is not CSV: %v", err)
	}
	if len(rows) != len(rejectedRun)+1 {
		t.Fatalf("rejects file has %d rows, want header + %d", len(rows), len(rejectedRun))
	}
	if !slices.Equal(rows[0], []string{"file", "line", "field", "column", "indicator", "reason"}) {
		t.Errorf("rejects header = %q", rows[0])
	}
	for i, w := range rejectedRun {
		r := rows[i+1]
		if r[0] != "extract.csv" || r[1] != fmt.Sprint(w.line) || r[2] != w.field || !strings.Contains(r[5], w.reason) {
			t.Errorf("reject %d = %q, want extract.csv line %d field %q reason containing %q", i, r, w.line, w.field, w.reason)
		}
	}

	// The accepted records reach the sink, in extract order, with refs
	// made by the local key from the record id.
	recs := sink.records()
	if len(recs) != len(acceptedRun) {
		t.Fatalf("sink got %d records, want %d", len(recs), len(acceptedRun))
	}
	for i, w := range acceptedRun {
		r := recs[i]
		if r.Ref != k.Local.Ref(w.id) {
			t.Errorf("record %d: ref is not LocalKey.Ref(%q)", i, w.id)
		}
		have := map[matchkey.Kind]bool{}
		for _, tok := range r.Tokens {
			have[tok.Kind] = true
		}
		for _, kind := range w.kinds {
			if !have[kind] {
				t.Errorf("record %s: no %s token (has %v)", w.id, kind, kindsOf(r))
			}
		}
		if r.Indicators["local_concern"] != w.concern {
			t.Errorf("record %s: local_concern = %v, want %v", w.id, r.Indicators["local_concern"], w.concern)
		}
	}

	// A token value never appears under two kinds: kinds have separate keys.
	kindOf := map[keys.Token]matchkey.Kind{}
	for _, r := range recs {
		for _, tok := range r.Tokens {
			if prev, ok := kindOf[tok.Value]; ok && prev != tok.Kind {
				t.Errorf("one token value under kinds %s and %s", prev, tok.Kind)
			}
			kindOf[tok.Value] = tok.Kind
		}
	}
	// Records of one tenancy share its group token; others do not.
	group := func(r Record) (keys.Token, bool) {
		for _, tok := range r.Tokens {
			if tok.Kind == matchkey.HouseholdGroup {
				return tok.Value, true
			}
		}
		return keys.Token{}, false
	}
	g1, _ := group(recs[0])
	g2, _ := group(recs[1])
	g3, _ := group(recs[5])
	if g1 != g2 || g1 == g3 {
		t.Error("group tokens do not follow the tenancy reference")
	}

	// Every accepted record is in the vault under its ref.
	refs := make([]keys.Ref, len(acceptedRun))
	for i, w := range acceptedRun {
		refs[i] = k.Local.Ref(w.id)
	}
	found, unknown, err := vault.Resolve(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 0 {
		t.Errorf("vault lacks %d accepted records", len(unknown))
	}
	for i, w := range acceptedRun {
		p := found[refs[i]]
		if p.RecordID != w.id || p.GivenName != w.given || p.FamilyName != w.family {
			t.Errorf("vault[%s] = %+v, want id %s, name %q %q", w.id, p, w.id, w.given, w.family)
		}
	}
	if p := found[refs[0]]; p.DOB != "1985-11-30" || p.Postcode != "LS10 2BB" || !strings.Contains(p.Address, "7 Mill Lane") {
		t.Errorf("vault[H001] = %+v: want DOB, postcode and address as mapped", p)
	}
	if n, err := vault.Len(); err != nil || n != len(acceptedRun) {
		t.Errorf("vault holds %d people (err %v), want %d", n, err, len(acceptedRun))
	}
	// Rejected rows are not in the vault.
	_, unknown, err = vault.Resolve(context.Background(), []keys.Ref{k.Local.Ref(""), k.Local.Ref("H005"), k.Local.Ref("H006")})
	if err != nil || len(unknown) != 3 {
		t.Errorf("rejected rows in the vault: %d unknown of 3 (err %v)", len(unknown), err)
	}
}

func kindsOf(r Record) []matchkey.Kind {
	var out []matchkey.Kind
	for _, t := range r.Tokens {
		out = append(out, t.Kind)
	}
	return out
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRunBatchSize(t *testing.T) {
	k := newKeys(t)
	var first []keys.Ref
	for _, size := range []int{1, 2, 3, 5, 100} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			sink := &fakeSink{}
			sum, _, err := runTestExtract(t, k, Config{BatchSize: size, Workers: 3}, sink)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			ids := map[string]bool{}
			for i, b := range sink.batches {
				if n := len(b.Records); n == 0 || n > size {
					t.Errorf("batch %d has %d records; BatchSize %d", i, n, size)
				}
				if ids[b.ID] || b.ID == "" {
					t.Errorf("batch %d: id %q empty or repeated", i, b.ID)
				}
				ids[b.ID] = true
				if i > 0 && b.ID <= sink.batches[i-1].ID {
					t.Errorf("batch ids out of order: %q after %q", b.ID, sink.batches[i-1].ID)
				}
				if b.ISAHash != k.Context.ISAHash || b.Epoch != k.Context.Epoch {
					t.Errorf("batch %d: agreement %x/%d, want %x/%d", i, b.ISAHash[:4], b.Epoch, k.Context.ISAHash[:4], k.Context.Epoch)
				}
				total += len(b.Records)
			}
			if total != sum.Accepted || total != len(acceptedRun) {
				t.Errorf("batches hold %d records; accepted %d", total, sum.Accepted)
			}
			if size == 1 && len(sink.batches) != len(acceptedRun) {
				t.Errorf("BatchSize 1 made %d batches for %d records", len(sink.batches), len(acceptedRun))
			}
			var refs []keys.Ref
			for _, r := range sink.records() {
				refs = append(refs, r.Ref)
			}
			if first == nil {
				first = refs
			} else if !slices.Equal(refs, first) {
				t.Error("records reach the sink in another order than with another batch size")
			}
		})
	}
}

func TestRunSinkFailure(t *testing.T) {
	k := newKeys(t)
	sink := &fakeSink{failOn: 2}
	_, _, err := runTestExtract(t, k, Config{BatchSize: 2, Workers: 2}, sink)
	if err == nil {
		t.Fatal("Run succeeded although the sink failed")
	}
	if !errors.Is(err, errSendFailed) {
		t.Errorf("error %v does not wrap the sink's error", err)
	}
	if len(sink.batches) != 2 {
		t.Fatalf("sink saw %d batches, want 2 (Run must stop at the failure)", len(sink.batches))
	}
	if id := sink.batches[1].ID; !strings.Contains(err.Error(), id) {
		t.Errorf("error %q does not name the failed batch %s", err, id)
	}
	if strings.Contains(err.Error(), sink.batches[0].ID) {
		t.Errorf("error %q names the batch that was sent", err)
	}
}

func TestRunAckShort(t *testing.T) {
	k := newKeys(t)
	sum, _, err := runTestExtract(t, k, Config{}, &fakeSink{ackShort: 1})
	if err == nil || !strings.Contains(err.Error(), "acknowledged 8 of 9") {
		t.Errorf("Run error = %v, want the shortfall reported", err)
	}
	if sum.Sent != len(acceptedRun)-1 || sum.Accepted != len(acceptedRun) {
		t.Errorf("summary %+v: want sent %d, accepted %d", sum, len(acceptedRun)-1, len(acceptedRun))
	}
}

func TestRunConfigErrors(t *testing.T) {
	k := newKeys(t)
	m := loadMapping(t, runMapping)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no mapping", Config{Extract: runExtract, Keys: k}, "no mapping"},
		{"no extract", Config{Mapping: m, Keys: k}, "no extract"},
		{"missing extract", Config{Mapping: m, Extract: filepath.Join(t.TempDir(), "nope.csv"), Keys: k}, "opening extract"},
		{"header lacks a column", Config{Mapping: m, Extract: writeFile(t, "x.csv", "CASE_ID,FORENAME\nA,B\n"), Keys: k}, "SURNAME"},
		{"empty file", Config{Mapping: m, Extract: writeFile(t, "x.csv", ""), Keys: k}, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeSink{}
			_, err := Run(context.Background(), tc.cfg, openVault(t), sink)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run error = %v, want one mentioning %q", err, tc.want)
			}
			if len(sink.batches) != 0 {
				t.Errorf("%d batches sent", len(sink.batches))
			}
		})
	}
}

func TestRunCanceled(t *testing.T) {
	k := newKeys(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Config{Mapping: loadMapping(t, runMapping), Extract: runExtract, Keys: k}, openVault(t), &fakeSink{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a canceled context: %v, want context.Canceled", err)
	}
}

// recordKey is a record's whole content, for comparing runs.
func recordKey(r Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%x", r.Ref)
	toks := make([]string, len(r.Tokens))
	for i, t := range r.Tokens {
		toks[i] = fmt.Sprintf("%s=%x", t.Kind, t.Value)
	}
	slices.Sort(toks)
	b.WriteString(" " + strings.Join(toks, ","))
	var inds []string
	for n, v := range r.Indicators {
		inds = append(inds, fmt.Sprintf("%s=%v", n, v))
	}
	slices.Sort(inds)
	b.WriteString(" " + strings.Join(inds, ","))
	return b.String()
}

func TestRunWorkersSameContent(t *testing.T) {
	dir := t.TempDir()
	d, err := synth.Generate(synth.Config{Seed: 5, Households: 300})
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
	k := newKeys(t)
	for _, agency := range synth.Agencies() {
		t.Run(agency, func(t *testing.T) {
			m := loadMapping(t, filepath.Join(dir, "mappings", agency+".yaml"))
			var runs [][]string
			var sums []Summary
			for _, workers := range []int{1, 4} {
				sink := &fakeSink{}
				sum, err := Run(context.Background(), Config{
					Mapping: m, Extract: filepath.Join(dir, agency+".csv"), AsOf: asof, Keys: k,
					BatchSize: 16, Workers: workers,
				}, openVault(t), sink)
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, r := range sink.records() {
					keys = append(keys, recordKey(r))
				}
				runs = append(runs, keys)
				sum.Elapsed = 0
				sums = append(sums, sum)
			}
			if len(runs[0]) < 20 {
				t.Fatalf("only %d records: the comparison would prove little", len(runs[0]))
			}
			if sums[0] != sums[1] {
				t.Errorf("summaries differ: %+v with 1 worker, %+v with 4", sums[0], sums[1])
			}
			if !reflect.DeepEqual(runs[0], runs[1]) {
				t.Errorf("1 and 4 workers sent different records (%d and %d)", len(runs[0]), len(runs[1]))
			}
		})
	}
}

// TestRunWarnings: values left out of accepted rows are listed with their
// line, field and reason.
func TestRunWarnings(t *testing.T) {
	warnings := filepath.Join(t.TempDir(), "warnings.csv")
	if _, _, err := runTestExtract(t, newKeys(t), Config{WarningsPath: warnings}, &fakeSink{}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(warnings)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"4", "dob"}, {"8", "nino"}}
	if len(rows) != len(want)+1 {
		t.Fatalf("warnings = %q, want %d rows", rows, len(want))
	}
	for i, w := range want {
		if r := rows[i+1]; r[1] != w[0] || r[2] != w[1] || r[5] == "" {
			t.Errorf("warning %d = %q, want line %s field %s with a reason", i, r, w[0], w[1])
		}
	}
}
