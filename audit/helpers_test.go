package audit

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata (never the frozen entries_v1.txt unless it is missing)")

// t0 is the time the sample events start.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func isa(s string) [32]byte { return sha256.Sum256([]byte("isa:" + s)) }

func digest(s string) [32]byte { return sha256.Sum256([]byte("batch:" + s)) }

// namedEntry is a sample entry with a stable name for golden files.
type namedEntry struct {
	name  string
	entry Entry
}

// sampleEntries returns one entry of every kind, and a few edge cases.
// The golden file pins their encodings: never change an existing one, add
// new ones at the end.
func sampleEntries() []namedEntry {
	return []namedEntry{
		{"submission", Entry{
			Kind: KindSubmission, Time: t0, Party: "police", ISAHash: isa("2026"), KeyEpoch: 3,
			BatchID: "police-2026-03-02", BatchDigest: digest("p1"), RecordCount: 1200,
			IndicatorCounts: map[string]uint64{"crime": 310, "asb": 95, "dv": 0},
		}},
		{"link-run", Entry{
			Kind: KindLinkRun, Time: t0.Add(time.Hour), Party: "lead", RunID: "run-0001",
			RuleSet: "phase1-2012.3", Purpose: "monthly identification", RecordCount: 5400,
			Counts: map[string]uint64{"persons": 4100, "households": 1800, "flagged": 120},
		}},
		{"query", Entry{
			Kind: KindQuery, Time: t0.Add(2 * time.Hour), Party: "lead", RunID: "run-0001",
			Purpose: "allocate key workers", RecordCount: 120,
		}},
		{"reidentification", Entry{
			Kind: KindReidentification, Time: t0.Add(3 * time.Hour), Party: "lead",
			Counterparty: "dwp", Purpose: "contact the family's key worker", RecordCount: 2,
			ISAHash: isa("2026"),
		}},
		{"key-ceremony", Entry{
			Kind: KindKeyCeremony, Time: t0.Add(-24 * time.Hour), Party: "custodian",
			ISAHash: isa("2026"), KeyEpoch: 1, Recipients: []string{"council", "education", "police", "dwp"},
		}},
		{"key-rotation", Entry{
			Kind: KindKeyRotation, Time: t0.Add(4 * time.Hour), Party: "custodian",
			ISAHash: isa("2026"), KeyEpoch: 4, Recipients: []string{"council", "police"},
		}},
		{"purge", Entry{
			Kind: KindPurge, Time: t0.Add(5 * time.Hour), Party: "matcher", RecordCount: 700,
			Purpose: "retention period ended", Counts: map[string]uint64{"police": 500, "dwp": 200},
		}},
		{"refusal", Entry{
			Kind: KindRefusal, Time: t0.Add(6 * time.Hour), Party: "education",
			Refusal: Refusal{Action: "SubmitBatch", Code: "PermissionDenied", Reason: "indicator \"work\" is not allowed to this party by the ISA"},
		}},
		{"unknown-kind", Entry{
			Kind: Kind(200), Time: time.Unix(0, -1).UTC(), Party: "ünïcode ✓",
		}},
		{"extremes", Entry{
			Kind: KindPurge, Time: time.Unix(0, 1<<62).UTC(), Party: "x", KeyEpoch: 1<<32 - 1,
			RecordCount: 1<<64 - 1, Counts: map[string]uint64{"": 1<<64 - 1, "a": 0},
			Recipients: []string{""},
		}},
	}
}

// sameEntry compares entries by their canonical encoding, and by time
// location-free equality.
func sameEntry(t *testing.T, got, want Entry) bool {
	t.Helper()
	gb, err1 := got.MarshalBinary()
	wb, err2 := want.MarshalBinary()
	if err1 != nil || err2 != nil {
		t.Fatalf("encode: %v, %v", err1, err2)
	}
	return bytes.Equal(gb, wb) && got.Time.Equal(want.Time)
}

func mustEncode(t testing.TB, e Entry) []byte {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, or writes it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// testKey returns a fresh signing key for the named log.
func testKey(t testing.TB, name string) SigningKey {
	t.Helper()
	k, err := GenerateSigningKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testConfig returns a config for key with the given checkpoint bound.
func testConfig(t testing.TB, k SigningKey, every uint64) Config {
	t.Helper()
	s, err := k.Signer()
	if err != nil {
		t.Fatal(err)
	}
	return Config{Signer: s, VerifierKey: k.VerifierKey(), CheckpointEvery: every, CheckpointInterval: time.Hour}
}

func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	if dir == "" {
		cfg.InMemory = true
	}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
