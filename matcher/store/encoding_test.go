package store

import (
	"bytes"
	"encoding/hex"
	"os"
	"reflect"
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
		{"version", append([]byte{3}, valid[1:]...)},
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
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// Round trip: accepted encodings are canonical.
		if enc := EncodeRecord(r); !bytes.Equal(enc, b) {
			t.Fatalf("EncodeRecord(DecodeRecord(b)) = %x, want %x", enc, b)
		}
	})
}
