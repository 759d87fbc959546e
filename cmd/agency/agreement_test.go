package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"tfmatch/internal/isatest"
	"tfmatch/isa"
	"tfmatch/keys"
)

// agreementWithRecipient returns a signed agreement in which party
// "police" has the recipient of id.
func agreementWithRecipient(t *testing.T, id *age.X25519Identity) *isa.Agreement {
	t.Helper()
	a := isatest.Agreement(t, isatest.Config{Parties: []isatest.Party{{ID: "police", Role: isa.RoleAgency, Indicators: []string{"crime_asb"}}}})
	for i := range a.Parties {
		if a.Parties[i].ID == "police" {
			a.Parties[i].AgeRecipient = id.Recipient().String()
		}
	}
	return a // signatures no longer verify; loadIdentity does not check them
}

func writeIdentity(t *testing.T, dir, name string) (string, *age.X25519Identity) {
	t.Helper()
	path := filepath.Join(dir, name)
	if _, err := keys.WriteIdentityFile(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	ids, err := keys.ReadIdentityFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, ids[0].(*age.X25519Identity)
}

func TestLoadIdentity(t *testing.T) {
	dir := t.TempDir()
	mine, id := writeIdentity(t, dir, "mine.identity")
	other, _ := writeIdentity(t, dir, "other.identity")
	a := agreementWithRecipient(t, id)
	if got, err := loadIdentity(mine, a, "police"); err != nil || got.Recipient().String() != id.Recipient().String() {
		t.Errorf("own identity: %v", err)
	}
	if _, err := loadIdentity(other, a, "police"); err == nil || !strings.Contains(err.Error(), "age_recipient") {
		t.Errorf("another identity: %v, want a refusal naming age_recipient", err)
	}
	if _, err := loadIdentity(filepath.Join(dir, "missing"), a, "police"); err == nil {
		t.Error("a missing identity file was accepted")
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	_, id := writeIdentity(t, dir, "mine.identity")
	_, other := writeIdentity(t, dir, "other.identity")
	a := isatest.Agreement(t, isatest.Config{Parties: []isatest.Party{{ID: "police", Role: isa.RoleAgency, Indicators: []string{"crime_asb"}}}})
	p, err := keys.NewProgrammeSecret()
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(name string, c keys.Context, to *age.X25519Identity) string {
		data, err := keys.WrapProgrammeSecret(p, c, []age.Recipient{to.Recipient()})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	otherISA := a.KeyContext(1)
	otherISA.ISAHash[0] ^= 1
	tests := []struct {
		name    string
		path    string
		wantErr error // nil: opens
	}{
		{"made for this agreement and epoch", wrap("ok.age", a.KeyContext(1), id), nil},
		{"another epoch", wrap("epoch2.age", a.KeyContext(2), id), keys.ErrWrongContext},
		{"another agreement", wrap("other-isa.age", otherISA, id), keys.ErrWrongContext},
		{"wrapped to another node", wrap("other-node.age", a.KeyContext(1), other), keys.ErrUnwrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadSecret(tt.path, id, a.KeyContext(1))
			if tt.wantErr == nil {
				if err != nil || !got.Equal(p) {
					t.Fatalf("loadSecret: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("loadSecret: %v, want %v", err, tt.wantErr)
			}
		})
	}
	// A clear-text development secret is not a wrapped one.
	plain := filepath.Join(dir, "programme.key")
	if err := keys.WriteFile(plain, p); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSecret(plain, id, a.KeyContext(1)); err == nil {
		t.Error("a clear-text secret was accepted")
	}
}

// TestLocalKeyAtRest: the local key is made encrypted, read back the same,
// unreadable without the identity, and a clear-text key from an older
// version is encrypted and removed.
func TestLocalKeyAtRest(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	_, id := writeIdentity(t, t.TempDir(), "node.identity")
	_, other := writeIdentity(t, t.TempDir(), "other.identity")

	state := t.TempDir()
	k1, err := loadOrCreateLocalKey(state, id, logger)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadOrCreateLocalKey(state, id, logger)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second start: %v, same key %v", err, k1.Equal(k2))
	}
	if _, err := loadOrCreateLocalKey(state, other, logger); err == nil {
		t.Error("another identity read the local key")
	}
	data, err := os.ReadFile(filepath.Join(state, localKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := k1.MarshalText()
	if strings.Contains(string(data), string(text)) {
		t.Error("the local key is stored in the clear")
	}

	// Migration from a clear-text key.
	old := t.TempDir()
	legacy, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFile(filepath.Join(old, localKeyPlainFile), legacy); err != nil {
		t.Fatal(err)
	}
	got, err := loadOrCreateLocalKey(old, id, logger)
	if err != nil || !got.Equal(legacy) {
		t.Fatalf("migration: %v, same key %v", err, got.Equal(legacy))
	}
	if _, err := os.Stat(filepath.Join(old, localKeyPlainFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clear-text key is still there: %v", err)
	}
	if got, err := loadOrCreateLocalKey(old, id, logger); err != nil || !got.Equal(legacy) {
		t.Errorf("after migration: %v", err)
	}
}
