package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"tfmatch/matchkey"
)

// viewRecord rebuilds a Record from a view, for comparing with DecodeRecord.
func viewRecord(v *RecordView) Record {
	r := Record{Source: string(v.Source), Ref: v.Ref, Filter: bytes.Clone(v.Filter), Expires: v.Expires}
	v.ForEachToken(func(kind matchkey.Kind, value *[TokenLen]byte) {
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
	for _, file := range []string{"testdata/record_v1.hex", "testdata/record_v2.hex", "testdata/record_v3.hex", "testdata/record_v4.hex", "testdata/record_v5.hex", "testdata/record_v6.hex"} {
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
	valid := mustEncode(t, Record{Source: "s", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.NHS}}, Indicators: map[string]bool{"x": true, "y": false}})
	for name, b := range map[string][]byte{
		"empty":             nil,
		"version":           append([]byte{9}, valid[1:]...),
		"kind code 0":       codedWith(0),
		"kind code unknown": codedWith(byte(len(kindCodes))),
		"v6 without filter": append([]byte{recordVersionShortFilter}, valid[1:]...),
		"v2 short":          readHex(t, "testdata/record_v2.hex")[:200],
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
	f.Add(mustEncode(f, Record{Source: "police", Tokens: []Token{{Kind: matchkey.NINO}}, Indicators: map[string]bool{"crime_asb": true}}))
	f.Add(mustEncode(f, Record{Source: "x", Filter: make([]byte, FilterLen)}))
	f.Add([]byte{5, 0x80, 0x00})
	f.Add(mustEncode(f, Record{Source: "x", Tokens: []Token{{Kind: matchkey.NINO}, {Kind: matchkey.UPRN}}, Filter: make([]byte, FilterLen)}))
	for _, file := range []string{"testdata/record_v1.hex", "testdata/record_v2.hex", "testdata/record_v3.hex", "testdata/record_v4.hex"} {
		f.Add(readHex(f, file))
	}
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

// TestForEachRecordView checks the scan (on three goroutines) against
// ForEachRecord on a store of several chunks: the same records in the
// same order, and an error from fn, or a cancelled context, ends the scan
// with that error and leaves no goroutine behind.
func TestForEachRecordView(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	const n = 3000 // about 3 MB of values: several chunks
	for b := range 10 {
		var recs []Record
		for i := range n / 10 {
			r := Record{Ref: refOf(fmt.Sprint(b, "/", i)), Indicators: map[string]bool{"work": i%2 == 0}, Filter: make([]byte, FilterLen)}
			for k, kind := range []matchkey.Kind{matchkey.NameDOB, matchkey.BlockName, matchkey.UPRN, matchkey.NINO, matchkey.House} {
				for j := range 5 {
					r.Tokens = append(r.Tokens, tok(kind, fmt.Sprint(b, i, k, j)))
				}
			}
			r.Filter[i%FilterLen] = byte(i)
			recs = append(recs, r)
		}
		if _, err := s.PutBatch(ctx, "police", fmt.Sprint("b", b), recs); err != nil {
			t.Fatal(err)
		}
	}
	var want []Record
	if err := s.ForEachRecord(ctx, func(r Record) error { want = append(want, r); return nil }); err != nil {
		t.Fatal(err)
	}
	var got []Record
	if err := s.ForEachRecordView(ctx, func(v *RecordView) error { got = append(got, viewRecord(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != n || !reflect.DeepEqual(got, want) {
		t.Fatalf("ForEachRecordView gave %d records, ForEachRecord %d (or they differ)", len(got), len(want))
	}

	before := runtime.NumGoroutine()
	stopAt := errors.New("stop here")
	for _, at := range []int{0, 1, 1500, n - 1} {
		seen := 0
		err := s.ForEachRecordView(ctx, func(*RecordView) error {
			if seen == at {
				return stopAt
			}
			seen++
			return nil
		})
		if !errors.Is(err, stopAt) || seen != at {
			t.Errorf("stop at %d: err %v after %d records", at, err, seen)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	seen := 0
	err := s.ForEachRecordView(cctx, func(*RecordView) error {
		if seen++; seen == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || seen >= n {
		t.Errorf("cancelled scan: err %v after %d records", err, seen)
	}
	for range 100 {
		if runtime.NumGoroutine() <= before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after the scans, %d before", g, before)
	}
}
