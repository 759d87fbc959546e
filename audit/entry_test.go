package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const entriesGolden = "entries_v1.txt"

// TestEntryEncodingGolden pins the bytes of version 1 entries and decodes
// the committed ones. The file is frozen: a failure here means the
// encoding changed, which breaks every log and receipt already issued.
func TestEntryEncodingGolden(t *testing.T) {
	path := filepath.Join("testdata", entriesGolden)
	samples := sampleEntries()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && *update {
		var b strings.Builder
		b.WriteString("# Version 1 audit entries: name, then the hex of the encoding. Frozen: only add lines.\n")
		for _, s := range samples {
			fmt.Fprintf(&b, "%s %x\n", s.name, mustEncode(t, s.entry))
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, h, ok := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if !ok || err != nil {
			t.Fatalf("bad golden line %q", line)
		}
		committed[name] = b
	}
	if len(committed) < len(samples) {
		t.Fatalf("golden file has %d entries, want at least %d", len(committed), len(samples))
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			want, ok := committed[s.name]
			if !ok {
				t.Fatalf("no committed encoding for %s", s.name)
			}
			if got := mustEncode(t, s.entry); !bytes.Equal(got, want) {
				t.Errorf("encoding changed:\n got %x\nwant %x", got, want)
			}
			d, err := DecodeEntry(want)
			if err != nil {
				t.Fatalf("committed entry does not decode: %v", err)
			}
			if !sameEntry(t, d, s.entry) {
				t.Errorf("committed entry decodes to %+v, want %+v", d, s.entry)
			}
		})
	}
}

// TestEntryLayout spells out one encoding field by field, independently of
// the encoder, so that the layout documented in entry.go is the one used.
func TestEntryLayout(t *testing.T) {
	e := Entry{Kind: KindQuery, Time: time.Unix(1, 2), Party: "l", Purpose: "p",
		Counts: map[string]uint64{"b": 2, "a": 1}}
	var want []byte
	u32 := func(v uint32) { want = binary.BigEndian.AppendUint32(want, v) }
	u64 := func(v uint64) { want = binary.BigEndian.AppendUint64(want, v) }
	str := func(s string) { u32(uint32(len(s))); want = append(want, s...) }
	want = append(want, 1, 3) // version, kind
	u64(1_000_000_002)        // time
	str("l")                  // party
	str("")                   // counterparty
	want = append(want, make([]byte, 32)...)
	u32(0)  // key epoch
	str("") // batch id
	want = append(want, make([]byte, 32)...)
	u64(0)  // record count
	u32(0)  // indicator counts
	str("") // run id
	str("") // rule set
	str("p")
	u32(2) // counts, sorted
	str("a")
	u64(1)
	str("b")
	u64(2)
	u32(0)  // recipients
	str("") // refusal action
	str("") // refusal code
	str("") // refusal reason
	if got := mustEncode(t, e); !bytes.Equal(got, want) {
		t.Errorf("layout:\n got %x\nwant %x", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := mustEncode(t, sampleEntries()[0].entry)
	// Offsets into a minimal entry with one count, built by hand.
	minimal := mustEncode(t, Entry{Kind: KindPurge, Time: time.Unix(0, 0), Party: "p",
		Counts: map[string]uint64{"a": 1, "b": 2}})
	countsAt := bytes.Index(minimal, []byte{0, 0, 0, 2, 0, 0, 0, 1, 'a'})
	if countsAt < 0 {
		t.Fatal("counts not found")
	}
	swap := bytes.Clone(minimal)
	swap[countsAt+8], swap[countsAt+8+1+4+8] = 'b', 'a'
	dup := bytes.Clone(minimal)
	dup[countsAt+8+1+4+8] = 'a'
	partyAt := 10 // version, kind, time
	badUTF8 := bytes.Clone(minimal)
	badUTF8[partyAt+4] = 0xff
	longStr := bytes.Clone(minimal)
	binary.BigEndian.PutUint32(longStr[partyAt:], MaxStringLen+1)
	manyItems := bytes.Clone(minimal)
	binary.BigEndian.PutUint32(manyItems[countsAt:], MaxItems+1)
	v2 := bytes.Clone(valid)
	v2[0] = 2
	kind0 := bytes.Clone(valid)
	kind0[1] = 0

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "version: truncated"},
		{"unknown version", v2, "unknown version 2"},
		{"zero kind", kind0, "kind: zero"},
		{"trailing byte", append(bytes.Clone(valid), 0), "trailing"},
		{"unsorted keys", swap, "strictly increasing"},
		{"duplicate keys", dup, "strictly increasing"},
		{"invalid utf-8", badUTF8, "not valid UTF-8"},
		{"string too long", longStr, "too long"},
		{"too many items", manyItems, "too many items"},
		{"too large", make([]byte, MaxEntrySize+1), "above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEntry(tt.in)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeEntry = %v, want ErrMalformed mentioning %q", err, tt.want)
			}
		})
	}
	// Every proper prefix of a valid entry is rejected.
	for n := range len(valid) {
		if _, err := DecodeEntry(valid[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d bytes: err = %v", n, err)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{"zero kind", Entry{Time: t0}, "zero kind"},
		{"zero time", Entry{Kind: KindQuery}, "time out of range"},
		{"time too late", Entry{Kind: KindQuery, Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "time out of range"},
		{"invalid utf-8", Entry{Kind: KindQuery, Time: t0, Purpose: "\xff"}, "purpose: not valid UTF-8"},
		{"long string", Entry{Kind: KindQuery, Time: t0, Party: strings.Repeat("x", MaxStringLen+1)}, "party"},
		{"too many recipients", Entry{Kind: KindKeyCeremony, Time: t0, Recipients: make([]string, MaxItems+1)}, "recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.e.MarshalBinary()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("MarshalBinary = %v, want error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := func(e Entry) Entry { return e }
	tests := []struct {
		name    string
		e       Entry
		wantErr string
	}{
		{"submission", sampleEntries()[0].entry, ""},
		{"unknown kind", Entry{Kind: 99, Time: t0, Party: "p"}, "unknown kind"},
		{"no party", Entry{Kind: KindLinkRun, Time: t0}, "no party"},
		{"no time", Entry{Kind: KindLinkRun, Party: "p"}, "no time"},
		{"submission without digest", Entry{Kind: KindSubmission, Time: t0, Party: "p"}, "batch digest"},
		{"query without purpose", Entry{Kind: KindQuery, Time: t0, Party: "lead"}, "purpose"},
		{"reidentification without purpose", Entry{Kind: KindReidentification, Time: t0, Party: "lead"}, "purpose"},
		{"refusal without code", Entry{Kind: KindRefusal, Time: t0, Party: "x", Refusal: Refusal{Action: "A"}}, "action and code"},
		{"refusal", ok(Entry{Kind: KindRefusal, Time: t0, Party: "x", Refusal: Refusal{Action: "A", Code: "C"}}), ""},
		{"bad utf-8", Entry{Kind: KindLinkRun, Time: t0, Party: "p", RunID: "\xc3"}, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate = %v, want error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestKindNames(t *testing.T) {
	for k := Kind(1); k <= lastKind; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if s := Kind(77).String(); s != "kind(77)" {
		t.Errorf("unknown kind prints as %q", s)
	}
	if _, err := ParseKind("nonsense"); err == nil {
		t.Error("ParseKind accepted nonsense")
	}
}

// TestEntryHasNoIdentityFields guards the rule that an entry cannot carry
// a token, a record reference or an identity: its fields are the reviewed
// list below, and none is a byte slice that could hold one.
func TestEntryHasNoIdentityFields(t *testing.T) {
	want := []string{"Kind", "Time", "Party", "Counterparty", "ISAHash", "KeyEpoch", "BatchID",
		"BatchDigest", "RecordCount", "IndicatorCounts", "RunID", "RuleSet", "Purpose", "Counts",
		"Recipients", "Refusal"}
	typ := reflect.TypeFor[Entry]()
	var got []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		got = append(got, f.Name)
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Uint8 {
			t.Errorf("field %s is a byte slice", f.Name)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Entry fields = %v, want %v: a new field needs a new encoding version and a privacy review", got, want)
	}
}

// FuzzDecodeEntry: the decoder never panics, and what it accepts is the
// canonical encoding of what it returns.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range sampleEntries() {
		f.Add(mustEncode(f, s.entry))
	}
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(b)) != b:\n b %x\n e %x", b, again)
		}
		e2, err := DecodeEntry(again)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("decode(encode(e)) != e: %v", err)
		}
	})
}

// FuzzEntryRoundTrip: any entry that encodes decodes to itself.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add(uint8(1), int64(0), "police", "purpose", "crime", uint64(3), "r1")
	f.Add(uint8(8), int64(-5), "", "\xff", "", uint64(0), "")
	f.Fuzz(func(t *testing.T, kind uint8, ns int64, party, purpose, key string, n uint64, rec string) {
		e := Entry{Kind: Kind(kind), Time: time.Unix(0, ns).UTC(), Party: party, Purpose: purpose,
			IndicatorCounts: map[string]uint64{key: n}, Recipients: []string{rec, party},
			Refusal: Refusal{Reason: purpose}}
		b, err := e.MarshalBinary()
		if err != nil {
			return
		}
		d, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("encoded entry does not decode: %v", err)
		}
		if !reflect.DeepEqual(d, e) {
			t.Fatalf("round trip: got %+v, want %+v", d, e)
		}
	})
}

func TestDecodeEntries(t *testing.T) {
	var enc [][]byte
	for _, s := range sampleEntries() {
		enc = append(enc, mustEncode(t, s.entry))
	}
	es, err := DecodeEntries(enc)
	if err != nil || len(es) != len(enc) {
		t.Fatalf("DecodeEntries = %d, %v", len(es), err)
	}
	enc[4] = []byte{9}
	if _, err := DecodeEntries(enc); !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "entry 4:") {
		t.Errorf("DecodeEntries with a bad entry = %v", err)
	}
}
