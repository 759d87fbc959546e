package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"filippo.io/age"

	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/pki"
)

// loadAgreement loads the signed agreement and checks that this node may
// act under it as c.source: every party has signed (with the node's own
// signing key pinned when -signing-key is given), the node's certificate
// is the one the agreement names for c.source, c.source is an agency, and
// the agreement is in force.
func loadAgreement(c config, logger *slog.Logger) (*isa.Policy, error) {
	var pinned map[string]ed25519.PublicKey
	if c.signingKey != "" {
		k, err := isa.ParseSigningKey(c.signingKey)
		if err != nil {
			return nil, fmt.Errorf("-signing-key: %w", err)
		}
		pinned = map[string]ed25519.PublicKey{c.source: k}
	}
	a, err := isa.Load(c.isa, pinned)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	policy, err := isa.NewPolicy(a, isa.PolicyConfig{Pinned: pinned})
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	tlsCfg, err := pki.ClientConfig(c.cert, c.key, c.ca)
	if err != nil {
		return nil, err
	}
	self, err := policy.IdentifySelf(tlsCfg.Certificates[0], tlsCfg.RootCAs)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: this node's certificate: %w", err)
	}
	if self != c.source {
		return nil, fmt.Errorf("refusing to start: this node's certificate speaks for %q, not -source %q", self, c.source)
	}
	if err := policy.MayDo(c.source, isa.ActionSubmit); err != nil {
		return nil, fmt.Errorf("refusing to start under agreement %s v%d: %w", a.ID, a.Version, err)
	}
	return policy, nil
}

// loadIdentity reads the node's age identity and checks that it is the
// one whose recipient the agreement lists for party.
func loadIdentity(path string, a *isa.Agreement, party string) (*age.X25519Identity, error) {
	ids, err := keys.ReadIdentityFile(path)
	if err != nil {
		return nil, err
	}
	p, _ := a.Party(party)
	want, err := keys.CanonicalRecipient(p.AgeRecipient)
	if err != nil {
		return nil, fmt.Errorf("the agreement's age_recipient for %q: %w", party, err)
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok && x.Recipient().String() == want {
			return x, nil
		}
	}
	return nil, fmt.Errorf("-identity %s: no identity in it matches the age_recipient the agreement lists for %q", path, party)
}

// loadSecret opens the programme secret the key ceremony wrapped to this
// node, and checks that it was made for the agreement and epoch the node
// runs under. The secret stays in memory only.
func loadSecret(path string, id age.Identity, want keys.Context) (keys.ProgrammeSecret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return keys.ProgrammeSecret{}, fmt.Errorf("-secret: %w", err)
	}
	p, got, err := keys.UnwrapProgrammeSecret(data, id)
	if err != nil {
		return keys.ProgrammeSecret{}, fmt.Errorf("-secret %s: %w", path, err)
	}
	if err := keys.CheckContext(got, want); err != nil {
		return keys.ProgrammeSecret{}, fmt.Errorf("-secret %s: %w", path, err)
	}
	return p, nil
}

// Local key files in the state directory: the key encrypted at rest to the
// node's own recipient, and the clear-text file older versions wrote,
// which is encrypted and removed on first start.
const (
	localKeyFile      = "local.key.age"
	localKeyPlainFile = "local.key"
)

// loadOrCreateLocalKey reads the agency's local key, encrypted at rest to
// id, making one on first run. It never leaves the agency: losing it makes
// every reference the matcher holds unresolvable.
func loadOrCreateLocalKey(state string, id *age.X25519Identity, logger *slog.Logger) (keys.LocalKey, error) {
	var k keys.LocalKey
	path := filepath.Join(state, localKeyFile)
	err := keys.ReadFileEncrypted(path, &k, id)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	plain := filepath.Join(state, localKeyPlainFile)
	switch err := keys.ReadFile(plain, &k); {
	case err == nil:
		if err := keys.WriteFileEncrypted(path, k, id.Recipient()); err != nil {
			return k, err
		}
		if err := os.Remove(plain); err != nil {
			return k, fmt.Errorf("removing the clear-text local key: %w", err)
		}
		logger.Info("encrypted the local key at rest", "path", path)
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return k, err
	}
	if k, err = keys.NewLocalKey(); err != nil {
		return k, err
	}
	if err := keys.WriteFileEncrypted(path, k, id.Recipient()); err != nil {
		return k, err
	}
	logger.Info("created local key", "path", path)
	return k, nil
}
