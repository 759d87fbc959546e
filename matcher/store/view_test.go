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

// viewRecord rebuilds a Record from a view, for comparing with DecodeRecord.
func viewRecord(v *RecordView) Record {
	r := Record{Source: string(v.Source), Ref: v.Ref, Filter: bytes.Clone(v.Filter), Expires: v.Expires}
	v.ForEachToken(func(kind matchkey.Kind, value *[32]byte) {
		r.Tokens = append(r.Tokens, Token{Kind: kind, Value: *value})
	})
	v.ForEachIndicator(func(name []byte, val bool) {
		if r.Indicators == nil {
			r.Indicators = map[string]bool{}
		}
		r.Indicators[string(name)] = val
	})
	return r
}

func TestParseRecordViewMatchesDecode(t *testing.T) {
	for _, file := range []string{"testdata/record_v1.hex", "testdata/record_v2.hex", "testdata/record_v3.hex", "testdata/record_v4.hex"} {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := hex.DecodeString(strings.TrimSpace(string(want)))
		dec, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseRecordView(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if v.Tokens() != len(dec.Tokens) {
			t.Errorf("%s: %d tokens, want %d", file, v.Tokens(), len(dec.Tokens))
		}
		if got := viewRecord(&v); !reflect.DeepEqual(got, dec) {
			t.Errorf("%s: view = %+v, want %+v", file, got, dec)
		}
	}
}

func TestParseRecordViewRejects(t *testing.T) {
	valid := EncodeRecord(Record{Source: "s", Tokens: []Token{{Kind: "a"}, {Kind: "b"}}, Indicators: map[string]bool{"x": true, "y": false}})
	for name, b := range map[string][]byte{
		"empty":             nil,
		"version":           append([]byte{9}, valid[1:]...),
		"kind code 0":       codedWith(0),
		"kind code unknown": codedWith(byte(len(kindCodes))),
		"v2 without filter": append([]byte{recordVersionFilter}, valid[1:]...),
		"truncated":         valid[:len(valid)-1],
		"trailing":          append(append([]byte{}, valid...), 0),
		"bad bool":          append(append([]byte{}, valid[:len(valid)-1]...), 2),
	} {
		if _, err := ParseRecordView(b); err == nil {
			t.Errorf("%s: ParseRecordView accepted it", name)
		}
	}
}

func FuzzParseRecordView(f *testing.F) {
	f.Add(EncodeRecord(Record{Source: "police", Tokens: []Token{{Kind: matchkey.NINO}}, Indicators: map[string]bool{"crime_asb": true}}))
	f.Add(EncodeRecord(Record{Source: "x", Filter: make([]byte, FilterLen)}))
	f.Add([]byte{1, 0x80, 0x00})
	f.Add(EncodeStored(Record{Source: "x", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.UPRN}}, Filter: make([]byte, FilterLen)}))
	f.Add(codedWith(0))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseRecordView(b)
		if err != nil {
			return
		}
		// Whatever DecodeRecord accepts, the view reads the same.
		if dec, err := DecodeRecord(b); err == nil {
			if got := viewRecord(&v); !reflect.DeepEqual(got, dec) {
				t.Fatalf("view = %+v, want %+v", got, dec)
			}
		}
	})
}
