package isa

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignAndVerify(t *testing.T) {
	f := newFixture(t)
	a := f.a
	if err := a.VerifySignatures(nil); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: err = %v, want ErrUnsigned", err)
	}
	for i, p := range a.Parties {
		if err := a.Sign(p.ID, f.sign[p.ID]); err != nil {
			t.Fatal(err)
		}
		err := a.VerifySignatures(nil)
		if last := i == len(a.Parties)-1; last != (err == nil) {
			t.Fatalf("after %d signatures: err = %v", i+1, err)
		}
		if err != nil && !strings.Contains(err.Error(), a.Parties[len(a.Parties)-1].ID) {
			t.Errorf("error does not name a missing party: %v", err)
		}
	}
	if got := a.Unsigned(); len(got) != 0 {
		t.Errorf("Unsigned() = %v after everyone signed", got)
	}
	// Signing again replaces, never duplicates.
	if err := a.Sign("police", f.sign["police"]); err != nil {
		t.Fatal(err)
	}
	if len(a.Signatures) != len(a.Parties) {
		t.Errorf("%d signatures for %d parties", len(a.Signatures), len(a.Parties))
	}
	pins := map[string]ed25519.PublicKey{"police": f.sign["police"].Public().(ed25519.PublicKey)}
	if err := a.VerifySignatures(pins); err != nil {
		t.Errorf("own key pinned: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	f := newFixture(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name  string
		party string
		key   ed25519.PrivateKey
		want  string
	}{
		{"another party's key", "police", f.sign["dwp"], "not party \"police\"'s signing_key"},
		{"stranger's key", "police", stranger, "signing_key"},
		{"unknown party", "health", stranger, "not a party"},
		{"short key", "police", stranger[:10], "not an Ed25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.a.Sign(tc.party, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestVerifyDetects: every way a signed agreement can go wrong is caught.
func TestVerifyDetects(t *testing.T) {
	tests := []struct {
		name string
		mut  func(f *fixture) map[string]ed25519.PublicKey
		want error
	}{
		{"value changed after signing", func(f *fixture) map[string]ed25519.PublicKey {
			f.a.RetentionDays++
			return nil
		}, ErrBadSignature},
		{"party added after signing", func(f *fixture) map[string]ed25519.PublicKey {
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			f.a.Parties = append(f.a.Parties, Party{ID: "auditor-2", Role: RoleAuditor, SigningKey: pub, Certificate: f.a.Parties[0].Certificate})
			return nil
		}, ErrBadSignature},
		{"signature bit flipped", func(f *fixture) map[string]ed25519.PublicKey {
			f.a.Signatures[2].Sig[5] ^= 1
			return nil
		}, ErrBadSignature},
		{"signature moved to another party", func(f *fixture) map[string]ed25519.PublicKey {
			f.a.Signatures[0].Sig, f.a.Signatures[1].Sig = f.a.Signatures[1].Sig, f.a.Signatures[0].Sig
			return nil
		}, ErrBadSignature},
		{"signature dropped", func(f *fixture) map[string]ed25519.PublicKey {
			f.a.Signatures = f.a.Signatures[1:]
			return nil
		}, ErrUnsigned},
		{"signing key swapped and re-signed", func(f *fixture) map[string]ed25519.PublicKey {
			// An attacker replaces police's key with its own and signs as
			// police: police's node, which pins its own key, refuses.
			orig := f.sign["police"].Public().(ed25519.PublicKey)
			pub, priv, _ := ed25519.GenerateKey(rand.Reader)
			for i := range f.a.Parties {
				if f.a.Parties[i].ID == "police" {
					f.a.Parties[i].SigningKey = pub
				}
			}
			f.sign["police"] = priv
			f.signAll(t)
			return map[string]ed25519.PublicKey{"police": orig}
		}, ErrBadSignature},
		{"pinned party absent", func(f *fixture) map[string]ed25519.PublicKey {
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			return map[string]ed25519.PublicKey{"health": pub}
		}, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.signAll(t)
			if err := f.a.VerifySignatures(nil); err != nil {
				t.Fatal(err)
			}
			pins := tc.mut(f)
			if err := f.a.VerifySignatures(pins); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if _, err := NewPolicy(f.a, PolicyConfig{Pinned: pins}); err == nil {
				t.Error("NewPolicy accepted the agreement")
			}
		})
	}
}

// TestSignedFileRoundTrip: sign, write with AppendSignatures, Load.
func TestSignedFileRoundTrip(t *testing.T) {
	f := newFixture(t)
	src, err := f.a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	src = append([]byte("# A comment the parties wrote.\n"), src...)
	dir := t.TempDir()
	path := filepath.Join(dir, "isa.yaml")
	for i, p := range f.a.Parties {
		a, err := Parse(src, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Sign(p.ID, f.sign[p.ID]); err != nil {
			t.Fatal(err)
		}
		if src, err = a.AppendSignatures(src); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Load(path, nil)
		if done := i == len(f.a.Parties)-1; done != (err == nil) {
			t.Fatalf("after %s signed: Load err = %v", p.ID, err)
		}
	}
	if !bytes.HasPrefix(src, []byte("# A comment the parties wrote.\n")) {
		t.Error("signing dropped the file's comment")
	}
	a, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != f.a.Hash() {
		t.Error("hash changed through signing")
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestAppendSignaturesRefuses(t *testing.T) {
	f := newFixture(t)
	f.signAll(t)
	src, err := f.a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(src), "retention_days: 365", "retention_days: 366", 1)
	if _, err := f.a.AppendSignatures([]byte(other)); err == nil || !strings.Contains(err.Error(), "different agreement") {
		t.Errorf("different agreement: err = %v", err)
	}
	// signatures not last
	i := strings.Index(string(src), "signatures:")
	moved := "signatures:" + strings.SplitAfterN(string(src[i:]), "signatures:", 2)[1]
	notLast := moved + string(src[:i])
	if _, err := f.a.AppendSignatures([]byte(notLast)); err == nil || !strings.Contains(err.Error(), "last section") {
		t.Errorf("signatures first: err = %v", err)
	}
}

func TestSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "police-isa.key")
	pubText, err := WriteSigningKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSigningKeyFile(path); err == nil {
		t.Error("signing key file replaced")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	priv, err := ReadSigningKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseSigningKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("public key printed does not match the file")
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte(pubText), 0o600)
	if _, err := ReadSigningKeyFile(bad); err == nil || strings.Contains(err.Error(), pubText[8:]) {
		t.Errorf("public key read as a signing key file: %v", err)
	}
}

// FuzzSigningKeys: the key parsers never panic, and what they accept
// re-encodes to the same text.
func FuzzSigningKeys(f *testing.F) {
	f.Add("ed25519:3gpFAV5dq5lteh4rnC9e4ZR5xCfAjpatXMpQCATpfWs=")
	f.Add(signingSecretPrefix + strings.Repeat("A", 43))
	f.Add("ed25519:")
	f.Fuzz(func(t *testing.T, s string) {
		if k, err := ParseSigningKey(s); err == nil && FormatSigningKey(k) != s {
			t.Fatalf("public key %q re-encodes as %q", s, FormatSigningKey(k))
		}
		if k, err := parseSigningSecret(s); err == nil {
			again, err := parseSigningSecret(signingSecretPrefix + base64.RawURLEncoding.EncodeToString(k.Seed()))
			if err != nil || !again.Equal(k) {
				t.Fatalf("signing key %q does not round-trip", s)
			}
		}
	})
}

func TestMergeSignatures(t *testing.T) {
	f := newFixture(t)
	enc, err := f.a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Each party signs its own copy.
	var copies []*Agreement
	for _, p := range f.a.Parties {
		c, err := Parse(enc, "copy")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Sign(p.ID, f.sign[p.ID]); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	merged := copies[0]
	for _, c := range copies[1:] {
		if err := merged.MergeSignatures(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := merged.VerifySignatures(nil); err != nil {
		t.Errorf("merged copy: %v", err)
	}
	// A forged signature and a different agreement are refused.
	forged, _ := Parse(enc, "forged")
	forged.Signatures = []Signature{{Party: "dwp", Sig: make([]byte, 64)}}
	fresh, _ := Parse(enc, "fresh")
	if err := fresh.MergeSignatures(forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged: err = %v", err)
	}
	other, _ := Parse(enc, "other")
	other.RetentionDays++
	if err := fresh.MergeSignatures(other); err == nil {
		t.Error("merged signatures from a different agreement")
	}
}
