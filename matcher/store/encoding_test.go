package store

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"tfmatch/matchkey"
)

func TestEncodeRecordGolden(t *testing.T) {
	r := Record{
		Source: "police",
		Ref:    [16]byte{0: 1, 15: 0xff},
		Tokens: []Token{
			{Kind: matchkey.NameDOB, Value: [32]byte{0: 0xaa}},
			{Kind: matchkey.NINO, Value: [32]byte{31: 0xbb}},
			{Kind: matchkey.NameDOB, Value: [32]byte{0: 0xaa}}, // duplicate, dropped
		},
		Indicators: map[string]bool{"work": false, "crime_asb": true},
	}
	got := hex.EncodeToString(EncodeRecord(r))
	want, err := os.ReadFile("testdata/record_v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("EncodeRecord =\n%s\nwant (testdata/record_v1.hex)\n%s", got, want)
	}
	b, _ := hex.DecodeString(strings.TrimSpace(string(want)))
	dec, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	r.Tokens = canonicalTokens(r.Tokens)
	if !reflect.DeepEqual(dec, r) {
		t.Errorf("DecodeRecord = %+v, want %+v", dec, r)
	}
}

// TestEncodeRecordGoldenV2 pins the encoding of a record with a filter;
// testdata/record_v1.hex (TestEncodeRecordGolden) must still decode.
func TestEncodeRecordGoldenV2(t *testing.T) {
	filter := make([]byte, FilterLen)
	for i := range filter {
		filter[i] = byte(i * 7)
	}
	r := Record{
		Source:     "education",
		Ref:        [16]byte{0: 2, 15: 0xee},
		Tokens:     []Token{{Kind: matchkey.BlockName, Value: [32]byte{0: 0x11}}, {Kind: matchkey.NameDOB, Value: [32]byte{1: 0x22}}},
		Indicators: map[string]bool{"education": true},
		Filter:     filter,
	}
	got := hex.EncodeToString(EncodeRecord(r))
	want, err := os.ReadFile("testdata/record_v2.hex")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.TrimSpace(string(want)) {
		t.Errorf("EncodeRecord =\n%s\nwant (testdata/record_v2.hex)\n%s", got, want)
	}
	b, _ := hex.DecodeString(strings.TrimSpace(string(want)))
	dec, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dec, r) {
		t.Errorf("DecodeRecord = %+v, want %+v", dec, r)
	}
	// Without a filter the record keeps its version 1 encoding.
	r.Filter = nil
	if enc := EncodeRecord(r); enc[0] != recordVersion {
		t.Errorf("record without filter encoded as version %d", enc[0])
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	valid := EncodeRecord(Record{Source: "s", Tokens: []Token{{Kind: "a"}, {Kind: "b"}}, Indicators: map[string]bool{"x": true, "y": false}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{9}, valid[1:]...)},
		{"kind code 0", codedWith(0)},
		{"kind code past the table", codedWith(byte(len(kindCodes)))},
		{"coded out of order", codedUnsorted()},
		{"v2 without filter", append([]byte{recordVersionFilter}, valid[1:]...)},
		{"v2 short filter", append(append([]byte{recordVersionFilter}, valid[1:]...), make([]byte, FilterLen-1)...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing", append(append([]byte{}, valid...), 0)},
		{"bad bool", append(append([]byte{}, valid[:len(valid)-1]...), 2)},
		{"unsorted tokens", EncodeRecordUnsorted()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeRecord(tt.b); err == nil {
				t.Error("DecodeRecord accepted it")
			}
		})
	}
}

// EncodeRecordUnsorted builds an encoding with tokens out of order.
func EncodeRecordUnsorted() []byte {
	b := []byte{recordVersion}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 2)
	b = appendString(b, "b")
	b = append(b, make([]byte, 32)...)
	b = appendString(b, "a")
	b = append(b, make([]byte, 32)...)
	return append(b, 0)
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord(Record{Source: "police", Tokens: []Token{{Kind: matchkey.NINO}}, Indicators: map[string]bool{"crime_asb": true}}))
	f.Add(EncodeRecord(Record{Source: "x"}))
	f.Add(EncodeRecordUnsorted())
	f.Add([]byte{1, 0x80, 0x00})
	f.Add(EncodeRecord(Record{Source: "x", Filter: make([]byte, FilterLen)}))
	f.Add(EncodeStored(Record{Source: "x", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.UPRN}}, Filter: make([]byte, FilterLen)}))
	f.Add(codedWith(0))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// Round trip: accepted encodings are canonical, in the form that
		// made them.
		encode := EncodeRecord
		if b[0] == recordVersionCoded || b[0] == recordVersionCodedFilter {
			encode = EncodeStored
		}
		if enc := encode(r); !bytes.Equal(enc, b) {
			t.Fatalf("encoding DecodeRecord(b) gives %x, want %x", enc, b)
		}
	})
}

// codedWith builds a stored encoding whose one token has kind code c.
func codedWith(c byte) []byte {
	b := []byte{recordVersionCoded}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 1, c)
	b = append(b, make([]byte, 32)...)
	return append(b, 0)
}

// codedUnsorted builds a stored encoding with its tokens out of order:
// upn (code 3) before nino (code 1), and "nino" < "upn".
func codedUnsorted() []byte {
	b := []byte{recordVersionCoded}
	b = appendString(b, "s")
	b = append(b, make([]byte, 16)...)
	b = append(b, 2, 3)
	b = append(b, make([]byte, 32)...)
	b = append(b, 1)
	b = append(b, make([]byte, 32)...)
	return append(b, 0)
}

// TestEncodeStoredGolden pins the stored forms of the two golden records:
// the same records with each kind as its code (versions 3 and 4). Each
// decodes to what its canonical form decodes to.
func TestEncodeStoredGolden(t *testing.T) {
	for _, tt := range []struct{ canonical, stored string }{
		{"testdata/record_v1.hex", "testdata/record_v3.hex"},
		{"testdata/record_v2.hex", "testdata/record_v4.hex"},
	} {
		r, err := DecodeRecord(readHex(t, tt.canonical))
		if err != nil {
			t.Fatal(err)
		}
		want := readHex(t, tt.stored)
		got := EncodeStored(r)
		if !bytes.Equal(got, want) {
			t.Errorf("EncodeStored(%s) =\n%x\nwant (%s)\n%x", tt.canonical, got, tt.stored, want)
		}
		if len(got) >= len(EncodeRecord(r)) {
			t.Errorf("%s: stored form of %d bytes, canonical %d", tt.stored, len(got), len(EncodeRecord(r)))
		}
		dec, err := DecodeRecord(want)
		if err != nil {
			t.Fatalf("%s: %v", tt.stored, err)
		}
		if !reflect.DeepEqual(dec, r) {
			t.Errorf("%s decodes to %+v, want %+v", tt.stored, dec, r)
		}
	}
	// A kind without a code keeps the canonical form.
	r := Record{Source: "s", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: "retired_kind"}}}
	if got, want := EncodeStored(r), EncodeRecord(r); !bytes.Equal(got, want) {
		t.Errorf("record with an uncoded kind stored as %x, want %x", got, want)
	}
}

func readHex(t *testing.T, file string) []byte {
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

// canonicalTokens returns the tokens sorted by (kind, value) with exact
// duplicates removed. The input is not modified.
func canonicalTokens(in []Token) []Token {
	out := slices.Clone(in)
	slices.SortFunc(out, compareTokens)
	return slices.CompactFunc(out, func(a, b Token) bool { return compareTokens(a, b) == 0 })
}
