package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrMalformedKey is returned when a key's text encoding cannot be read.
var ErrMalformedKey = errors.New("malformed key")

// Text-encoding prefixes. Each names the key's purpose and version so a key
// file can never be read as a key of another kind.
const (
	prefixProgramme = "tfmatch-programme-secret-v1:"
	prefixLocal     = "tfmatch-local-key-v1:"
	prefixBlinding  = "tfmatch-blinding-key-v1:"
)

// secret32 is the representation shared by every 32-byte secret type. It is
// unexported so callers cannot turn one kind of key into another.
type secret32 [32]byte

func newSecret32(r io.Reader) (secret32, error) {
	var s secret32
	if _, err := io.ReadFull(r, s[:]); err != nil {
		return s, fmt.Errorf("reading randomness: %w", err)
	}
	return s, nil
}

func (s secret32) equal(o secret32) bool {
	return subtle.ConstantTimeCompare(s[:], o[:]) == 1
}

func (s secret32) encode(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(s[:])
}

func decodeSecret32(text, prefix string) (secret32, error) {
	var s secret32
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return s, fmt.Errorf("%w: want prefix %q", ErrMalformedKey, prefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(s) {
		return s, fmt.Errorf("%w: want %d base64url bytes after %q", ErrMalformedKey, len(s), prefix)
	}
	copy(s[:], b)
	return s, nil
}

// ProgrammeSecret is P: the secret every agency shares under one ISA. The
// matcher never holds it.
type ProgrammeSecret struct{ s secret32 }

// NewProgrammeSecret draws a fresh secret from crypto/rand.
func NewProgrammeSecret() (ProgrammeSecret, error) {
	s, err := newSecret32(rand.Reader)
	return ProgrammeSecret{s}, err
}

// Equal reports whether p and o are the same secret, in constant time.
func (p ProgrammeSecret) Equal(o ProgrammeSecret) bool { return p.s.equal(o.s) }

// String hides the secret so that it never reaches a log by accident.
func (p ProgrammeSecret) String() string { return "ProgrammeSecret(redacted)" }

// MarshalText returns the secret's text encoding. It is the only way to see
// the secret's bytes; write the result to a file with mode 0600 only.
func (p ProgrammeSecret) MarshalText() ([]byte, error) {
	return []byte(p.s.encode(prefixProgramme)), nil
}

// UnmarshalText reads the encoding MarshalText writes.
func (p *ProgrammeSecret) UnmarshalText(text []byte) error {
	s, err := decodeSecret32(string(text), prefixProgramme)
	if err != nil {
		return fmt.Errorf("programme secret: %w", err)
	}
	p.s = s
	return nil
}

// Context is what a token key is bound to besides P: the information-sharing
// agreement (by hash) and the key epoch.
type Context struct {
	ISAHash [32]byte
	Epoch   uint32
}

// HashISA returns the hash that binds keys and submissions to an ISA
// document: SHA-256 of its bytes.
func HashISA(doc []byte) [32]byte { return sha256.Sum256(doc) }

// LocalKey is L: an agency's own key for record references and household
// groupings. It never leaves the agency.
type LocalKey struct{ s secret32 }

// NewLocalKey draws a fresh local key from crypto/rand.
func NewLocalKey() (LocalKey, error) {
	s, err := newSecret32(rand.Reader)
	return LocalKey{s}, err
}

// Equal reports whether k and o are the same key, in constant time.
func (k LocalKey) Equal(o LocalKey) bool { return k.s.equal(o.s) }

func (k LocalKey) String() string { return "LocalKey(redacted)" }

// MarshalText returns the key's text encoding.
func (k LocalKey) MarshalText() ([]byte, error) { return []byte(k.s.encode(prefixLocal)), nil }

// UnmarshalText reads the encoding MarshalText writes.
func (k *LocalKey) UnmarshalText(text []byte) error {
	s, err := decodeSecret32(string(text), prefixLocal)
	if err != nil {
		return fmt.Errorf("local key: %w", err)
	}
	k.s = s
	return nil
}

// BlindingKey is M: the matcher's own key, applied to every token before
// the matcher stores it, so that a stolen matcher database is useless even
// with a leaked programme secret.
type BlindingKey struct{ s secret32 }

// NewBlindingKey draws a fresh blinding key from crypto/rand.
func NewBlindingKey() (BlindingKey, error) {
	s, err := newSecret32(rand.Reader)
	return BlindingKey{s}, err
}

// Equal reports whether k and o are the same key, in constant time.
func (k BlindingKey) Equal(o BlindingKey) bool { return k.s.equal(o.s) }

func (k BlindingKey) String() string { return "BlindingKey(redacted)" }

// MarshalText returns the key's text encoding.
func (k BlindingKey) MarshalText() ([]byte, error) {
	return []byte(k.s.encode(prefixBlinding)), nil
}

// UnmarshalText reads the encoding MarshalText writes.
func (k *BlindingKey) UnmarshalText(text []byte) error {
	s, err := decodeSecret32(string(text), prefixBlinding)
	if err != nil {
		return fmt.Errorf("blinding key: %w", err)
	}
	k.s = s
	return nil
}

// WriteFile writes k's text encoding to path with mode 0600. It refuses to
// replace an existing file, so a key is never lost by accident.
func WriteFile(path string, k encoding.TextMarshaler) error {
	text, err := k.MarshalText()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing key: %w", err)
	}
	if _, err := f.Write(append(text, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing key %s: %w", path, err)
	}
	return f.Close()
}

// ReadFile reads a key written by WriteFile into k.
func ReadFile(path string, k encoding.TextUnmarshaler) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading key: %w", err)
	}
	if err := k.UnmarshalText(text); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
