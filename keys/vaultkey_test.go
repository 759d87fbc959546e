package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/hkdf"

	"tfmatch/matchkey"
)

func TestVaultKey(t *testing.T) {
	l := LocalKey{fixedSecret(0x40)}
	vk, err := l.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	// Independently: HKDF-SHA256 with the frozen label, no salt.
	want := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, l.s[:], nil, []byte("tfmatch/v1/local/vault-encryption")), want); err != nil {
		t.Fatal(err)
	}
	// Pinned, so a change of label or construction is caught even if both
	// sides above change together.
	const pinned = "4b8798650b2567f55539ee8f69093968333b760449ae35d50484090d8c32bc39"
	got := vk.AES256()
	if !bytes.Equal(got, want) {
		t.Fatalf("vault key = %x, want %x", got, want)
	}
	if hex.EncodeToString(got) != pinned {
		t.Errorf("vault key = %x, pinned %s", got, pinned)
	}
	again, _ := l.VaultKey()
	if !again.Equal(vk) {
		t.Error("VaultKey is not deterministic")
	}
	other, _ := LocalKey{fixedSecret(0x41)}.VaultKey()
	if other.Equal(vk) {
		t.Error("two local keys gave one vault key")
	}
	gk, _ := l.GroupKey(matchkey.HouseholdGroup)
	if bytes.Equal(gk.k[:], got) {
		t.Error("the vault key equals the household group key")
	}
	got[0] ^= 1
	if !bytes.Equal(vk.AES256(), want) {
		t.Error("AES256 returned the key's own bytes, not a copy")
	}
	if s := vk.String(); strings.Contains(s, hex.EncodeToString(want[:4])) || !strings.Contains(s, "redacted") {
		t.Errorf("String = %q", s)
	}
	if vk.IsZero() || !(VaultKey{}).IsZero() {
		t.Error("IsZero wrong")
	}
	s1, err := NewScratchVaultKey()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := NewScratchVaultKey()
	if s1.IsZero() || s1.Equal(s2) {
		t.Error("scratch vault keys are not fresh random keys")
	}
}
