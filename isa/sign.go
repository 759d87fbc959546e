package isa

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// signatureContext starts every signed message, so that a party's ISA
// signing key can never be used to sign anything else by accident.
const signatureContext = "tfmatch-isa-signature-v1\n"

var (
	// ErrUnsigned is returned while some party has not signed.
	ErrUnsigned = errors.New("agreement not signed by every party")
	// ErrBadSignature is returned for a signature that does not verify,
	// comes from no party, or a signing key that differs from the one the
	// verifier pinned.
	ErrBadSignature = errors.New("bad agreement signature")
)

// SignedMessage returns the bytes every party signs:
// "tfmatch-isa-signature-v1\n" followed by the canonical bytes.
func (a *Agreement) SignedMessage() []byte {
	return append([]byte(signatureContext), a.Canonical()...)
}

// Sign adds (or replaces) party's signature. key must be the private half
// of the signing key the agreement lists for party.
func (a *Agreement) Sign(party string, key ed25519.PrivateKey) error {
	if err := a.Validate(); err != nil {
		return err
	}
	p, ok := a.Party(party)
	if !ok {
		return fmt.Errorf("isa: signing: %w: %q", ErrUnknownParty, party)
	}
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("isa: signing: not an Ed25519 private key")
	}
	if !sameKey(key.Public().(ed25519.PublicKey), p.SigningKey) {
		return fmt.Errorf("isa: signing: the key is not party %q's signing_key", party)
	}
	sig := ed25519.Sign(key, a.SignedMessage())
	a.Signatures = slices.DeleteFunc(a.Signatures, func(s Signature) bool { return s.Party == party })
	a.Signatures = append(a.Signatures, Signature{Party: party, Sig: sig})
	return nil
}

// Unsigned returns the parties that have not yet signed, in file order.
// Signatures are not verified.
func (a *Agreement) Unsigned() []string {
	var out []string
	for _, p := range a.Parties {
		if !slices.ContainsFunc(a.Signatures, func(s Signature) bool { return s.Party == p.ID }) {
			out = append(out, p.ID)
		}
	}
	return out
}

// VerifySignatures checks that the agreement is valid and that every
// party has signed it with the signing_key it lists. pinned, which may be
// nil, holds keys the verifier knows from elsewhere (a node knows its own;
// an auditor may hold all of them): the agreement must list exactly those
// keys for those parties. Without a pin, an agreement only proves that it
// was signed by the keys it lists, so every node should pin at least its
// own key.
func (a *Agreement) VerifySignatures(pinned map[string]ed25519.PublicKey) error {
	if err := a.Validate(); err != nil {
		return err
	}
	for party, k := range pinned {
		p, ok := a.Party(party)
		if !ok {
			return fmt.Errorf("isa: %w: pinned party %q is not in the agreement", ErrBadSignature, party)
		}
		if !sameKey(p.SigningKey, k) {
			return fmt.Errorf("isa: %w: party %q's signing_key is not the key this node holds for it", ErrBadSignature, party)
		}
	}
	msg := a.SignedMessage()
	for _, s := range a.Signatures {
		p, ok := a.Party(s.Party)
		if !ok {
			return fmt.Errorf("isa: %w: signature from %q, which is not a party", ErrBadSignature, s.Party)
		}
		if !ed25519.Verify(p.SigningKey, msg, s.Sig) {
			return fmt.Errorf("isa: %w: party %q's signature does not verify (the agreement changed after it signed, or it signed with another key)", ErrBadSignature, s.Party)
		}
	}
	if missing := a.Unsigned(); len(missing) > 0 {
		return fmt.Errorf("isa: %w: waiting for %s", ErrUnsigned, strings.Join(missing, ", "))
	}
	return nil
}

// Load reads an agreement file and checks that it is valid and signed by
// every party (see VerifySignatures for pinned). Nodes call it at start
// and refuse to start on any error.
func Load(path string, pinned map[string]ed25519.PublicKey) (*Agreement, error) {
	a, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := a.VerifySignatures(pinned); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// signingSecretPrefix starts the text encoding of a party's private
// signing key (its 32-byte Ed25519 seed, unpadded base64url).
const signingSecretPrefix = "tfmatch-isa-signing-key-v1:"

// WriteSigningKeyFile generates a party's Ed25519 signing key, writes it to
// path with mode 0600 (refusing to replace an existing file) and returns
// the public half's text encoding, for the agreement's signing_key field.
func WriteSigningKeyFile(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("isa: generating signing key: %w", err)
	}
	text := signingSecretPrefix + base64.RawURLEncoding.EncodeToString(priv.Seed()) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("isa: writing signing key: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("isa: writing signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("isa: writing signing key: %w", err)
	}
	return FormatSigningKey(pub), nil
}

// ReadSigningKeyFile reads a key written by WriteSigningKeyFile.
func ReadSigningKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("isa: reading signing key: %w", err)
	}
	k, err := parseSigningSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("isa: %s: %w", path, err)
	}
	return k, nil
}

func parseSigningSecret(text string) (ed25519.PrivateKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(text), signingSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("not a signing key file: want prefix %q", signingSecretPrefix)
	}
	seed, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("want %d base64url bytes after %q", ed25519.SeedSize, signingSecretPrefix)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// MergeSignatures adds to a the signatures in b, a copy of the same
// agreement signed separately, that a lacks. Each added signature must
// verify. It lets parties sign copies in parallel.
func (a *Agreement) MergeSignatures(b *Agreement) error {
	if a.Hash() != b.Hash() {
		return errors.New("isa: merging signatures: the copies are different agreements")
	}
	msg := a.SignedMessage()
	for _, s := range b.Signatures {
		if slices.ContainsFunc(a.Signatures, func(o Signature) bool { return o.Party == s.Party }) {
			continue
		}
		p, ok := a.Party(s.Party)
		if !ok || !ed25519.Verify(p.SigningKey, msg, s.Sig) {
			return fmt.Errorf("isa: merging signatures: %w: party %q", ErrBadSignature, s.Party)
		}
		a.Signatures = append(a.Signatures, Signature{Party: s.Party, Sig: slices.Clone(s.Sig)})
	}
	return nil
}
