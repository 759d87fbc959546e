package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"io"

	"tfmatch/matchkey"
)

// Token is one pseudonymised match key: HMAC-SHA256 under the token key of
// its kind. Two agencies holding the same P produce the same Token for the
// same canonical fields.
type Token [32]byte

// Equal compares tokens in constant time.
func (t Token) Equal(o Token) bool { return subtle.ConstantTimeCompare(t[:], o[:]) == 1 }

// tokenInfo is the HKDF info for a kind's token key at an epoch. The label
// is frozen: changing it changes every token.
func tokenInfo(kind matchkey.Kind, epoch uint32) string {
	return fmt.Sprintf("tfmatch/v1/%s/%d", kind, epoch)
}

// TokenKey is K for one kind and epoch.
type TokenKey struct {
	kind matchkey.Kind
	k    secret32
}

// TokenKey derives K for kind under c. Kinds never share a key, so tokens
// of different kinds are never comparable.
func (p ProgrammeSecret) TokenKey(kind matchkey.Kind, c Context) (TokenKey, error) {
	if !matchkey.Valid(kind) {
		return TokenKey{}, fmt.Errorf("deriving token key: unknown match-key kind %q", kind)
	}
	b, err := hkdfSHA256(p.s[:], c.ISAHash[:], tokenInfo(kind, c.Epoch), 32)
	if err != nil {
		return TokenKey{}, fmt.Errorf("deriving token key for %s: %w", kind, err)
	}
	var k TokenKey
	k.kind = kind
	copy(k.k[:], b)
	return k, nil
}

// Kind returns the kind the key was derived for.
func (k TokenKey) Kind() matchkey.Kind { return k.kind }

// Token computes the token of fields. It allocates a fresh HMAC; use
// NewTokenizer on hot paths.
func (k TokenKey) Token(fields ...string) Token {
	return Token(hmacSHA256(k.k[:], AppendCanonical(nil, fields)))
}

// Tokenizer computes tokens under one key, reusing the HMAC state (the
// keyed inner and outer pads are computed once). It is not safe for
// concurrent use; make one per goroutine.
type Tokenizer struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte // Sum's output, kept here so it need not escape
}

// NewTokenizer returns a Tokenizer for k.
func (k TokenKey) NewTokenizer() *Tokenizer {
	return &Tokenizer{mac: hmac.New(sha256.New, k.k[:])}
}

// Token computes the token of fields; identical to TokenKey.Token.
func (t *Tokenizer) Token(fields []string) Token {
	t.buf = AppendCanonical(t.buf[:0], fields)
	t.mac.Reset()
	t.mac.Write(t.buf)
	t.mac.Sum(t.sum[:0])
	return Token(t.sum)
}

// Ref is an opaque record reference: stable for one agency and local id,
// meaningless to anyone without that agency's LocalKey.
type Ref [16]byte

// Labels for LocalKey derivations, one per group kind.
var localGroupInfo = map[matchkey.Kind]string{
	matchkey.HouseholdGroup: "tfmatch/v1/local/group",
	matchkey.UnitGroup:      "tfmatch/v1/local/unit",
}

// Ref returns the reference of a local record id:
// HMAC-SHA256(L, id) truncated to 16 bytes (collisions are negligible below
// 2^50 records per agency).
func (k LocalKey) Ref(localID string) Ref {
	sum := hmacSHA256(k.s[:], []byte(localID))
	var r Ref
	copy(r[:], sum[:16])
	return r
}

// RefMaker computes references under one LocalKey reusing the HMAC
// state. It is not safe for concurrent use; make one per goroutine.
type RefMaker struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// NewRefMaker returns a RefMaker for k.
func (k LocalKey) NewRefMaker() *RefMaker {
	return &RefMaker{mac: hmac.New(sha256.New, k.s[:])}
}

// Ref is identical to LocalKey.Ref.
func (m *RefMaker) Ref(localID string) Ref {
	m.mac.Reset()
	io.WriteString(m.mac, localID)
	m.mac.Sum(m.sum[:0])
	return Ref(m.sum[:16])
}

// GroupKey returns the token key for one kind of the agency's own
// groupings (matchkey.HouseholdGroup, matchkey.UnitGroup). It is derived
// from L, not P, so group tokens only ever match within the agency that
// made them.
func (k LocalKey) GroupKey(kind matchkey.Kind) (TokenKey, error) {
	info, ok := localGroupInfo[kind]
	if !ok {
		return TokenKey{}, fmt.Errorf("deriving group key: %q is not a group kind", kind)
	}
	b, err := hkdfSHA256(k.s[:], nil, info, 32)
	if err != nil {
		return TokenKey{}, fmt.Errorf("deriving group key: %w", err)
	}
	var tk TokenKey
	tk.kind = kind
	copy(tk.k[:], b)
	return tk, nil
}

// Blinded is a token as the matcher stores it.
type Blinded [32]byte

// Blind re-keys a token with the matcher's key: HMAC-SHA256(M, token).
func (k BlindingKey) Blind(t Token) Blinded {
	return Blinded(hmacSHA256(k.s[:], t[:]))
}

// Blinder blinds tokens reusing the HMAC state. Not safe for concurrent
// use.
type Blinder struct {
	mac hash.Hash
	// in holds the token being blinded: handing the hash a slice of the
	// argument itself would move every argument to the heap.
	in  Token
	sum [sha256.Size]byte
}

// NewBlinder returns a Blinder for k.
func (k BlindingKey) NewBlinder() *Blinder {
	return &Blinder{mac: hmac.New(sha256.New, k.s[:])}
}

// Blind is identical to BlindingKey.Blind.
func (b *Blinder) Blind(t Token) Blinded {
	b.in = t
	b.mac.Reset()
	b.mac.Write(b.in[:])
	b.mac.Sum(b.sum[:0])
	return Blinded(b.sum)
}
