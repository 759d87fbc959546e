package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tfmatch/matchkey"
)

func tok(kind matchkey.Kind, label string) Token {
	h := sha256.Sum256([]byte(label))
	return Token{Kind: kind, Value: [TokenLen]byte(h[:TokenLen])}
}

func digest(t *testing.T, source string, recs []Record) [32]byte {
	t.Helper()
	d, err := Digest(source, recs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func refOf(label string) [16]byte {
	var r [16]byte
	h := sha256.Sum256([]byte("ref:" + label))
	copy(r[:], h[:])
	return r
}

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func records(t *testing.T, s *Store) []Record {
	t.Helper()
	var out []Record
	if err := s.ForEachRecord(context.Background(), func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutBatchIdempotent(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	recs := []Record{
		{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NameDOB, "a"), tok(matchkey.NINO, "n")}, Indicators: map[string]bool{"crime_asb": true}},
		{Source: "police", Ref: refOf("b"), Tokens: []Token{tok(matchkey.NameDOB, "b")}},
	}
	res, err := s.PutBatch(ctx, "police", "b1", recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Records != 2 || res.BatchID != "b1" || res.Digest != digest(t, "police", recs) {
		t.Errorf("first PutBatch = %+v", res)
	}
	again, err := s.PutBatch(ctx, "police", "b1", recs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Records != 2 || again.Digest != res.Digest {
		t.Errorf("repeated PutBatch = %+v, want the first result marked duplicate", again)
	}
	// The same batch id from another source is a different batch.
	other, err := s.PutBatch(ctx, "dwp", "b1", []Record{{Ref: refOf("a")}})
	if err != nil || other.Duplicate {
		t.Errorf("other source's batch: %+v, %v", other, err)
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{Epoch: 1, Records: 3, RecordsBySource: map[string]int{"police": 2, "dwp": 1},
		TokensByKind: map[matchkey.Kind]int{matchkey.NameDOB: 2, matchkey.NINO: 1}, Batches: 2}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Counts = %+v, want %+v", c, want)
	}
}

func TestDigestOrderPreserving(t *testing.T) {
	a := Record{Source: "s", Ref: refOf("a")}
	b := Record{Source: "s", Ref: refOf("b")}
	if digest(t, "s", []Record{a, b}) == digest(t, "s", []Record{b, a}) {
		t.Error("digest ignores record order")
	}
	// Token order within a record does not matter (canonical encoding).
	x := Record{Source: "s", Ref: refOf("x"), Tokens: []Token{tok(matchkey.NameDOB, "1"), tok(matchkey.NINO, "2")}}
	y := Record{Source: "s", Ref: refOf("x"), Tokens: []Token{tok(matchkey.NINO, "2"), tok(matchkey.NameDOB, "1")}}
	if digest(t, "s", []Record{x}) != digest(t, "s", []Record{y}) {
		t.Error("digest depends on token order")
	}
	// The digest is of the stored encodings, each prefixed by its length.
	h := sha256.New()
	for _, r := range []Record{x, y} {
		enc, err := EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(binary.AppendUvarint(nil, uint64(len(enc))))
		h.Write(enc)
	}
	if got := digest(t, "s", []Record{x, y}); !bytes.Equal(got[:], h.Sum(nil)) {
		t.Error("digest is not SHA-256 over the length-prefixed stored encodings")
	}
}

// TestPutBatchConcurrent writes batches of several sizes from four
// sources at once, so that each batch's working memory is one an earlier
// batch (of another size, another source) used, and checks that every
// record reads back as written and every receipt's digest is the
// batch's.
func TestPutBatchConcurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	sources := []string{"police", "education", "dwp", "a-much-longer-source-name"}
	sizes := []int{300, 1, 57, 300, 2, 120}
	want := map[string]Record{}
	errs := make(chan error, len(sources))
	batches := make([][][]Record, len(sources))
	for i, src := range sources {
		for b, n := range sizes {
			var recs []Record
			for j := range n {
				label := fmt.Sprintf("%s/%d/%d", src, b, j)
				r := Record{Source: src, Ref: refOf(label), Tokens: []Token{tok(matchkey.NameDOB, label), tok(matchkey.AddressLine, label[:len(label)/2])}}
				if j%3 == 0 {
					r.Indicators = map[string]bool{"work": j%2 == 0}
				}
				if j%4 == 0 {
					f := sha256.Sum256([]byte(label))
					r.Filter = bytes.Repeat(f[:], FilterLen/len(f))
				}
				recs = append(recs, r)
				r.Tokens = canonicalTokens(r.Tokens)
				want[src+"/"+string(r.Ref[:])] = r
			}
			batches[i] = append(batches[i], recs)
		}
	}
	for i, src := range sources {
		go func() {
			for b, recs := range batches[i] {
				res, err := s.PutBatch(ctx, src, fmt.Sprint(b), recs)
				if err != nil {
					errs <- err
					return
				}
				if d, _ := Digest(src, recs); res.Digest != d || res.Records != len(recs) {
					errs <- fmt.Errorf("%s batch %d: receipt %d records, digest %x; want %d, %x", src, b, res.Records, res.Digest, len(recs), d)
					return
				}
			}
			errs <- nil
		}()
	}
	for range sources {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := records(t, s)
	if len(got) != len(want) {
		t.Fatalf("read back %d records, want %d", len(got), len(want))
	}
	for _, r := range got {
		w, ok := want[r.Source+"/"+string(r.Ref[:])]
		r.Expires = time.Time{}
		if !ok || !reflect.DeepEqual(r, w) {
			t.Fatalf("record %s %x reads back as %+v, want %+v", r.Source, r.Ref, r, w)
		}
	}
}

func TestRecordKeyLen(t *testing.T) {
	for _, src := range []string{"a", "police", strings.Repeat("s", 127), strings.Repeat("s", 128), strings.Repeat("s", MaxSourceLen)} {
		if got, want := recordKeyLen(src), len(appendRecordKey(nil, 7, src, refOf(src))); got != want {
			t.Errorf("recordKeyLen(%d-byte source) = %d, want %d", len(src), got, want)
		}
	}
}

func TestReplacementReplacesRecord(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	old := Record{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NameDOB, "old"), tok(matchkey.AddressLine, "kept")}, Indicators: map[string]bool{"work": true}}
	if _, err := s.PutBatch(ctx, "dwp", "1", []Record{old}); err != nil {
		t.Fatal(err)
	}
	neu := Record{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NameDOB, "new"), tok(matchkey.AddressLine, "kept")}, Indicators: map[string]bool{"work": false}}
	if _, err := s.PutBatch(ctx, "dwp", "2", []Record{neu}); err != nil {
		t.Fatal(err)
	}
	got := records(t, s)
	neu.Source = "dwp"
	neu.Tokens = canonicalTokens(neu.Tokens)
	if !reflect.DeepEqual(got, []Record{neu}) {
		t.Errorf("records = %+v, want only the replacement", got)
	}
	c, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 1 || c.TokensByKind[matchkey.NameDOB] != 1 || c.TokensByKind[matchkey.AddressLine] != 1 {
		t.Errorf("counts = %+v, want one record with one name_dob and one address token", c)
	}
}

func TestAtomicRejection(t *testing.T) {
	ctx := context.Background()
	good := Record{Ref: refOf("g"), Tokens: []Token{tok(matchkey.NameDOB, "g")}}
	tests := []struct {
		name string
		src  string
		id   string
		recs []Record
	}{
		{"unknown kind", "police", "x", []Record{good, {Ref: refOf("b"), Tokens: []Token{{Kind: "shoe_size"}}}}},
		{"other source", "police", "x", []Record{good, {Source: "dwp", Ref: refOf("b")}}},
		{"repeated ref", "police", "x", []Record{good, good}},
		{"bad indicator", "police", "x", []Record{good, {Ref: refOf("b"), Indicators: map[string]bool{"crime asb": true}}}},
		{"empty source", "", "x", []Record{good}},
		{"empty batch id", "police", "", []Record{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			defer s.Close()
			if _, err := s.PutBatch(ctx, tt.src, tt.id, tt.recs); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PutBatch error = %v, want ErrInvalid", err)
			}
			n := 0
			s.Scan(func(k, v []byte) error {
				if !bytes.Equal(k, keySchema) {
					n++
				}
				return nil
			})
			if n != 0 {
				t.Errorf("%d keys written by a rejected batch", n)
			}
			// The batch id is still free.
			if res, err := s.PutBatch(ctx, "police", "x", []Record{good}); err != nil || res.Duplicate {
				t.Errorf("retry after rejection: %+v, %v", res, err)
			}
		})
	}
}

func TestBatchTooLarge(t *testing.T) {
	s, err := Open("", Options{InMemory: true, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []Record
	for i := range 3000 {
		recs = append(recs, Record{Ref: refOf(fmt.Sprint(i)), Tokens: []Token{tok(matchkey.NameDOB, fmt.Sprint(i)), tok(matchkey.PhoneticDOB, fmt.Sprint(i))}})
	}
	if _, err := s.PutBatch(context.Background(), "school", "big", recs); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("error = %v, want ErrBatchTooLarge", err)
	}
	if got := records(t, s); len(got) != 0 {
		t.Errorf("%d records stored by a failed batch", len(got))
	}
}

func TestReopenAndRuns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.LatestRun(ctx); !errors.Is(err, ErrNoRun) {
		t.Errorf("LatestRun on empty store: %v, want ErrNoRun", err)
	}
	rec := Record{Ref: refOf("a"), Tokens: []Token{tok(matchkey.UPN, "u")}, Indicators: map[string]bool{"education": true}}
	if _, err := s.PutBatch(ctx, "school", "1", []Record{rec}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	run1 := Run{ID: "R-1", Epoch: 1, Expires: time.Now().Add(time.Hour).Truncate(time.Second).UTC(), Started: t0, Finished: t0.Add(time.Second), RuleSetVersion: "v", Records: 1, Persons: 1, Households: 1,
		Flagged:     []FlaggedHousehold{{ID: "H-1", Rule: "r", Criteria: map[string]bool{"a": true, "b": false}, Members: map[string][][16]byte{"school": {refOf("a")}}}},
		Review:      []ReviewItem{{Kind: matchkey.AddressLine, Reason: "hostel", Records: 20, Persons: 19}},
		LinksByKind: map[matchkey.Kind]int{matchkey.NameDOB: 3}, Blocked: map[string]int{"identifier": 1}}
	run2 := Run{ID: "R-2", Started: t0.Add(time.Hour), Finished: t0.Add(time.Hour), RuleSetVersion: "v"}
	for _, r := range []Run{run1, run2} {
		if err := s.PutRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRun(ctx, run1); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutRun with a used id: %v, want ErrInvalid", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer s.Close()
	got := records(t, s)
	rec.Source = "school"
	if !reflect.DeepEqual(got, []Record{rec}) {
		t.Errorf("after reopen records = %+v", got)
	}
	if res, err := s.PutBatch(ctx, "school", "1", nil); err != nil || !res.Duplicate {
		t.Errorf("after reopen the batch is not remembered: %+v, %v", res, err)
	}
	latest, err := s.LatestRun(ctx)
	if err != nil || latest.ID != "R-2" {
		t.Errorf("LatestRun = %+v, %v; want R-2", latest, err)
	}
	r1, err := s.Run(ctx, "R-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r1, run1) {
		t.Errorf("Run(R-1) =\n%+v\nwant\n%+v", r1, run1)
	}
	if _, err := s.Run(ctx, "R-9"); !errors.Is(err, ErrNoRun) {
		t.Errorf("Run(R-9): %v, want ErrNoRun", err)
	}
}

// TestScanSeesEverything checks that Scan reports every key kind and that
// the store holds nothing but what was given: no value anywhere contains
// bytes that were not in a record.
func TestScanSeesEverything(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	rec := Record{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NameDOB, "secret-name")}, Indicators: map[string]bool{"work": true}}
	if _, err := s.PutBatch(ctx, "dwp", "1", []Record{rec}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRun(ctx, Run{ID: "R"}); err != nil {
		t.Fatal(err)
	}
	prefixes := map[byte]int{}
	var sawToken bool
	err := s.Scan(func(k, v []byte) error {
		prefixes[k[0]]++
		if bytes.Contains(k, rec.Tokens[0].Value[:]) || bytes.Contains(v, rec.Tokens[0].Value[:]) {
			sawToken = true
		}
		if bytes.Contains(k, []byte("secret-name")) || bytes.Contains(v, []byte("secret-name")) {
			t.Error("the token's preimage is stored")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range prefixes {
		got = append(got, string(p))
	}
	sort.Strings(got)
	if want := []string{"b", "l", "m", "r", "u"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Scan saw prefixes %v, want %v", got, want)
	}
	if !sawToken {
		t.Error("Scan did not surface the stored token")
	}
}

func TestRetention(t *testing.T) {
	s, err := Open("", Options{InMemory: true, Retention: time.Hour, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutBatch(context.Background(), "police", "1", []Record{{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NameDOB, "a")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBatchLogIndex(context.Background(), "police", "1", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRun(context.Background(), Run{ID: "R"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	s.Scan(func(k, v []byte) error {
		if !bytes.Equal(k, keySchema) {
			n++
		}
		return nil
	})
	if n != 5 {
		t.Fatalf("%d keys, want 5 (record, receipt, audit index, run, latest-run pointer)", n)
	}
	// Every submitted key carries an expiry within the retention period.
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if bytes.Equal(item.Key(), keySchema) {
				continue
			}
			exp := time.Unix(int64(item.ExpiresAt()), 0)
			if item.ExpiresAt() == 0 || time.Until(exp) > time.Hour+time.Minute {
				t.Errorf("key %q expires at %v", item.Key()[:1], exp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatchLogIndex(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	if err := s.SetBatchLogIndex(ctx, "police", "b1", 41); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBatchLogIndex(ctx, "police", "b10", 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		source, batch string
		want          uint64
		ok            bool
	}{
		{"police", "b1", 41, true},
		{"police", "b10", 0, true},
		{"police", "b", 0, false},
		{"council", "b1", 0, false},
		{"polic", "eb1", 0, false},
	}
	for _, tt := range tests {
		got, ok, err := s.BatchLogIndex(ctx, tt.source, tt.batch)
		if err != nil || got != tt.want || ok != tt.ok {
			t.Errorf("BatchLogIndex(%s, %s) = %d, %v, %v; want %d, %v", tt.source, tt.batch, got, ok, err, tt.want, tt.ok)
		}
	}
}
