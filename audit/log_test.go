package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/testonly"
)

// event returns a distinct valid entry number i.
func event(i int) Entry {
	return Entry{Kind: KindSubmission, Time: t0.Add(time.Duration(i) * time.Minute), Party: "police",
		ISAHash: isa("2026"), KeyEpoch: 1, BatchID: fmt.Sprintf("b%d", i), BatchDigest: digest(fmt.Sprint(i)),
		RecordCount: uint64(i), IndicatorCounts: map[string]uint64{"crime": uint64(i % 7)}}
}

func appendN(t *testing.T, l *Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		idx, err := l.Append(context.Background(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(i) {
			t.Fatalf("Append returned index %d, want %d", idx, i)
		}
	}
}

func treeOf(entries [][]byte) *memTree {
	var t memTree
	for _, e := range entries {
		t.add(leafHash(e))
	}
	return &t
}

// TestTreeKnownAnswers checks the in-memory tree, and the proof helpers
// over it, against the RFC 6962 reference vectors.
func TestTreeKnownAnswers(t *testing.T) {
	leaves := testonly.LeafInputs()
	roots := testonly.RootHashes()
	var tree memTree
	for i, l := range leaves {
		tree.add(hasher.HashLeaf(l))
		size := uint64(i + 1)
		got, err := rootAt(tree.node, size)
		if err != nil || !bytes.Equal(got, roots[size]) {
			t.Errorf("root at size %d = %x, %v; want %x", size, got, err, roots[size])
		}
	}
	if got, _ := rootAt(tree.node, 0); !bytes.Equal(got, testonly.EmptyRootHash()) || !bytes.Equal(got, roots[0]) {
		t.Errorf("empty root = %x", got)
	}
	for size := uint64(1); size <= uint64(len(leaves)); size++ {
		for i := range size {
			p, err := inclusionProof(tree.node, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyInclusion(leaves[i], i, size, p, roots[size]); err != nil {
				t.Errorf("inclusion %d in %d: %v", i, size, err)
			}
		}
		for s1 := uint64(1); s1 <= size; s1++ {
			p, err := consistencyProof(tree.node, s1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyConsistency(s1, size, p, roots[s1], roots[size]); err != nil {
				t.Errorf("consistency %d to %d: %v", s1, size, err)
			}
		}
	}
}

// TestLogProofs appends entries and checks every root, inclusion proof and
// consistency proof the log serves against a tree rebuilt from its
// entries.
func TestLogProofs(t *testing.T) {
	k := testKey(t, "audit.test")
	l := openLog(t, "", testConfig(t, k, 5))
	const n = 23
	appendN(t, l, 0, n)
	if l.Size() != n {
		t.Fatalf("Size = %d", l.Size())
	}
	entries, err := l.Entries(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range entries {
		if !bytes.Equal(b, mustEncode(t, event(i))) {
			t.Fatalf("entry %d differs from what was appended", i)
		}
	}
	ref := treeOf(entries)
	for size := uint64(0); size <= n; size++ {
		root, err := l.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		if !ref.rootMatches(size, root) {
			t.Fatalf("root at %d differs from the reference", size)
		}
		for i := range size {
			p, err := l.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyInclusion(entries[i], i, size, p, root); err != nil {
				t.Errorf("inclusion %d in %d: %v", i, size, err)
			}
		}
		for s1 := uint64(0); s1 <= size; s1++ {
			p, err := l.ConsistencyProof(s1, size)
			if err != nil {
				t.Fatal(err)
			}
			root1, _ := l.Root(s1)
			if err := verifyConsistency(s1, size, p, root1, root); err != nil {
				t.Errorf("consistency %d to %d: %v", s1, size, err)
			}
		}
	}
	for _, bad := range []struct{ a, b uint64 }{{0, n + 1}, {5, 5}, {n, n + 1}} {
		if _, err := l.InclusionProof(bad.a, bad.b); !errors.Is(err, ErrInvalid) {
			t.Errorf("InclusionProof(%d, %d) = %v, want ErrInvalid", bad.a, bad.b, err)
		}
	}
	if _, err := l.ConsistencyProof(5, 4); !errors.Is(err, ErrInvalid) {
		t.Errorf("ConsistencyProof(5, 4) = %v", err)
	}
	if _, err := l.Entries(context.Background(), 3, n+1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Entries beyond the end = %v", err)
	}
}

func checkpointSizes(t *testing.T, l *Log, v interface{ Name() string }) []uint64 {
	t.Helper()
	cps, err := l.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	for _, signed := range cps {
		c, err := ParseCheckpoint(checkpointText(signed))
		if err != nil {
			t.Fatal(err)
		}
		if c.Origin != v.Name() {
			t.Errorf("origin %q, want %q", c.Origin, v.Name())
		}
		sizes = append(sizes, c.Size)
	}
	return sizes
}

func TestCheckpointEveryN(t *testing.T) {
	k := testKey(t, "audit.test")
	l := openLog(t, "", testConfig(t, k, 3))
	appendN(t, l, 0, 10)
	got := checkpointSizes(t, l, k)
	want := []uint64{0, 3, 6, 9}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("checkpoint sizes = %v, want %v", got, want)
	}
	// Checkpoint covers the rest, then returns the same note while
	// nothing is appended.
	c1, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := l.Checkpoint(context.Background())
	if !bytes.Equal(c1, c2) {
		t.Error("a second checkpoint at the same size differs")
	}
	if got := checkpointSizes(t, l, k); got[len(got)-1] != 10 || len(got) != 5 {
		t.Errorf("after Checkpoint, sizes = %v", got)
	}
}

func TestCheckpointInterval(t *testing.T) {
	k := testKey(t, "audit.test")
	var mu sync.Mutex
	now := t0
	cfg := testConfig(t, k, 1000)
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := openLog(t, "", cfg)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	appendN(t, l, 0, 2)
	advance(30 * time.Minute)
	appendN(t, l, 2, 3)
	if got := checkpointSizes(t, l, k); fmt.Sprint(got) != "[0]" {
		t.Fatalf("checkpoint before the interval: %v", got)
	}
	advance(31 * time.Minute) // the first uncovered entry is now 61 minutes old
	appendN(t, l, 3, 4)
	if got := checkpointSizes(t, l, k); fmt.Sprint(got) != "[0 4]" {
		t.Fatalf("after the interval, sizes = %v, want [0 4]", got)
	}
}

// TestCheckpointIntervalIdle: with no further append, the background
// check covers an entry within the interval.
func TestCheckpointIntervalIdle(t *testing.T) {
	k := testKey(t, "audit.test")
	cfg := testConfig(t, k, 1000)
	cfg.CheckpointInterval = 40 * time.Millisecond
	l := openLog(t, "", cfg)
	appendN(t, l, 0, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		sizes := checkpointSizes(t, l, k)
		if sizes[len(sizes)-1] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers the entry: %v", sizes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, "audit.test")
	cfg := testConfig(t, k, 4)
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 6)
	root6, _ := l.Root(6)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), event(6)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}

	// Another key is refused.
	other := testKey(t, "audit.test")
	if _, err := Open(dir, testConfig(t, other, 4)); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Open with another key = %v, want ErrKeyMismatch", err)
	}

	l = openLog(t, dir, cfg)
	if l.Size() != 6 {
		t.Fatalf("Size after reopen = %d", l.Size())
	}
	if r, _ := l.Root(6); !bytes.Equal(r, root6) {
		t.Fatal("root changed across reopen")
	}
	// The entries left uncovered (4, 5) got a checkpoint on reopen.
	if got := checkpointSizes(t, l, k); fmt.Sprint(got) != "[0 4 6]" {
		t.Errorf("checkpoints after reopen = %v, want [0 4 6]", got)
	}
	appendN(t, l, 6, 11)
	ev := exportEvidence(t, l)
	v, _ := NewVerifier(k.VerifierKey())
	if ps := Verify(ev.Entries, ev.Checkpoints, nil, v); len(ps) != 0 {
		t.Errorf("problems after reopen: %v", ps)
	}
}

func TestOpenRejects(t *testing.T) {
	k := testKey(t, "audit.test")
	other := testKey(t, "audit.test")
	good := testConfig(t, k, 0)
	tests := []struct {
		name string
		cfg  func(Config) Config
		want error
	}{
		{"no signer", func(c Config) Config { c.Signer = nil; return c }, nil},
		{"no verifier key", func(c Config) Config { c.VerifierKey = ""; return c }, nil},
		{"negative interval", func(c Config) Config { c.CheckpointInterval = -1; return c }, nil},
		{"mismatched verifier key", func(c Config) Config { c.VerifierKey = other.VerifierKey(); return c }, ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(good)
			cfg.InMemory = true
			l, err := Open("", cfg)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAppendInvalid(t *testing.T) {
	k := testKey(t, "audit.test")
	l := openLog(t, "", testConfig(t, k, 0))
	_, err := l.Append(context.Background(), Entry{Kind: KindQuery, Party: "lead"}) // no purpose
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Append = %v, want ErrInvalid", err)
	}
	if l.Size() != 0 {
		t.Fatalf("Size = %d after a refused append", l.Size())
	}
	// A zero time is filled in.
	idx, err := l.Append(context.Background(), Entry{Kind: KindQuery, Party: "lead", Purpose: "p"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.Entries(context.Background(), idx, idx+1)
	e, err := DecodeEntry(b[0])
	if err != nil || e.Time.IsZero() {
		t.Errorf("stored entry %+v, %v", e, err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	k := testKey(t, "audit.test")
	l := openLog(t, "", testConfig(t, k, 7))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if g == 0 && i%5 == 0 {
					if _, err := l.Receipt(context.Background(), 0); err != nil && !errors.Is(err, ErrInvalid) {
						t.Error(err)
					}
				}
				if _, err := l.Append(context.Background(), event(g*100+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if l.Size() != 100 {
		t.Fatalf("Size = %d", l.Size())
	}
	ev := exportEvidence(t, l)
	v, _ := NewVerifier(k.VerifierKey())
	if ps := Verify(ev.Entries, ev.Checkpoints, nil, v); len(ps) != 0 {
		t.Errorf("problems: %v", ps)
	}
}

func TestReceipts(t *testing.T) {
	k := testKey(t, "audit.test")
	l := openLog(t, "", testConfig(t, k, 1000))
	v, _ := NewVerifier(k.VerifierKey())
	appendN(t, l, 0, 3)
	r, err := l.AppendWithReceipt(context.Background(), event(3))
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != 3 || !bytes.Equal(r.Entry, mustEncode(t, event(3))) {
		t.Fatalf("receipt for index %d", r.Index)
	}
	if err := VerifyReceipt(r, v); err != nil {
		t.Fatalf("VerifyReceipt: %v", err)
	}
	// The receipt's checkpoint is one the log stored.
	cps, _ := l.Checkpoints(context.Background())
	if !bytes.Equal(cps[len(cps)-1], r.Checkpoint) {
		t.Error("the receipt's checkpoint is not the log's newest")
	}
	// A later receipt for an older entry is at a later size.
	appendN(t, l, 4, 9)
	r1, err := l.Receipt(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(r1, v); err != nil {
		t.Fatalf("VerifyReceipt: %v", err)
	}
	if _, err := l.Receipt(context.Background(), 9); !errors.Is(err, ErrInvalid) {
		t.Errorf("receipt beyond the end = %v", err)
	}

	// Files round-trip.
	path := t.TempDir() + "/r.json"
	if err := WriteReceipt(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReceipt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyReceipt(back, v); err != nil {
		t.Fatalf("receipt read back: %v", err)
	}

	otherV, _ := NewVerifier(testKey(t, "audit.test").VerifierKey())
	if err := VerifyReceipt(r, otherV); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("VerifyReceipt with another key = %v", err)
	}
}
