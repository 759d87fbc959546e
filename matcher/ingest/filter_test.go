package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"tfmatch/keys"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

func newFilterIngester(t *testing.T) *Ingester {
	t.Helper()
	st, err := store.Open("", store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Ingester{Store: st, Blinding: m, Epoch: 1}
}

func record(ref byte, filter []byte, kinds ...matchkey.Kind) Record {
	r := Record{Ref: make([]byte, refLen), Filter: filter}
	r.Ref[0] = ref
	for i, k := range kinds {
		v := make([]byte, tokenLen)
		v[0], v[1] = ref, byte(i)
		r.Tokens = append(r.Tokens, Token{Kind: k, Value: v})
	}
	return r
}

// TestAcceptPermutesFilters checks that the stored filter is the received
// one under the matcher's permutation: different bytes, same popcount and
// pairwise overlaps.
func TestAcceptPermutesFilters(t *testing.T) {
	in := newFilterIngester(t)
	f1 := make([]byte, keys.FilterBytes)
	f2 := make([]byte, keys.FilterBytes)
	for i := range f1 {
		f1[i] = byte(i)
		f2[i] = byte(i) | 0x0f
	}
	b := Batch{Source: "police", ID: "b1", ISAHash: in.ISAHash[:], Epoch: 1, Records: []Record{
		record(1, f1, matchkey.NameDOB), record(2, f2, matchkey.BlockName), record(3, nil, matchkey.NINO),
	}}
	if _, err := in.Accept(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	stored := map[byte][]byte{}
	err := in.Store.ForEachRecord(context.Background(), func(r store.Record) error {
		stored[r.Ref[0]] = r.Filter
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored[3] != nil {
		t.Error("a record without a filter got one")
	}
	s1, s2 := keys.Filter(stored[1]), keys.Filter(stored[2])
	o1, o2 := keys.Filter(f1), keys.Filter(f2)
	if s1 == o1 || s2 == o2 {
		t.Fatal("filter stored as received")
	}
	if pop(s1) != pop(o1) || pop(s2) != pop(o2) || overlap(s1, s2) != overlap(o1, o2) {
		t.Error("permutation changed popcounts or overlap")
	}
}

func pop(f keys.Filter) int { return overlap(f, f) }

func overlap(a, b keys.Filter) int {
	n := 0
	for i := range keys.FilterBits {
		if a.Has(i) && b.Has(i) {
			n++
		}
	}
	return n
}

func TestValidateFilters(t *testing.T) {
	in := newFilterIngester(t)
	tests := []struct {
		name string
		rec  Record
		ok   bool
	}{
		{"person token, no filter", record(1, nil, matchkey.NameDOB), true},
		{"block token and filter", record(1, make([]byte, keys.FilterBytes), matchkey.BlockName), true},
		{"block token without filter", record(1, nil, matchkey.BlockName), false},
		{"filter without block token", record(1, make([]byte, keys.FilterBytes), matchkey.AddressLine), false},
		{"short filter", record(1, make([]byte, 127), matchkey.NameDOB), false},
	}
	for _, tt := range tests {
		err := in.validate(Batch{ID: "b", ISAHash: in.ISAHash[:], Epoch: 1, Records: []Record{tt.rec}})
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestAcceptConcurrent accepts batches of several sizes, with and without
// filters, from four sources at once, so that each batch is blinded in
// memory an earlier batch used, and checks every stored record against
// its own submission: each token blinded, each filter permuted, nothing
// of another record.
func TestAcceptConcurrent(t *testing.T) {
	in := newFilterIngester(t)
	perm, err := in.Blinding.FilterPermutation()
	if err != nil {
		t.Fatal(err)
	}
	sources := []string{"police", "education", "dwp", "council"}
	sizes := []int{200, 3, 90, 1, 200}
	sent := map[string]Record{}
	batches := make([][]Batch, len(sources))
	for i, src := range sources {
		for n, size := range sizes {
			b := Batch{Source: src, ID: fmt.Sprint(n), ISAHash: in.ISAHash[:], Epoch: 1}
			for j := range size {
				r := Record{Ref: make([]byte, refLen)}
				copy(r.Ref, fmt.Sprintf("%d/%d/%d", i, n, j))
				for k := range 1 + j%5 {
					v := make([]byte, tokenLen)
					copy(v, fmt.Sprintf("%s %d %d %d", src, n, j, k))
					r.Tokens = append(r.Tokens, Token{Kind: []matchkey.Kind{matchkey.NameDOB, matchkey.AddressLine, matchkey.BlockName}[k%3], Value: v})
				}
				if j%2 == 0 {
					r.Filter = make([]byte, keys.FilterBytes)
					for k := range r.Filter {
						r.Filter[k] = byte(i*7 + n*5 + j*3 + k)
					}
				}
				b.Records = append(b.Records, r)
				sent[src+"/"+string(r.Ref)] = r
			}
			batches[i] = append(batches[i], b)
		}
	}
	errs := make(chan error, len(sources))
	for i := range sources {
		go func() {
			for _, b := range batches[i] {
				if _, err := in.Accept(context.Background(), b); err != nil {
					errs <- err
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
	n := 0
	err = in.Store.ForEachRecord(context.Background(), func(r store.Record) error {
		n++
		w, ok := sent[r.Source+"/"+string(r.Ref[:])]
		if !ok {
			return fmt.Errorf("stored record %s %x was not sent", r.Source, r.Ref)
		}
		want := map[store.Token]bool{}
		for _, tok := range w.Tokens {
			bl := in.Blinding.Blind(keys.Token(tok.Value))
			want[store.Token{Kind: tok.Kind, Value: [store.TokenLen]byte(bl[:store.TokenLen])}] = true
		}
		got := map[store.Token]bool{}
		for _, tok := range r.Tokens {
			got[tok] = true
		}
		if !maps.Equal(got, want) {
			return fmt.Errorf("record %s %x: stored tokens are not the sent ones blinded", r.Source, r.Ref)
		}
		switch {
		case w.Filter == nil && r.Filter != nil:
			return fmt.Errorf("record %s %x: stored a filter, none sent", r.Source, r.Ref)
		case w.Filter != nil && keys.Filter(r.Filter) != perm.Apply(keys.Filter(w.Filter)):
			return fmt.Errorf("record %s %x: stored filter is not the sent one permuted", r.Source, r.Ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sent) {
		t.Errorf("%d records stored, want %d", n, len(sent))
	}
}
