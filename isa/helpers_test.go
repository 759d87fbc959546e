package isa

import (
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"testing"
	"time"

	"filippo.io/age"

	"tfmatch/pki"
)

var update = flag.Bool("update", false, "rewrite golden files and deploy/examples/isa-signed.yaml")

var (
	testFrom  = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	testUntil = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	testNow   = time.Date(2025, 10, 1, 12, 0, 0, 0, time.UTC)
)

// fixture is an agreement made at run time with fresh keys: its parties'
// signing keys and age identities, and the CA their certificates chain to.
type fixture struct {
	a    *Agreement
	sign map[string]ed25519.PrivateKey
	ids  map[string]*age.X25519Identity
	ca   *pki.CA
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ca, err := pki.NewCA("isa test CA", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sign: map[string]ed25519.PrivateKey{}, ids: map[string]*age.X25519Identity{}, ca: ca}
	f.a = &Agreement{
		ID: "test-isa", Version: 1,
		Purpose: "Find troubled families.", LegalBasis: "Public task.",
		ValidFrom: testFrom, ValidUntil: testUntil,
		RetentionDays: 365, SmallNumberThreshold: 10,
		RuleSet: RuleSetRef{Version: "phase1-2012"},
	}
	type spec struct {
		id         string
		role       Role
		recipient  bool
		indicators []string
	}
	for _, s := range []spec{
		{"council", RoleAgency, true, []string{"crime_asb", "local_concern"}},
		{"police", RoleAgency, true, []string{"crime_asb"}},
		{"dwp", RoleAgency, true, []string{"work"}},
		{"lead", RoleLead, true, nil},
		{"matcher", RoleMatcher, true, nil},
		{"auditor", RoleAuditor, false, nil},
	} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		f.sign[s.id] = priv
		p := Party{ID: s.id, Role: s.role, SigningKey: pub, Indicators: s.indicators,
			Certificate: CertIdentity{CA: pki.Fingerprint(ca.Cert)}}
		if s.recipient {
			id, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			f.ids[s.id] = id
			p.AgeRecipient = id.Recipient().String()
		}
		f.a.Parties = append(f.a.Parties, p)
	}
	if err := f.a.Validate(); err != nil {
		t.Fatalf("fixture invalid: %v", err)
	}
	return f
}

func (f *fixture) signAll(t testing.TB) {
	t.Helper()
	for _, p := range f.a.Parties {
		if err := f.a.Sign(p.ID, f.sign[p.ID]); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) policy(t testing.TB, now time.Time) *Policy {
	t.Helper()
	f.signAll(t)
	p, err := NewPolicy(f.a, PolicyConfig{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
