package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tfmatch/matchkey"
)

func openEpoch(t *testing.T, dir string, epoch uint32) *Store {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true, MemTableSize: 4 << 20, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEpochsNeverMeet: a store opened for epoch 2 over epoch-1 data sees
// none of it (records, receipts, runs), and epoch 1 sees none of epoch 2's.
func TestEpochsNeverMeet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	same := Record{Ref: refOf("a"), Tokens: []Token{tok(matchkey.NINO, "same token in both epochs")}}
	s := openEpoch(t, dir, 1)
	if _, err := s.PutBatch(ctx, "police", "b1", []Record{same, {Ref: refOf("b"), Tokens: []Token{tok(matchkey.NINO, "b")}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBatchLogIndex(ctx, "police", "b1", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRun(ctx, Run{ID: "R-1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openEpoch(t, dir, 2)
	if got := records(t, s); len(got) != 0 {
		t.Errorf("epoch 2 sees %d records of epoch 1", len(got))
	}
	if _, err := s.LatestRun(ctx); !errors.Is(err, ErrNoRun) {
		t.Errorf("epoch 2 LatestRun: %v, want ErrNoRun", err)
	}
	if _, err := s.Run(ctx, "R-1"); !errors.Is(err, ErrNoRun) {
		t.Errorf("epoch 2 Run(R-1): %v, want ErrNoRun", err)
	}
	if _, ok, err := s.BatchLogIndex(ctx, "police", "b1"); ok || err != nil {
		t.Errorf("epoch 2 BatchLogIndex: %v, %v; want none", ok, err)
	}
	// The same batch id is a new batch in the new epoch.
	res, err := s.PutBatch(ctx, "police", "b1", []Record{same})
	if err != nil || res.Duplicate {
		t.Fatalf("epoch 2 batch b1: %+v, %v", res, err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Epoch != 2 || c.Records != 1 || c.Batches != 1 || c.Runs != 0 {
		t.Errorf("epoch 2 Counts = %+v, %v", c, err)
	}
	eps, err := s.Epochs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Counts{
		{Epoch: 1, Records: 2, RecordsBySource: map[string]int{"police": 2}, TokensByKind: map[matchkey.Kind]int{}, Batches: 1, Runs: 1},
		{Epoch: 2, Records: 1, RecordsBySource: map[string]int{"police": 1}, TokensByKind: map[matchkey.Kind]int{matchkey.NINO: 1}, Batches: 1},
	}
	if !reflect.DeepEqual(eps, want) {
		t.Errorf("Epochs =\n%+v\nwant\n%+v", eps, want)
	}
	s.Close()

	s = openEpoch(t, dir, 1)
	defer s.Close()
	if got := records(t, s); len(got) != 2 {
		t.Errorf("epoch 1 sees %d records, want its own 2", len(got))
	}
}

func TestPurgeEpoch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openEpoch(t, dir, 1)
	for i, src := range []string{"police", "dwp", "police"} {
		if _, err := s.PutBatch(ctx, src, "b"+string(rune('0'+i)), []Record{{Ref: refOf(src + string(rune('0'+i))), Tokens: []Token{tok(matchkey.NINO, src)}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetBatchLogIndex(ctx, src, "b"+string(rune('0'+i)), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRun(ctx, Run{ID: "R-1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openEpoch(t, dir, 2)
	defer s.Close()
	if _, err := s.PutBatch(ctx, "police", "new", []Record{{Ref: refOf("n"), Tokens: []Token{tok(matchkey.NINO, "n")}}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		epoch uint32
		want  error
		got   Counts
	}{
		{"zero", 0, ErrInvalid, Counts{}},
		{"in force", 2, ErrEpochInForce, Counts{}},
		{"never held", 7, ErrNoEpoch, Counts{}},
		{"old epoch", 1, nil, Counts{Epoch: 1, Records: 3, RecordsBySource: map[string]int{"police": 2, "dwp": 1}, TokensByKind: map[matchkey.Kind]int{}, Batches: 3, Runs: 1}},
		{"old epoch again", 1, ErrNoEpoch, Counts{}},
	}
	for _, tt := range tests {
		got, err := s.PurgeEpoch(ctx, tt.epoch)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: PurgeEpoch(%d) error %v, want %v", tt.name, tt.epoch, err, tt.want)
		}
		if !reflect.DeepEqual(got, tt.got) {
			t.Errorf("%s: PurgeEpoch(%d) = %+v, want %+v", tt.name, tt.epoch, got, tt.got)
		}
	}
	// Nothing of epoch 1 is left, in any table, in any version; epoch 2
	// is untouched.
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if k[0] == prefixMeta {
				continue
			}
			if e, _ := keyEpochOf(k); e != 2 {
				t.Errorf("key %q of epoch %d left after the purge", k[:1], e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx); err != nil || c.Records != 1 || c.Batches != 1 {
		t.Errorf("epoch 2 after the purge: %+v, %v", c, err)
	}
	if eps, err := s.Epochs(ctx); err != nil || len(eps) != 1 || eps[0].Epoch != 2 {
		t.Errorf("Epochs after the purge = %+v, %v", eps, err)
	}
}

func TestInForceMark(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openEpoch(t, dir, 3)
	if _, ok, err := s.InForce(ctx); ok || err != nil {
		t.Fatalf("new store has a mark: %v, %v", ok, err)
	}
	h := [32]byte{1, 2, 3}
	if err := s.MarkInForce(ctx, h); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openEpoch(t, dir, 4)
	defer s.Close()
	m, ok, err := s.InForce(ctx)
	if err != nil || !ok || m != (EpochMark{Epoch: 3, ISAHash: h}) {
		t.Errorf("InForce = %+v, %v, %v; want epoch 3 and the hash", m, ok, err)
	}
}

// TestSchemaV1Refused: a directory written by the schema without epochs
// is refused with an error that tells the operator what to do.
func TestSchemaV1Refused(t *testing.T) {
	for _, tt := range []struct {
		name    string
		version []byte
		say     string
	}{
		{"version 1", []byte{1}, "have every agency resubmit"},
		{"from the future", []byte{9}, "use a matcher build that reads it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(txn *badger.Txn) error { return txn.Set(keySchema, tt.version) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = Open(dir, Options{})
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("Open = %v, want ErrSchema saying %q", err, tt.say)
			}
		})
	}
}

// TestSweep checks what a sweep deletes, by passing it a time after the
// expiries (badger's own clock is not involved): everything past its TTL,
// and a run whose input records expired even when the run's own TTL has
// not.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	later := time.Now().Add(2 * time.Hour)
	tests := []struct {
		name      string
		retention time.Duration
		runExpiry time.Time
		now       time.Time
		want      Swept
	}{
		{"nothing expired", time.Hour, time.Time{}, time.Now(), Swept{RecordsBySource: map[string]int{}}},
		{"everything expired", time.Hour, time.Time{}, later, Swept{Records: 2, RecordsBySource: map[string]int{"police": 1, "dwp": 1}, Batches: 2, Runs: 1}},
		{"no retention", 0, time.Time{}, later, Swept{RecordsBySource: map[string]int{}}},
		{"run outlives its inputs", 0, time.Now().Add(time.Hour), later, Swept{RecordsBySource: map[string]int{}, Runs: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{NoSync: true, MemTableSize: 4 << 20, Retention: tt.retention})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, src := range []string{"police", "dwp"} {
				if _, err := s.PutBatch(ctx, src, "b", []Record{{Ref: refOf(src), Tokens: []Token{tok(matchkey.NINO, src)}}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.PutRun(ctx, Run{ID: "R", Expires: tt.runExpiry}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Sweep(ctx, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Sweep = %+v, want %+v", got, tt.want)
			}
			if tt.want.Runs > 0 {
				if _, err := s.LatestRun(ctx); !errors.Is(err, ErrNoRun) {
					t.Errorf("LatestRun after the sweep: %v, want ErrNoRun", err)
				}
			}
			c, err := s.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Records != 2-tt.want.Records || c.Runs != 1-tt.want.Runs {
				t.Errorf("after the sweep %+v", c)
			}
			// A second sweep finds nothing more.
			if again, err := s.Sweep(ctx, tt.now); err != nil || again.Total() != 0 {
				t.Errorf("second sweep = %+v, %v", again, err)
			}
		})
	}
}
