package keys

// Key wrapping with age (https://age-encryption.org/v1).
//
// The programme secret P travels from the key custodian to each agency as
// an age file encrypted to that agency's recipient alone: one file per
// agency, so that each agency receives exactly one file it can open and
// nothing it cannot, and the files can be handed over (or re-sent) one at
// a time. Key files at rest are age files too, encrypted to the node's own
// recipient.
//
// Every file this code writes is ASCII-armored ("-----BEGIN AGE ENCRYPTED
// FILE-----"), so it survives e-mail and copy-and-paste; binary age files
// are read as well. age authenticates the whole payload, so a changed byte
// anywhere makes decryption fail.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ErrUnwrap is returned when a wrapped secret or encrypted key file cannot
// be opened: the identity is not one it was encrypted to, or the file was
// changed or is not an age file.
var ErrUnwrap = errors.New("cannot decrypt")

// wrappedHeader starts the plaintext of a wrapped programme secret. The
// plaintext is four lines, each ending in "\n", in this order:
//
//	tfmatch-wrapped-programme-secret-v1
//	isa: <64 lower-case hex digits: the ISA hash>
//	epoch: <decimal key epoch>
//	secret: <ProgrammeSecret text encoding>
//
// Binding the ISA hash and epoch into the wrapped file lets an agency node
// refuse a secret made for another agreement or epoch before it derives a
// single token. The format is frozen.
const wrappedHeader = "tfmatch-wrapped-programme-secret-v1"

// maxAgeFile bounds what is read from a wrapped or encrypted key file. The
// real files are well under 1 KiB with an X25519 recipient and a few KiB
// with a post-quantum one.
const maxAgeFile = 64 << 10

// ParseRecipient parses one age recipient: an X25519 recipient ("age1...")
// or a hybrid post-quantum one ("age1pq1..."). The error never echoes the
// input, which may be a secret key pasted by mistake.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\n#") || s == "" {
		return nil, errors.New("age recipient: want one recipient on one line")
	}
	rs, err := age.ParseRecipients(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("age recipient: %w", err)
	}
	return rs[0], nil
}

// CanonicalRecipient returns the standard spelling of an age recipient
// string, so that two spellings of one key compare equal.
func CanonicalRecipient(s string) (string, error) {
	r, err := ParseRecipient(s)
	if err != nil {
		return "", err
	}
	st, ok := r.(fmt.Stringer)
	if !ok {
		return "", errors.New("age recipient: unsupported type")
	}
	return st.String(), nil
}

// ReadIdentityFile reads an age identity file, as written by age-keygen or
// WriteIdentityFile: comment lines and one or more secret-key lines.
func ReadIdentityFile(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading age identity: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("reading age identity %s: %w", path, err)
	}
	return ids, nil
}

// WriteIdentityFile generates a new X25519 age identity, writes it to path
// in age-keygen's format with mode 0600 (refusing to replace an existing
// file), and returns its recipient: the public half, which is what the
// node's operator sends to the key custodian.
func WriteIdentityFile(path string, now time.Time) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("generating age identity: %w", err)
	}
	rcpt := id.Recipient().String()
	var b strings.Builder
	fmt.Fprintf(&b, "# created: %s\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", rcpt)
	fmt.Fprintf(&b, "%s\n", id)
	if err := writeNew(path, []byte(b.String())); err != nil {
		return "", fmt.Errorf("writing age identity: %w", err)
	}
	return rcpt, nil
}

// WrapProgrammeSecret encrypts p, bound to the agreement and epoch in c,
// to the given age recipients and returns an armored age file. The key
// ceremony calls it once per agency with that agency's recipient alone;
// several recipients make one file that any of them can open.
func WrapProgrammeSecret(p ProgrammeSecret, c Context, recipients []age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("wrapping programme secret: no recipients")
	}
	text, err := p.MarshalText()
	if err != nil {
		return nil, err
	}
	plain := encodeWrapped(c, text)
	out, err := encryptArmored(plain, recipients)
	if err != nil {
		return nil, fmt.Errorf("wrapping programme secret: %w", err)
	}
	return out, nil
}

// UnwrapProgrammeSecret opens a file made by WrapProgrammeSecret with the
// node's age identity and returns the secret and the agreement hash and
// epoch it was made for. The caller must check the context against the
// agreement it runs under (see CheckContext).
func UnwrapProgrammeSecret(data []byte, identity age.Identity) (ProgrammeSecret, Context, error) {
	var p ProgrammeSecret
	plain, err := decryptMaybeArmored(data, identity)
	if err != nil {
		return p, Context{}, fmt.Errorf("unwrapping programme secret: %w", err)
	}
	c, text, err := decodeWrapped(plain)
	if err != nil {
		return p, Context{}, fmt.Errorf("unwrapping programme secret: %w", err)
	}
	if err := p.UnmarshalText(text); err != nil {
		return p, Context{}, fmt.Errorf("unwrapping programme secret: %w", err)
	}
	return p, c, nil
}

// ErrWrongContext is returned by CheckContext.
var ErrWrongContext = errors.New("programme secret was made for another agreement or epoch")

// CheckContext reports whether a secret unwrapped with context got may be
// used under want (same ISA hash and epoch).
func CheckContext(got, want Context) error {
	if got.ISAHash != want.ISAHash {
		return fmt.Errorf("%w: made for ISA %x, running ISA %x", ErrWrongContext, got.ISAHash[:6], want.ISAHash[:6])
	}
	if got.Epoch != want.Epoch {
		return fmt.Errorf("%w: made for epoch %d, running epoch %d", ErrWrongContext, got.Epoch, want.Epoch)
	}
	return nil
}

func encodeWrapped(c Context, secretText []byte) []byte {
	var b bytes.Buffer
	b.WriteString(wrappedHeader + "\n")
	b.WriteString("isa: " + hex.EncodeToString(c.ISAHash[:]) + "\n")
	b.WriteString("epoch: " + strconv.FormatUint(uint64(c.Epoch), 10) + "\n")
	b.WriteString("secret: ")
	b.Write(secretText)
	b.WriteString("\n")
	return b.Bytes()
}

// decodeWrapped parses the plaintext encodeWrapped writes, strictly: any
// other byte sequence is refused, so the encoding round-trips exactly.
func decodeWrapped(plain []byte) (Context, []byte, error) {
	var c Context
	bad := func(what string) (Context, []byte, error) {
		return Context{}, nil, fmt.Errorf("%w: wrapped secret: %s", ErrMalformedKey, what)
	}
	lines := strings.SplitAfter(string(plain), "\n")
	if len(lines) != 5 || lines[4] != "" {
		return bad("want four lines")
	}
	for i := range 4 {
		l, ok := strings.CutSuffix(lines[i], "\n")
		if !ok {
			return bad("want four lines")
		}
		lines[i] = l
	}
	if lines[0] != wrappedHeader {
		return bad("unknown format")
	}
	hexHash, ok := strings.CutPrefix(lines[1], "isa: ")
	if !ok || len(hexHash) != 64 || strings.ToLower(hexHash) != hexHash {
		return bad("isa line")
	}
	if _, err := hex.Decode(c.ISAHash[:], []byte(hexHash)); err != nil {
		return bad("isa line")
	}
	epoch, ok := strings.CutPrefix(lines[2], "epoch: ")
	n, err := strconv.ParseUint(epoch, 10, 32)
	if !ok || err != nil || strconv.FormatUint(n, 10) != epoch {
		return bad("epoch line")
	}
	c.Epoch = uint32(n)
	text, ok := strings.CutPrefix(lines[3], "secret: ")
	if !ok || !strings.HasPrefix(text, prefixProgramme) {
		return bad("secret line")
	}
	return c, []byte(text), nil
}

// WriteFileEncrypted writes k's text encoding to path as an armored age
// file encrypted to recipient, with mode 0600. Like WriteFile it refuses
// to replace an existing file.
func WriteFileEncrypted(path string, k encoding.TextMarshaler, recipient age.Recipient) error {
	text, err := k.MarshalText()
	if err != nil {
		return err
	}
	out, err := encryptArmored(append(text, '\n'), []age.Recipient{recipient})
	if err != nil {
		return fmt.Errorf("encrypting key for %s: %w", path, err)
	}
	if err := writeNew(path, out); err != nil {
		return fmt.Errorf("writing key: %w", err)
	}
	return nil
}

// ReadFileEncrypted reads a key written by WriteFileEncrypted into k,
// decrypting it with identity.
func ReadFileEncrypted(path string, k encoding.TextUnmarshaler, identity age.Identity) error {
	data, err := readLimited(path)
	if err != nil {
		return fmt.Errorf("reading key: %w", err)
	}
	plain, err := decryptMaybeArmored(data, identity)
	if err != nil {
		return fmt.Errorf("reading key %s: %w", path, err)
	}
	if err := k.UnmarshalText(plain); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func encryptArmored(plain []byte, recipients []age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, recipients...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decryptMaybeArmored decrypts an armored or binary age file. Every
// failure wraps ErrUnwrap; age's own message is kept as detail (it names
// no key material).
func decryptMaybeArmored(data []byte, identity age.Identity) ([]byte, error) {
	if identity == nil {
		return nil, fmt.Errorf("%w: no identity", ErrUnwrap)
	}
	if len(data) > maxAgeFile {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrUnwrap, maxAgeFile)
	}
	var src io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(bufio.NewReader(src), identity)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxAgeFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnwrap, err)
	}
	if len(plain) > maxAgeFile {
		return nil, fmt.Errorf("%w: plaintext larger than %d bytes", ErrUnwrap, maxAgeFile)
	}
	return plain, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAgeFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAgeFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxAgeFile)
	}
	return data, nil
}

// writeNew writes data to a new file at path with mode 0600 and syncs it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// checkValueLabel domain-separates the programme secret's check value.
const checkValueLabel = "tfmatch/v1/programme-secret-check"

// CheckValue returns a short public fingerprint of p: the first 8 bytes of
// HMAC-SHA256(P, "tfmatch/v1/programme-secret-check"), in hex. Agencies
// compare it (and the ceremony record logs it) to confirm they hold the
// same secret without revealing it; it is useless for testing guesses of
// identities, since P has 256 bits of entropy.
func (p ProgrammeSecret) CheckValue() string {
	mac := hmacSHA256(p.s[:], []byte(checkValueLabel))
	return hex.EncodeToString(mac[:8])
}

// Holder is a party that receives the programme secret at a ceremony.
type Holder struct {
	Party     string // party id; names the output file
	Recipient string // age recipient
}

// CeremonyConfig configures a key ceremony.
type CeremonyConfig struct {
	// Context is the agreement hash and the key epoch the secret is made
	// for. A rotation is a new ceremony with Epoch incremented.
	Context Context
	// Holders receive the secret, one file each. Required.
	Holders []Holder
	// Withhold lists recipients that must never receive the secret (the
	// matcher's). The ceremony refuses to run if a holder uses one.
	Withhold []string
	// OutDir receives <party>.programme.age for each holder. Required; it
	// must exist. Existing files are never replaced.
	OutDir string
	// Now is the clock for the record (default time.Now).
	Now func() time.Time
}

// CeremonyRecord describes a ceremony for the audit log. It holds no key
// material.
type CeremonyRecord struct {
	ISAHash string          `json:"isa_hash"` // hex
	Epoch   uint32          `json:"epoch"`
	Check   string          `json:"check"` // ProgrammeSecret.CheckValue
	At      time.Time       `json:"at"`
	Wrapped []WrappedRecord `json:"wrapped"`
}

// WrappedRecord is one file a ceremony wrote.
type WrappedRecord struct {
	Party     string `json:"party"`
	Recipient string `json:"recipient"`
	File      string `json:"file"`   // base name, in OutDir
	SHA256    string `json:"sha256"` // of the file's bytes, hex
}

// WrappedFileName is the name of the file a ceremony writes for party.
func WrappedFileName(party string) string { return party + ".programme.age" }

// Ceremony makes a fresh programme secret in memory, wraps it to each
// holder's recipient and writes one file per holder into cfg.OutDir. The
// secret itself is never written anywhere. It returns the record to put
// in the audit log. On any error no file is left behind.
func Ceremony(cfg CeremonyConfig) (CeremonyRecord, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OutDir == "" {
		return CeremonyRecord{}, errors.New("key ceremony: no output directory")
	}
	if len(cfg.Holders) == 0 {
		return CeremonyRecord{}, errors.New("key ceremony: no holders")
	}
	withheld := map[string]bool{}
	for _, w := range cfg.Withhold {
		c, err := CanonicalRecipient(w)
		if err != nil {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: withheld recipient: %w", err)
		}
		withheld[c] = true
	}
	type planned struct {
		h    Holder
		r    age.Recipient
		name string
	}
	var plan []planned
	seen := map[string]bool{}
	for _, h := range cfg.Holders {
		if !safeFileStem(h.Party) {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party id %q cannot name a file", h.Party)
		}
		if seen[h.Party] {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party %q listed twice", h.Party)
		}
		seen[h.Party] = true
		r, err := ParseRecipient(h.Recipient)
		if err != nil {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party %q: %w", h.Party, err)
		}
		canon, err := CanonicalRecipient(h.Recipient)
		if err != nil {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party %q: %w", h.Party, err)
		}
		if withheld[canon] {
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party %q uses a recipient that must never receive the programme secret", h.Party)
		}
		plan = append(plan, planned{h: Holder{Party: h.Party, Recipient: canon}, r: r, name: WrappedFileName(h.Party)})
	}

	p, err := NewProgrammeSecret()
	if err != nil {
		return CeremonyRecord{}, fmt.Errorf("key ceremony: %w", err)
	}
	rec := CeremonyRecord{
		ISAHash: hex.EncodeToString(cfg.Context.ISAHash[:]),
		Epoch:   cfg.Context.Epoch,
		Check:   p.CheckValue(),
		At:      cfg.Now().UTC(),
	}
	var written []string
	cleanup := func() {
		for _, f := range written {
			os.Remove(f)
		}
	}
	for _, pl := range plan {
		data, err := WrapProgrammeSecret(p, cfg.Context, []age.Recipient{pl.r})
		if err != nil {
			cleanup()
			return CeremonyRecord{}, fmt.Errorf("key ceremony: party %q: %w", pl.h.Party, err)
		}
		path := filepath.Join(cfg.OutDir, pl.name)
		if err := writeNew(path, data); err != nil {
			cleanup()
			return CeremonyRecord{}, fmt.Errorf("key ceremony: %w", err)
		}
		written = append(written, path)
		sum := sha256.Sum256(data)
		rec.Wrapped = append(rec.Wrapped, WrappedRecord{
			Party: pl.h.Party, Recipient: pl.h.Recipient, File: pl.name, SHA256: hex.EncodeToString(sum[:]),
		})
	}
	return rec, nil
}

// safeFileStem reports whether s can name a file in a directory without
// escaping it or hiding it.
func safeFileStem(s string) bool {
	return s != "" && len(s) <= 128 && !strings.HasPrefix(s, ".") &&
		!slices.ContainsFunc([]rune(s), func(r rune) bool {
			return r == '/' || r == '\\' || r == 0 || r < 0x20 || r == 0x7f || r == ':'
		})
}
