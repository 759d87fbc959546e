package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"tfmatch/matchkey"
)

// goldenRecords are the records of testdata/record_v1.hex to
// record_v6.hex: versions 1 to 4 were written by earlier builds (their
// 32-byte token values read as their first 16 bytes), 5 and 6 are what
// EncodeRecord writes.
var goldenRecords = []struct {
	old      []string // earlier encodings of the record
	current  string   // EncodeRecord's
	record   Record
	inserted []Token // tokens as submitted: out of order, repeated
}{
	{
		old:     []string{"testdata/record_v1.hex", "testdata/record_v3.hex"},
		current: "testdata/record_v5.hex",
		record: Record{
			Source:     "police",
			Ref:        [16]byte{0: 1, 15: 0xff},
			Tokens:     []Token{{Kind: matchkey.NINO}, {Kind: matchkey.NameDOB, Value: [16]byte{0: 0xaa}}},
			Indicators: map[string]bool{"work": false, "crime_asb": true},
		},
		inserted: []Token{
			{Kind: matchkey.NameDOB, Value: [16]byte{0: 0xaa}},
			{Kind: matchkey.NINO},
			{Kind: matchkey.NameDOB, Value: [16]byte{0: 0xaa}}, // repeated, dropped
		},
	},
	{
		old:     []string{"testdata/record_v2.hex", "testdata/record_v4.hex"},
		current: "testdata/record_v6.hex",
		record: Record{
			Source:     "education",
			Ref:        [16]byte{0: 2, 15: 0xee},
			Tokens:     []Token{{Kind: matchkey.NameDOB, Value: [16]byte{1: 0x22}}, {Kind: matchkey.BlockName, Value: [16]byte{0: 0x11}}},
			Indicators: map[string]bool{"education": true},
			Filter:     goldenFilter(),
		},
		inserted: []Token{{Kind: matchkey.BlockName, Value: [16]byte{0: 0x11}}, {Kind: matchkey.NameDOB, Value: [16]byte{1: 0x22}}},
	},
}

func goldenFilter() []byte {
	f := make([]byte, FilterLen)
	for i := range f {
		f[i] = byte(i * 7)
	}
	return f
}

// TestEncodeRecordGolden pins the encoding: the golden records, given
// with their tokens out of order and repeated, encode to their files, and
// the files decode to them.
func TestEncodeRecordGolden(t *testing.T) {
	for _, g := range goldenRecords {
		in := g.record
		in.Tokens = g.inserted
		enc, err := EncodeRecord(in)
		if err != nil {
			t.Fatal(err)
		}
		want := readHex(t, g.current)
		if !bytes.Equal(enc, want) {
			t.Errorf("EncodeRecord =\n%x\nwant (%s)\n%x", enc, g.current, want)
		}
		dec, err := DecodeRecord(want)
		if err != nil {
			t.Fatalf("%s: %v", g.current, err)
		}
		if !reflect.DeepEqual(dec, g.record) {
			t.Errorf("%s decodes to %+v, want %+v", g.current, dec, g.record)
		}
	}
	// Without a filter a record is version 5, with one version 6.
	enc, err := EncodeRecord(Record{Source: "s", Tokens: []Token{{Kind: matchkey.NINO}}})
	if err != nil || enc[0] != recordVersionShort {
		t.Errorf("record without filter encoded as %x, %v", enc, err)
	}
}

// TestDecodeOldVersions checks that records written by earlier builds
// still read: the same record, each token cut to its first 16 bytes, and
// in the order of the current encoding once encoded again.
func TestDecodeOldVersions(t *testing.T) {
	for _, g := range goldenRecords {
		for _, file := range g.old {
			dec, err := DecodeRecord(readHex(t, file))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			enc, err := EncodeRecord(dec)
			if err != nil {
				t.Fatal(err)
			}
			if want := readHex(t, g.current); !bytes.Equal(enc, want) {
				t.Errorf("%s encodes again as\n%x\nwant (%s)\n%x", file, enc, g.current, want)
			}
		}
	}
}

func TestEncodeRecordUncodedKind(t *testing.T) {
	if _, err := EncodeRecord(Record{Source: "s", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: "retired_kind"}}}); err == nil {
		t.Error("EncodeRecord accepted a kind with no code")
	}
}

func mustEncode(t testing.TB, r Record) []byte {
	t.Helper()
	b, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordRejects(t *testing.T) {
	valid := mustEncode(t, Record{Source: "s", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.NHS}}, Indicators: map[string]bool{"x": true, "y": false}})
	oldValid := readHex(t, "testdata/record_v1.hex")
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 0", append([]byte{0}, valid[1:]...)},
		{"version 7", append([]byte{7}, valid[1:]...)},
		{"kind code 0", codedWith(0)},
		{"kind code past the table", codedWith(byte(len(kindCodes)))},
		{"kinds out of order", codedUnsorted(3, 0, 1, 0)},
		{"same kind, values out of order", codedUnsorted(1, 1, 1, 0)},
		{"repeated token", codedUnsorted(1, 0, 1, 0)},
		{"v6 without filter", append([]byte{recordVersionShortFilter}, valid[1:]...)},
		{"v6 short filter", append(append([]byte{recordVersionShortFilter}, valid[1:]...), make([]byte, FilterLen-1)...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing", append(slices.Clone(valid), 0)},
		{"bad bool", append(slices.Clone(valid[:len(valid)-1]), 2)},
		{"old, truncated", oldValid[:len(oldValid)-1]},
		{"old, tokens out of order", oldUnsorted()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRecord(tt.b); err == nil {
				t.Error("DecodeRecord accepted it")
			}
		})
	}
}

// oldUnsorted builds a version 1 encoding with tokens out of order.
func oldUnsorted() []byte {
	b := []byte{recordVersion}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 2)
	b = appendString(b, "upn")
	b = append(b, make([]byte, 32)...)
	b = appendString(b, "nino")
	b = append(b, make([]byte, 32)...)
	return append(b, 0)
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(mustEncode(f, Record{Source: "police", Tokens: []Token{{Kind: matchkey.NINO}}, Indicators: map[string]bool{"crime_asb": true}}))
	f.Add(mustEncode(f, Record{Source: "x"}))
	f.Add(mustEncode(f, Record{Source: "x", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.UPRN}}, Filter: make([]byte, FilterLen)}))
	f.Add(codedUnsorted(3, 0, 1, 0))
	f.Add([]byte{5, 0x80, 0x00})
	f.Add(codedWith(0))
	f.Add(oldUnsorted())
	for _, file := range []string{"testdata/record_v1.hex", "testdata/record_v2.hex", "testdata/record_v3.hex", "testdata/record_v4.hex"} {
		f.Add(readHex(f, file))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		enc, err := EncodeRecord(r)
		if b[0] == recordVersionShort || b[0] == recordVersionShortFilter {
			// Accepted encodings are canonical.
			if err != nil || !bytes.Equal(enc, b) {
				t.Fatalf("encoding DecodeRecord(b) gives %x, %v; want %x", enc, err, b)
			}
			return
		}
		// An earlier build's record, with kinds that still have codes,
		// reads the same once written again, but for token order and
		// tokens that are one once cut to 16 bytes.
		if err != nil {
			return
		}
		again, err := DecodeRecord(enc)
		if err != nil {
			t.Fatalf("DecodeRecord(EncodeRecord(r)): %v", err)
		}
		r.Tokens = canonicalTokens(r.Tokens)
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("read again as %+v, want %+v", again, r)
		}
	})
}

// codedWith builds an encoding whose one token has kind code c.
func codedWith(c byte) []byte {
	b := []byte{recordVersionShort}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 1, c)
	b = append(b, make([]byte, TokenLen)...)
	return append(b, 0)
}

// codedUnsorted builds an encoding of two tokens, kind codes c1 and c2
// with values whose first bytes are v1 and v2.
func codedUnsorted(c1, v1, c2, v2 byte) []byte {
	b := []byte{recordVersionShort}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 2, c1, v1)
	b = append(b, make([]byte, TokenLen-1)...)
	b = append(b, c2, v2)
	b = append(b, make([]byte, TokenLen-1)...)
	return append(b, 0)
}

func readHex(t testing.TB, file string) []byte {
	t.Helper()
	s, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return b
}

// TestKindCodes checks that every kind has a code, that no code is given
// twice, and that the codes are those of testdata/kindcodes.golden: a
// stored record's kinds are read by these numbers, so none may change.
func TestKindCodes(t *testing.T) {
	var b strings.Builder
	seen := map[matchkey.Kind]bool{}
	for c, k := range kindCodes {
		if k == "" {
			continue
		}
		if seen[k] {
			t.Errorf("kind %s has two codes", k)
		}
		seen[k] = true
		fmt.Fprintf(&b, "%d %s\n", c, k)
	}
	for _, in := range matchkey.All() {
		if !seen[in.Kind] {
			t.Errorf("kind %s has no code: give it the next free one in kindCodes and testdata/kindcodes.golden", in.Kind)
		}
	}
	want, err := os.ReadFile("testdata/kindcodes.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), string(want)) {
		t.Errorf("kind codes changed:\n%s\nwant testdata/kindcodes.golden (codes may only be added after it):\n%s", b.String(), want)
	}
}

// canonicalTokens returns the tokens in the order of their encoding, by
// (kind code, value), with exact duplicates removed. The input is not
// modified.
func canonicalTokens(in []Token) []Token {
	out := slices.Clone(in)
	cmp := func(a, b Token) int {
		if a.Kind != b.Kind {
			return slices.Index(kindCodes[:], a.Kind) - slices.Index(kindCodes[:], b.Kind)
		}
		return bytes.Compare(a.Value[:], b.Value[:])
	}
	slices.SortFunc(out, cmp)
	return slices.CompactFunc(out, func(a, b Token) bool { return cmp(a, b) == 0 })
}

// TestSortCoded checks the counting sort against a comparison sort on
// records of every shape: empty, one kind, every kind, many of one kind.
func TestSortCoded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		n := rng.IntN(40)
		kinds := 1 + rng.IntN(len(kindCodes)-1)
		ts := make([]codedToken, n)
		for i := range ts {
			ts[i].code = byte(1 + rng.IntN(kinds))
			ts[i].value[0] = byte(rng.IntN(4)) // repeats, to test ties
			ts[i].value[15] = byte(rng.IntN(256))
		}
		want := slices.Clone(ts)
		slices.SortFunc(want, compareCoded)
		got := make([]codedToken, n)
		sortCoded(ts, got)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: sortCoded(%v) = %v, want %v", trial, ts, got, want)
		}
	}
}
