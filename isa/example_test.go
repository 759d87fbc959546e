package isa

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const (
	exampleTemplate = "testdata/example.yaml"
	exampleSigned   = "../deploy/examples/isa-signed.yaml"
	canonicalGolden = "testdata/example.canonical.json"
	hashGolden      = "testdata/example.hash"
)

// exampleKey is the throwaway signing key of party in the example
// agreement. Its seed is public, so it protects nothing: it exists only so
// that the example carries real, checkable signatures.
func exampleKey(party string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tfmatch example agreement, throwaway signing key: " + party))
	return ed25519.NewKeyFromSeed(seed[:])
}

func readGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the current output:\n got: %s\nwant: %s", path, got, want)
	}
}

// TestCanonicalGolden pins the canonical bytes and hash of the example
// agreement. A failure here means the canonical form changed: every
// signed agreement and every key derived under one would change with it.
func TestCanonicalGolden(t *testing.T) {
	src, err := os.ReadFile(exampleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(src, exampleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	c := a.Canonical()
	if !json.Valid(c) {
		t.Fatalf("canonical bytes are not JSON: %s", c)
	}
	readGolden(t, canonicalGolden, c)
	h := a.Hash()
	readGolden(t, hashGolden, []byte(hex.EncodeToString(h[:])+"\n"))
	if h != sha256.Sum256(c) {
		t.Error("Hash is not SHA-256 of Canonical")
	}
	if kc := a.KeyContext(3); kc.ISAHash != h || kc.Epoch != 3 {
		t.Errorf("KeyContext = %+v", kc)
	}
}

// TestExampleSigned makes deploy/examples/isa-signed.yaml from the
// template by signing it with every party's throwaway key, and checks the
// committed file is exactly that and verifies.
func TestExampleSigned(t *testing.T) {
	src, err := os.ReadFile(exampleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(src, exampleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Parties {
		if err := a.Sign(p.ID, exampleKey(p.ID)); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := a.AppendSignatures(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, src) {
		t.Error("signing did not keep the file's text")
	}
	readGolden(t, filepath.FromSlash(exampleSigned), signed)

	pins := map[string]ed25519.PublicKey{}
	for _, p := range a.Parties {
		pins[p.ID] = exampleKey(p.ID).Public().(ed25519.PublicKey)
	}
	b, err := Load(filepath.FromSlash(exampleSigned), pins)
	if err != nil {
		t.Fatal(err)
	}
	if b.Hash() != a.Hash() {
		t.Error("signing changed the agreement's hash")
	}
	// Signing again is a fixed point.
	again, err := b.AppendSignatures(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, signed) {
		t.Errorf("re-appending signatures changed the file:\n%s", again)
	}
}
