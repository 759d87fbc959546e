package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"tfmatch/keys"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

var testISA = keys.HashISA([]byte("ingest test agreement"))

func newIngester(t testing.TB, maxRecords int) *Ingester {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{MemTableSize: 4 << 20, NoSync: true, Epoch: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	return &Ingester{Store: st, Blinding: bk, ISAHash: testISA, Epoch: 2, MaxRecords: maxRecords}
}

func tokenValue(label string) []byte {
	h := sha256.Sum256([]byte("token:" + label))
	return h[:]
}

func refValue(label string) []byte {
	h := sha256.Sum256([]byte("ref:" + label))
	return h[:16]
}

// validBatch has n records, each with a person token, an address token
// and two indicators.
func validBatch(id string, n int) Batch {
	b := Batch{Source: "police", ID: id, ISAHash: testISA[:], Epoch: 2}
	for i := range n {
		l := fmt.Sprintf("%s/%d", id, i)
		b.Records = append(b.Records, Record{
			Ref: refValue(l),
			Tokens: []Token{
				{Kind: matchkey.NameDOB, Value: tokenValue(l)},
				{Kind: matchkey.AddressLine, Value: tokenValue("addr:" + l)},
			},
			Indicators: map[string]bool{"crime_asb": i%2 == 0, "local_concern": true},
		})
	}
	return b
}

func counts(t *testing.T, st *store.Store) store.Counts {
	t.Helper()
	c, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAcceptInvalid(t *testing.T) {
	in := newIngester(t, 5)
	for _, tc := range []struct {
		name   string
		change func(b *Batch)
		want   error
	}{
		{"empty id", func(b *Batch) { b.ID = "" }, ErrInvalid},
		{"id too long", func(b *Batch) { b.ID = strings.Repeat("x", 129) }, ErrInvalid},
		{"no records", func(b *Batch) { b.Records = nil }, ErrInvalid},
		{"too many records", func(b *Batch) { b.Records = validBatch("big", 6).Records }, ErrInvalid},
		{"15-byte ref", func(b *Batch) { b.Records[1].Ref = b.Records[1].Ref[:15] }, ErrInvalid},
		{"17-byte ref", func(b *Batch) { b.Records[1].Ref = append(b.Records[1].Ref, 0) }, ErrInvalid},
		{"nil ref", func(b *Batch) { b.Records[0].Ref = nil }, ErrInvalid},
		{"ref repeated in batch", func(b *Batch) { b.Records[2].Ref = b.Records[0].Ref }, ErrInvalid},
		{"unknown kind", func(b *Batch) { b.Records[1].Tokens[0].Kind = "shoe_size" }, ErrInvalid},
		{"empty kind", func(b *Batch) { b.Records[1].Tokens[0].Kind = "" }, ErrInvalid},
		{"31-byte token", func(b *Batch) { b.Records[1].Tokens[0].Value = b.Records[1].Tokens[0].Value[:31] }, ErrInvalid},
		{"33-byte token", func(b *Batch) { b.Records[1].Tokens[1].Value = append(b.Records[1].Tokens[1].Value, 1) }, ErrInvalid},
		{"no tokens", func(b *Batch) { b.Records[2].Tokens = nil }, ErrInvalid},
		{"too many tokens", func(b *Batch) {
			for i := range maxTokens {
				b.Records[0].Tokens = append(b.Records[0].Tokens, Token{Kind: matchkey.PhoneticDOB, Value: tokenValue(fmt.Sprint(i))})
			}
		}, ErrInvalid},
		{"only address tokens", func(b *Batch) { b.Records[1].Tokens = b.Records[1].Tokens[1:] }, ErrInvalid},
		{"only a group token", func(b *Batch) {
			b.Records[1].Tokens = []Token{{Kind: matchkey.HouseholdGroup, Value: tokenValue("g")}}
		}, ErrInvalid},
		{"empty indicator name", func(b *Batch) { b.Records[0].Indicators[""] = true }, ErrInvalid},
		{"indicator name too long", func(b *Batch) { b.Records[0].Indicators[strings.Repeat("a", 65)] = true }, ErrInvalid},
		{"too many indicators", func(b *Batch) {
			for i := range maxIndicators {
				b.Records[0].Indicators[fmt.Sprintf("i%d", i)] = true
			}
		}, ErrInvalid},
		{"indicator name with a hyphen", func(b *Batch) { b.Records[0].Indicators["crime-asb"] = true }, ErrInvalid},
		{"indicator name starting with a digit", func(b *Batch) { b.Records[0].Indicators["1st"] = true }, ErrInvalid},
		{"wrong ISA hash", func(b *Batch) { h := keys.HashISA([]byte("other")); b.ISAHash = h[:] }, ErrWrongAgreement},
		{"short ISA hash", func(b *Batch) { b.ISAHash = b.ISAHash[:31] }, ErrWrongAgreement},
		{"no ISA hash", func(b *Batch) { b.ISAHash = nil }, ErrWrongAgreement},
		{"wrong epoch", func(b *Batch) { b.Epoch = 1 }, ErrWrongAgreement},
		{"epoch zero", func(b *Batch) { b.Epoch = 0 }, ErrWrongAgreement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := validBatch("b-"+strings.ReplaceAll(tc.name, " ", "-"), 3)
			tc.change(&b)
			res, err := in.Accept(context.Background(), b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Accept = %+v, %v; want an error wrapping %v", res, err, tc.want)
			}
			other := ErrInvalid
			if tc.want == ErrInvalid {
				other = ErrWrongAgreement
			}
			if errors.Is(err, other) {
				t.Errorf("error %v wraps both sentinels", err)
			}
			if c := counts(t, in.Store); c.Records != 0 || c.Batches != 0 || len(c.TokensByKind) != 0 {
				t.Errorf("a refused batch left %+v in the store", c)
			}
		})
	}
	// The table's base batch is itself valid: each case fails only for
	// its change.
	if _, err := in.Accept(context.Background(), validBatch("base", 3)); err != nil {
		t.Fatalf("the base batch is refused: %v", err)
	}
}

func TestAcceptErrorsCarryNoData(t *testing.T) {
	in := newIngester(t, 0)
	b := validBatch("nodata", 2)
	secretKind := matchkey.Kind("Jane Smith 1990-01-01 " + strings.Repeat("z", 100))
	b.Records[1].Tokens[0].Kind = secretKind
	_, err := in.Accept(context.Background(), b)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), string(secretKind)) || len(err.Error()) > 200 {
		t.Errorf("error echoes the whole unknown kind: %q", err)
	}
	b = validBatch("nodata2", 2)
	b.Records[0].Tokens[0].Value = []byte("Jane Smith")
	if _, err := in.Accept(context.Background(), b); err == nil || strings.Contains(err.Error(), "Jane") {
		t.Errorf("error %v echoes a token value", err)
	}
}

func TestAcceptStoresBlindedTokens(t *testing.T) {
	in := newIngester(t, 0)
	b := validBatch("good", 4)
	b.Records[3].Tokens = append(b.Records[3].Tokens, Token{Kind: matchkey.NINO, Value: tokenValue("nino")})
	res, err := in.Accept(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Records != 4 || res.BatchID != "good" {
		t.Errorf("result = %+v", res)
	}

	want := map[string]Record{}
	for _, r := range b.Records {
		want[string(r.Ref)] = r
	}
	n := 0
	err = in.Store.ForEachRecord(context.Background(), func(r store.Record) error {
		n++
		w, ok := want[string(r.Ref[:])]
		if !ok {
			return fmt.Errorf("stored record %x was not submitted", r.Ref)
		}
		if r.Source != "police" {
			t.Errorf("source %q, want police", r.Source)
		}
		if len(r.Tokens) != len(w.Tokens) {
			t.Fatalf("record %x: %d tokens stored, %d submitted", r.Ref, len(r.Tokens), len(w.Tokens))
		}
		blinded := map[string]matchkey.Kind{}
		for _, tok := range w.Tokens {
			bl := in.Blinding.Blind(keys.Token(tok.Value))
			blinded[string(bl[:store.TokenLen])] = tok.Kind
		}
		for _, tok := range r.Tokens {
			for _, sent := range w.Tokens {
				if bytes.Equal(tok.Value[:], sent.Value) {
					t.Errorf("record %x: a token is stored as sent, not blinded", r.Ref)
				}
			}
			if kind, ok := blinded[string(tok.Value[:])]; !ok || kind != tok.Kind {
				t.Errorf("record %x: stored %s token is not BlindingKey.Blind of a sent %s token", r.Ref, tok.Kind, tok.Kind)
			}
		}
		for name, v := range w.Indicators {
			if r.Indicators[name] != v {
				t.Errorf("record %x: indicator %s = %v, want %v", r.Ref, name, r.Indicators[name], v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d records stored, want 4", n)
	}
	// The same batch id again is a duplicate and writes nothing.
	before := counts(t, in.Store)
	again, err := in.Accept(context.Background(), validBatch("good", 2))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Records != 4 || again.Digest != res.Digest {
		t.Errorf("second submission = %+v, want the first receipt marked duplicate", again)
	}
	if after := counts(t, in.Store); after.Records != before.Records || after.Batches != before.Batches {
		t.Errorf("a duplicate changed the store: %+v -> %+v", before, after)
	}
	// Another source may use the same batch id.
	other := validBatch("good", 1)
	other.Source = "dwp"
	if r, err := in.Accept(context.Background(), other); err != nil || r.Duplicate {
		t.Errorf("same id from another source: %+v, %v", r, err)
	}
}

// Two matchers with different blinding keys store unrelated values for the
// same token: a stolen database and a leaked programme key do not let a
// thief recompute what is stored.
func TestAcceptBlindingKeyMatters(t *testing.T) {
	a, b := newIngester(t, 0), newIngester(t, 0)
	stored := func(in *Ingester) map[[store.TokenLen]byte]bool {
		if _, err := in.Accept(context.Background(), validBatch("k", 2)); err != nil {
			t.Fatal(err)
		}
		out := map[[store.TokenLen]byte]bool{}
		err := in.Store.ForEachRecord(context.Background(), func(r store.Record) error {
			for _, tok := range r.Tokens {
				out[tok.Value] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	sa, sb := stored(a), stored(b)
	if len(sa) != 4 {
		t.Fatalf("%d distinct stored tokens, want 4", len(sa))
	}
	for v := range sa {
		if sb[v] {
			t.Error("two blinding keys stored the same value")
		}
	}
}

// FuzzAccept builds one-record batches from arbitrary parts. Accept must
// not panic; a refused batch must wrap ErrInvalid or ErrWrongAgreement
// and leave the store as it was; an accepted one must add its record.
func FuzzAccept(f *testing.F) {
	f.Add("b1", refValue("x"), string(matchkey.NameDOB), tokenValue("x"), "crime_asb", testISA[:], uint32(2))
	f.Add("", refValue("x"), string(matchkey.NameDOB), tokenValue("x"), "work", testISA[:], uint32(2))
	f.Add("b2", []byte("short"), string(matchkey.NINO), tokenValue("y"), "work", testISA[:], uint32(2))
	f.Add("b3", refValue("z"), "nonsense", tokenValue("z"), "work", testISA[:], uint32(2))
	f.Add("b4", refValue("z"), string(matchkey.UPRN), tokenValue("z"), "education", testISA[:], uint32(2))
	f.Add("b5", refValue("w"), string(matchkey.UPN), tokenValue("w")[:31], "education", testISA[:], uint32(2))
	f.Add("b6", refValue("v"), string(matchkey.NHS), tokenValue("v"), "work", testISA[:], uint32(3))
	f.Add("b7", refValue("u"), string(matchkey.NHS), tokenValue("u"), "work", []byte{1, 2, 3}, uint32(2))
	in := newIngester(f, 0)
	f.Fuzz(func(t *testing.T, id string, ref []byte, kind string, value []byte, indicator string, isa []byte, epoch uint32) {
		b := Batch{Source: "council", ID: id, ISAHash: isa, Epoch: epoch, Records: []Record{{
			Ref:        ref,
			Tokens:     []Token{{Kind: matchkey.Kind(kind), Value: value}, {Kind: matchkey.AddressLine, Value: tokenValue(id)}},
			Indicators: map[string]bool{indicator: true},
		}}}
		before := counts(t, in.Store)
		res, err := in.Accept(context.Background(), b)
		after := counts(t, in.Store)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrWrongAgreement) {
				t.Fatalf("error %v wraps no documented sentinel", err)
			}
			if after.Records != before.Records || after.Batches != before.Batches {
				t.Fatalf("a refused batch changed the store: %+v -> %+v", before, after)
			}
			return
		}
		if res.Records != 1 || res.BatchID != id {
			t.Fatalf("result %+v", res)
		}
		if !res.Duplicate && after.Batches != before.Batches+1 {
			t.Fatalf("accepted batch not recorded: %+v -> %+v", before, after)
		}
	})
}

// TestEpochMismatchStoresNothing: an ingester whose store is open for
// another key epoch refuses every batch, so records are never filed under
// an epoch they were not made for.
func TestEpochMismatchStoresNothing(t *testing.T) {
	st, err := store.Open("", store.Options{InMemory: true, MemTableSize: 4 << 20, Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	h := keys.HashISA([]byte("agreement"))
	in := &Ingester{Store: st, Blinding: bk, ISAHash: h, Epoch: 2}
	b := Batch{Source: "police", ID: "b", ISAHash: h[:], Epoch: 2, Records: []Record{{
		Ref: make([]byte, 16), Tokens: []Token{{Kind: matchkey.NINO, Value: make([]byte, 32)}},
	}}}
	if _, err := in.Accept(context.Background(), b); err == nil || !strings.Contains(err.Error(), "open for epoch 1") {
		t.Errorf("Accept = %v, want an error naming the store's epoch", err)
	}
	if c, err := st.Counts(context.Background()); err != nil || c.Records != 0 {
		t.Errorf("store after the refusal: %+v, %v", c, err)
	}
}
