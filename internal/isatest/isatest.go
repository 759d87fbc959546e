// Package isatest makes signed information-sharing agreements and their
// policies for tests: every party gets a fresh signing key and age
// identity, and every party signs. It is for tests only; real agreements
// are drafted by people and signed with `matchctl isa sign`.
package isatest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

	"tfmatch/isa"
)

// Party is one party of a test agreement.
type Party struct {
	ID         string
	Role       isa.Role
	Indicators []string // agencies only
}

// Config describes a test agreement. Zero values mean defaults.
type Config struct {
	// Parties of the agreement. A matcher party "matcher" is added when
	// none has the matcher role, and a lead "lead" when none has the lead
	// role.
	Parties []Party
	// ValidFrom and ValidUntil (default 2025-01-01 to 2035-01-01 UTC).
	ValidFrom, ValidUntil time.Time
	// Now is the policy's clock (default time.Now).
	Now func() time.Time
}

// testCA is the CA fingerprint every test party lists: test
// agreements are used where the caller's party comes from elsewhere.
func testCA() string {
	h := sha256.Sum256([]byte("isatest CA"))
	return "SHA256:" + hex.EncodeToString(h[:])
}

// Agreement returns a valid agreement signed by every party.
func Agreement(t testing.TB, cfg Config) *isa.Agreement {
	t.Helper()
	if cfg.ValidFrom.IsZero() {
		cfg.ValidFrom = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.ValidUntil.IsZero() {
		cfg.ValidUntil = time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	parties := slices.Clone(cfg.Parties)
	for _, need := range []Party{{ID: "matcher", Role: isa.RoleMatcher}, {ID: "lead", Role: isa.RoleLead}} {
		if !slices.ContainsFunc(parties, func(p Party) bool { return p.Role == need.Role }) {
			parties = append(parties, need)
		}
	}
	a := &isa.Agreement{
		ID: "test-agreement", Version: 1,
		Purpose: "Tests.", LegalBasis: "Tests.",
		ValidFrom: cfg.ValidFrom, ValidUntil: cfg.ValidUntil,
		RetentionDays: 365, SmallNumberThreshold: 10,
		RuleSet: isa.RuleSetRef{Version: "phase1-2012"},
	}
	signers := map[string]ed25519.PrivateKey{}
	for _, p := range parties {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		signers[p.ID] = priv
		a.Parties = append(a.Parties, isa.Party{
			ID: p.ID, Role: p.Role, Certificate: isa.CertIdentity{CA: testCA()},
			SigningKey: pub, AgeRecipient: id.Recipient().String(), Indicators: slices.Clone(p.Indicators),
		})
	}
	for _, p := range a.Parties {
		if err := a.Sign(p.ID, signers[p.ID]); err != nil {
			t.Fatalf("isatest: %v", err)
		}
	}
	return a
}

// Policy returns the policy of a new agreement (see Agreement).
func Policy(t testing.TB, cfg Config) *isa.Policy {
	t.Helper()
	p, err := isa.NewPolicy(Agreement(t, cfg), isa.PolicyConfig{Now: cfg.Now})
	if err != nil {
		t.Fatalf("isatest: %v", err)
	}
	return p
}
