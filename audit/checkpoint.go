package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is the statement a signed checkpoint makes: the log named
// Origin had Size entries whose tree root is Root.
//
// Its text is the checkpoint format that transparency logs share (and the
// Go checksum database's tree notes follow):
//
//	<origin>\n
//	<size, decimal>\n
//	<root, standard base64>\n
//	[extension lines]\n
//
// signed as a note (golang.org/x/mod/sumdb/note): the text, a blank line,
// and one "— <key name> <base64 signature>" line per signature. The
// origin is the name of the log's signing key, so a verifier key names the
// log it verifies. This log writes no extension lines; it keeps and
// re-emits any it reads, and they carry no meaning here. The format is
// frozen: it is what receipts held by agencies contain.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Root       []byte
	Extensions []string
}

// Errors about checkpoints, receipts and proofs.
var (
	// ErrCheckpointSignature: a checkpoint is not signed by the key given.
	ErrCheckpointSignature = errors.New("checkpoint signature does not verify")
	// ErrCheckpointMalformed: a checkpoint's text is not a checkpoint.
	ErrCheckpointMalformed = errors.New("malformed checkpoint")
	// ErrProof: a Merkle inclusion or consistency proof does not verify.
	ErrProof = errors.New("proof does not verify")
)

// MarshalText returns the checkpoint's text (unsigned).
func (c Checkpoint) MarshalText() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func (c Checkpoint) check() error {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") {
		return fmt.Errorf("%w: bad origin line", ErrCheckpointMalformed)
	}
	if len(c.Root) != hasher.Size() {
		return fmt.Errorf("%w: root is %d bytes, want %d", ErrCheckpointMalformed, len(c.Root), hasher.Size())
	}
	for _, e := range c.Extensions {
		if e == "" || strings.ContainsAny(e, "\n") {
			return fmt.Errorf("%w: bad extension line", ErrCheckpointMalformed)
		}
	}
	return nil
}

// ParseCheckpoint parses a checkpoint's text (the part of a signed note
// before its signatures). It accepts only the canonical form, so that
// MarshalText gives back the same bytes.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	s := string(text)
	if !strings.HasSuffix(s, "\n") {
		return Checkpoint{}, fmt.Errorf("%w: does not end in a newline", ErrCheckpointMalformed)
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: %d lines, want at least 3", ErrCheckpointMalformed, len(lines))
	}
	var c Checkpoint
	c.Origin = lines[0]
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("%w: tree size line is not a canonical decimal number", ErrCheckpointMalformed)
	}
	c.Size = size
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: root hash line is not base64", ErrCheckpointMalformed)
	}
	c.Root = root
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	if err := c.check(); err != nil {
		return Checkpoint{}, err
	}
	return c, nil
}

// OpenCheckpoint checks that signed is a note signed by v whose text is a
// checkpoint of the log v names, and returns the checkpoint. Errors wrap
// ErrCheckpointSignature or ErrCheckpointMalformed.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unknown):
			return Checkpoint{}, fmt.Errorf("%w: not signed by key %s (%08x)", ErrCheckpointSignature, v.Name(), v.KeyHash())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: signature by %s is invalid", ErrCheckpointSignature, v.Name())
		}
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpointMalformed, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of log %q, want %q", ErrCheckpointMalformed, c.Origin, v.Name())
	}
	return c, nil
}

// signCheckpoint returns c signed by s.
func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	text, err := c.MarshalText()
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return signed, nil
}

// SigningKey is the log's checkpoint signing key: an Ed25519 key in the
// note private-key text form "PRIVATE+KEY+<name>+<hash>+<base64>". Its name
// is the log's origin. Keep it secret; publish VerifierKey.
type SigningKey struct {
	skey string
	vkey string
}

// GenerateSigningKey makes a new signing key for the log named name (a
// host-like name such as "audit.tfmatch.example.gov.uk").
func GenerateSigningKey(name string) (SigningKey, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return SigningKey{}, fmt.Errorf("audit: generate signing key: %w", err)
	}
	return SigningKey{skey: skey, vkey: vkey}, nil
}

// ParseSigningKey parses a signing key's text.
func ParseSigningKey(skey string) (SigningKey, error) {
	skey = strings.TrimSpace(skey)
	if _, err := note.NewSigner(skey); err != nil {
		return SigningKey{}, fmt.Errorf("audit: signing key: %w", err)
	}
	// The note package checks the form; derive the public half to give the
	// verifier key: PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>.
	rest := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	name, rest, _ := strings.Cut(rest, "+")
	_, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.SeedSize {
		return SigningKey{}, errors.New("audit: signing key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return SigningKey{}, fmt.Errorf("audit: signing key: %w", err)
	}
	return SigningKey{skey: skey, vkey: vkey}, nil
}

// Signer returns the note signer for k.
func (k SigningKey) Signer() (note.Signer, error) {
	s, err := note.NewSigner(k.skey)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	return s, nil
}

// VerifierKey returns the public verifier key text, "<name>+<hash>+<base64>".
func (k SigningKey) VerifierKey() string { return k.vkey }

// Name returns the key's name, which is the log's origin.
func (k SigningKey) Name() string {
	name, _, _ := strings.Cut(k.vkey, "+")
	return name
}

// String does not reveal the key.
func (k SigningKey) String() string { return "SigningKey(" + k.Name() + ", redacted)" }

// MarshalText returns the private key text.
func (k SigningKey) MarshalText() ([]byte, error) {
	if k.skey == "" {
		return nil, errors.New("audit: empty signing key")
	}
	return []byte(k.skey), nil
}

// UnmarshalText parses the private key text.
func (k *SigningKey) UnmarshalText(text []byte) error {
	p, err := ParseSigningKey(string(text))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// NewVerifier parses a verifier key text (as SigningKey.VerifierKey gives).
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("audit: verifier key: %w", err)
	}
	return v, nil
}
