package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func exportEvidence(t *testing.T, l *Log) Evidence {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "export")
	if err := l.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	ev, err := LoadExport(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// fixtureEntry returns entry i of the tamper fixture: every third one a
// batch (which gets a receipt), the others queries.
func fixtureEntry(i int) Entry {
	if i%3 == 0 {
		return event(i)
	}
	e := sampleEntries()[2].entry // a query
	e.Time = t0.Add(time.Duration(i) * time.Minute)
	e.RecordCount = uint64(i)
	return e
}

type fixture struct {
	key      SigningKey
	v        note.Verifier
	ev       Evidence
	receipts []Receipt
	// receiptOf maps an entry index to the position of its receipt.
	receiptOf map[int]int
}

const fixtureSize = 20

// buildLog appends the fixture's entries, skipping those in skip, and
// returns the receipts of the batches.
func buildLog(t *testing.T, k SigningKey, skip map[int]bool) (*Log, []Receipt, map[int]int) {
	t.Helper()
	l := openLog(t, "", testConfig(t, k, 4))
	var receipts []Receipt
	receiptOf := map[int]int{}
	for i := range fixtureSize {
		if skip[i] {
			continue
		}
		e := fixtureEntry(i)
		if e.Kind == KindSubmission {
			r, err := l.AppendWithReceipt(context.Background(), e)
			if err != nil {
				t.Fatal(err)
			}
			receiptOf[i] = len(receipts)
			receipts = append(receipts, r)
			continue
		}
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return l, receipts, receiptOf
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	k := testKey(t, "audit.test")
	l, receipts, receiptOf := buildLog(t, k, nil)
	v, err := NewVerifier(k.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return fixture{key: k, v: v, ev: exportEvidence(t, l), receipts: receipts, receiptOf: receiptOf}
}

// cpIndex returns the position of the checkpoint of the given size.
func (f fixture) cpIndex(t *testing.T, size uint64) int {
	t.Helper()
	for i, signed := range f.ev.Checkpoints {
		if c, _ := ParseCheckpoint(checkpointText(signed)); c.Size == size {
			return i
		}
	}
	t.Fatalf("no checkpoint of size %d", size)
	return -1
}

func (f fixture) cp(t *testing.T, i int) Checkpoint {
	t.Helper()
	c, err := OpenCheckpoint(f.ev.Checkpoints[i], f.v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func signWith(t *testing.T, k SigningKey, c Checkpoint) []byte {
	t.Helper()
	s, err := k.Signer()
	if err != nil {
		t.Fatal(err)
	}
	b, err := signCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// want describes a problem that must be reported.
type want struct {
	code       ProblemCode
	entry      int64 // an entry index the problem's range must contain; -1 for any
	checkpoint int   // -1 for any
	receipt    int   // -1 for any
	detail     string
}

func (w want) match(p Problem) bool {
	if p.Code != w.code {
		return false
	}
	if w.entry >= 0 && (p.Entry > w.entry || p.EntryEnd <= w.entry) {
		return false
	}
	if w.checkpoint >= 0 && p.Checkpoint != w.checkpoint {
		return false
	}
	if w.receipt >= 0 && p.Receipt != w.receipt {
		return false
	}
	return strings.Contains(p.Detail, w.detail)
}

func TestVerifyClean(t *testing.T) {
	f := newFixture(t)
	if len(f.ev.Entries) != fixtureSize || len(f.receipts) != 7 {
		t.Fatalf("fixture: %d entries, %d receipts", len(f.ev.Entries), len(f.receipts))
	}
	if ps := Verify(f.ev.Entries, f.ev.Checkpoints, f.receipts, f.v); ps != nil {
		t.Fatalf("problems in an untouched log: %v", ps)
	}
}

// TestTamper makes each kind of tampering the design must detect and
// checks that Verify reports it precisely.
func TestTamper(t *testing.T) {
	base := newFixture(t)
	other := testKey(t, "audit.test") // same name, different key
	modified := func(i int) []byte {
		e := fixtureEntry(i)
		e.RecordCount += 1000
		return mustEncode(t, e)
	}

	tests := []struct {
		name string
		// tamper changes the evidence and receipts.
		tamper func(t *testing.T, f *fixture)
		want   []want
		// only, when set, says these codes are the only ones allowed.
		only []ProblemCode
	}{
		{
			name:   "modify an entry",
			tamper: func(t *testing.T, f *fixture) { f.ev.Entries[10] = modified(10) },
			want: []want{
				{ProblemInconsistent, 10, -1, -1, "do not hash to the root"},
				// Receipts issued after entry 10 was logged see it too.
				{ProblemReceiptRoot, 10, -1, base.receiptOf[12], "rewritten"},
			},
			only: []ProblemCode{ProblemInconsistent, ProblemReceiptRoot},
		},
		{
			name:   "modify a receipted entry",
			tamper: func(t *testing.T, f *fixture) { f.ev.Entries[9] = modified(9) },
			want: []want{
				{ProblemInconsistent, 9, -1, -1, ""},
				{ProblemReceiptDiffers, 9, -1, base.receiptOf[9], "nowhere in the log"},
			},
		},
		{
			name:   "corrupt an entry's bytes",
			tamper: func(t *testing.T, f *fixture) { f.ev.Entries[5] = []byte{1, 2, 3} },
			want: []want{
				{ProblemEntryMalformed, 5, -1, -1, "truncated"},
				{ProblemInconsistent, 5, -1, -1, ""},
			},
		},
		{
			name:   "drop an entry",
			tamper: func(t *testing.T, f *fixture) { f.ev.Entries = slices.Delete(f.ev.Entries, 10, 11) },
			want: []want{
				{ProblemInconsistent, 10, -1, -1, ""},
				{ProblemTruncated, 19, -1, -1, "entries from 19 on are missing"},
			},
		},
		{
			name: "reorder two entries",
			tamper: func(t *testing.T, f *fixture) {
				f.ev.Entries[10], f.ev.Entries[11] = f.ev.Entries[11], f.ev.Entries[10]
			},
			want: []want{{ProblemInconsistent, 10, -1, -1, ""}, {ProblemInconsistent, 11, -1, -1, ""}},
			only: []ProblemCode{ProblemInconsistent, ProblemReceiptRoot},
		},
		{
			name:   "truncate the log",
			tamper: func(t *testing.T, f *fixture) { f.ev.Entries = f.ev.Entries[:14] },
			want: []want{
				{ProblemTruncated, 14, -1, -1, "holds 14"},
				{ProblemReceiptMissing, 15, -1, base.receiptOf[15], ""},
				{ProblemReceiptMissing, 18, -1, base.receiptOf[18], ""},
			},
		},
		{
			name: "truncate the log and its checkpoints",
			tamper: func(t *testing.T, f *fixture) {
				f.ev.Entries = f.ev.Entries[:14]
				f.ev.Checkpoints = slices.DeleteFunc(f.ev.Checkpoints, func(b []byte) bool {
					c, _ := ParseCheckpoint(checkpointText(b))
					return c.Size > 14
				})
			},
			want: []want{
				{ProblemReceiptMissing, 15, -1, base.receiptOf[15], "not in the log"},
				{ProblemReceiptMissing, 18, -1, base.receiptOf[18], "not in the log"},
				// The last remaining checkpoint is at 13.
				{ProblemUncovered, 13, -1, -1, ""},
			},
			only: []ProblemCode{ProblemReceiptMissing, ProblemUncovered},
		},
		{
			name: "forge a checkpoint signed by another key",
			tamper: func(t *testing.T, f *fixture) {
				i := f.cpIndex(t, 10)
				f.ev.Checkpoints[i] = signWith(t, other, f.cp(t, i))
			},
			want: []want{{ProblemCheckpointSignature, -1, base.cpIndex(t, 10), -1, "not signed by key audit.test"}},
			only: []ProblemCode{ProblemCheckpointSignature},
		},
		{
			name: "forge a checkpoint with a broken signature",
			tamper: func(t *testing.T, f *fixture) {
				i := f.cpIndex(t, 10)
				b := bytes.Clone(f.ev.Checkpoints[i])
				b = bytes.Replace(b, []byte("\n10\n"), []byte("\n11\n"), 1)
				f.ev.Checkpoints[i] = b
			},
			want: []want{{ProblemCheckpointSignature, -1, base.cpIndex(t, 10), -1, "invalid"}},
			only: []ProblemCode{ProblemCheckpointSignature},
		},
		{
			name: "forge a checkpoint: valid signature over a wrong root",
			tamper: func(t *testing.T, f *fixture) {
				i := f.cpIndex(t, 10)
				c := f.cp(t, i)
				c.Root = bytes.Clone(c.Root)
				c.Root[0] ^= 1
				f.ev.Checkpoints[i] = signWith(t, f.key, c)
			},
			want: []want{{ProblemInconsistent, 9, base.cpIndex(t, 10), -1, "for 10 entries"}},
			only: []ProblemCode{ProblemInconsistent},
		},
		{
			name: "forge a checkpoint: valid signature over a larger size",
			tamper: func(t *testing.T, f *fixture) {
				c := f.cp(t, len(f.ev.Checkpoints)-1)
				c.Size += 5
				f.ev.Checkpoints = append(f.ev.Checkpoints, signWith(t, f.key, c))
			},
			want: []want{{ProblemTruncated, 20, len(base.ev.Checkpoints), -1, "covers 25 entries"}},
			only: []ProblemCode{ProblemTruncated},
		},
		{
			name: "reorder two checkpoints",
			tamper: func(t *testing.T, f *fixture) {
				f.ev.Checkpoints[3], f.ev.Checkpoints[4] = f.ev.Checkpoints[4], f.ev.Checkpoints[3]
			},
			want: []want{{ProblemCheckpointOrder, -1, 4, -1, "fewer than"}},
			only: []ProblemCode{ProblemCheckpointOrder},
		},
		{
			name: "drop an entry an agency holds a receipt for, re-signing every checkpoint",
			tamper: func(t *testing.T, f *fixture) {
				l, _, _ := buildLog(t, f.key, map[int]bool{9: true})
				f.ev = exportEvidence(t, l)
			},
			want: []want{
				{ProblemReceiptDiffers, 9, -1, base.receiptOf[9], "nowhere in the log"},
				{ProblemReceiptRoot, 9, -1, base.receiptOf[9], "rewritten"},
				{ProblemReceiptDiffers, 12, -1, base.receiptOf[12], "at entry 11 instead"},
			},
			only: []ProblemCode{ProblemReceiptDiffers, ProblemReceiptRoot, ProblemReceiptMissing},
		},
		{
			name: "add an entry after the last checkpoint",
			tamper: func(t *testing.T, f *fixture) {
				f.ev.Entries = append(f.ev.Entries, mustEncode(t, fixtureEntry(20)))
			},
			want: []want{{ProblemUncovered, 20, -1, -1, ""}},
			only: []ProblemCode{ProblemUncovered},
		},
		{
			name: "alter the entry in a receipt",
			tamper: func(t *testing.T, f *fixture) {
				f.receipts[2].Entry = modified(6)
			},
			want: []want{{ProblemReceiptInvalid, 6, -1, 2, "not proved"}},
			only: []ProblemCode{ProblemReceiptInvalid},
		},
		{
			name: "a receipt signed by another key",
			tamper: func(t *testing.T, f *fixture) {
				c, _ := ParseCheckpoint(checkpointText(f.receipts[1].Checkpoint))
				f.receipts[1].Checkpoint = signWith(t, other, c)
			},
			want: []want{{ProblemReceiptInvalid, 3, -1, 1, "not signed"}},
			only: []ProblemCode{ProblemReceiptInvalid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			f.ev.Entries = slices.Clone(base.ev.Entries)
			f.ev.Checkpoints = slices.Clone(base.ev.Checkpoints)
			f.receipts = slices.Clone(base.receipts)
			tt.tamper(t, &f)
			ps := Verify(f.ev.Entries, f.ev.Checkpoints, f.receipts, f.v)
			if len(ps) == 0 {
				t.Fatal("tampering not detected")
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(ps, w.match) {
					t.Errorf("missing problem %+v", w)
				}
			}
			if tt.only != nil {
				for _, p := range ps {
					if !slices.Contains(tt.only, p.Code) {
						t.Errorf("unexpected problem: %v", p)
					}
				}
			}
			if t.Failed() {
				for _, p := range ps {
					t.Log(p)
				}
			}
		})
	}
}

// TestInconsistentRangeIsNarrow: with a checkpoint every 4 entries, a
// modified entry is pinned to the 4 entries after the last good
// checkpoint.
func TestInconsistentRangeIsNarrow(t *testing.T) {
	f := newFixture(t)
	f.ev.Entries = slices.Clone(f.ev.Entries)
	f.ev.Entries[17] = mustEncode(t, event(99))
	ps := Verify(f.ev.Entries, f.ev.Checkpoints, nil, f.v)
	if len(ps) == 0 {
		t.Fatal("not detected")
	}
	p := ps[0] // later checkpoints fail too, with wider ranges
	if p.Entry > 17 || p.EntryEnd <= 17 || p.EntryEnd-p.Entry > 4 {
		t.Errorf("range %d-%d, want a range of at most 4 containing 17", p.Entry, p.EntryEnd-1)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{newProblem(ProblemUncovered, "x").entries(3, 5), "uncovered: entries 3-4: x"},
		{func() Problem { p := newProblem(ProblemReceiptDiffers, "y").entries(7, 8); p.Receipt = 2; return p }(),
			"receipt-entry-differs: receipt 2, entry 7: y"},
		{func() Problem { p := newProblem(ProblemCheckpointSignature, "z"); p.Checkpoint = 0; return p }(),
			"checkpoint-signature: checkpoint 0: z"},
		{newProblem(ProblemTruncated, "w"), "truncated: w"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestExportRoundTrip(t *testing.T) {
	k := testKey(t, "audit.test")
	l, receipts, _ := buildLog(t, k, nil)
	dir := filepath.Join(t.TempDir(), "export")
	if err := l.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if err := l.Export(context.Background(), dir); err == nil {
		t.Error("Export into a non-empty directory succeeded")
	}
	ev, err := LoadExport(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := l.Entries(context.Background(), 0, l.Size())
	cps, _ := l.Checkpoints(context.Background())
	if !slices.EqualFunc(ev.Entries, entries, bytes.Equal) || !slices.EqualFunc(ev.Checkpoints, cps, bytes.Equal) {
		t.Fatal("export differs from the log")
	}
	if ev.VerifierKey != k.VerifierKey() {
		t.Errorf("verifier key %q", ev.VerifierKey)
	}

	rdir := t.TempDir()
	for i, r := range receipts {
		if err := WriteReceipt(filepath.Join(rdir, fmt.Sprintf("batch-%02d.json", i)), r); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := VerifyDir(dir, rdir, k.VerifierKey())
	if err != nil || len(ps) != 0 {
		t.Fatalf("VerifyDir = %v, %v", ps, err)
	}

	// Tamper with the files: change one entry line.
	path := filepath.Join(dir, exportEntries)
	lines := strings.Split(string(must(os.ReadFile(path))), "\n")
	lines[3], lines[4] = lines[4], lines[3]
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err = VerifyDir(dir, rdir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ps, want{ProblemReceiptDiffers, 3, -1, 1, "at entry 4 instead"}.match) {
		t.Errorf("swapped lines: %v", ps)
	}
	for _, p := range ps {
		if p.Receipt >= 0 && !strings.HasPrefix(p.Detail, "batch-") {
			t.Errorf("receipt problem does not name its file: %v", p)
		}
	}

	// Not an export.
	if _, err := LoadExport(t.TempDir()); err == nil {
		t.Error("LoadExport of an empty directory succeeded")
	}
	if err := os.WriteFile(path, []byte("!!!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExport(dir); err == nil || !strings.Contains(err.Error(), "line 1 (entry 0)") {
		t.Errorf("LoadExport of a bad line = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestVerifyExport(t *testing.T) {
	k := testKey(t, "audit.test")
	l, receipts, _ := buildLog(t, k, nil)
	dir := filepath.Join(t.TempDir(), "export")
	if err := l.Export(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	// Receipts split over two agencies' directories.
	rdirs := []string{t.TempDir(), t.TempDir()}
	for i, r := range receipts {
		if err := WriteReceipt(filepath.Join(rdirs[i%2], fmt.Sprintf("batch-%02d.json", i)), r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := VerifyExport(dir, rdirs, k.VerifierKey())
	if err != nil || res.Problems != nil {
		t.Fatalf("VerifyExport = %+v, %v", res, err)
	}
	cps, _ := l.Checkpoints(context.Background())
	if res.Entries != int(l.Size()) || res.Checkpoints != len(cps) || res.Receipts != len(receipts) {
		t.Errorf("checked %+v; want %d entries, %d checkpoints, %d receipts", res, l.Size(), len(cps), len(receipts))
	}
	// Another key: every checkpoint and receipt fails.
	other := testKey(t, "audit.test")
	res, err = VerifyExport(dir, rdirs, other.VerifierKey())
	if err != nil || len(res.Problems) < len(receipts) {
		t.Fatalf("with another key: %+v, %v", res, err)
	}
	for _, p := range res.Problems {
		if p.Receipt >= 0 && !strings.HasPrefix(p.Detail, rdirs[0]) && !strings.HasPrefix(p.Detail, rdirs[1]) {
			t.Errorf("receipt problem does not name its directory and file: %v", p)
		}
	}
	if _, err := VerifyExport(dir, []string{filepath.Join(t.TempDir(), "missing")}, ""); err == nil {
		t.Error("a missing receipts directory was not an error")
	}
}
