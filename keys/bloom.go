package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"

	"golang.org/x/crypto/hkdf"
)

// Bloom-filter (CLK) constructions of the similarity tier.
//
// An agency encodes each record into one FilterBits-bit Bloom filter: every
// q-gram of every field sets a few bit positions chosen by a keyed hash
// under that field's BloomKey. Positions come from independent chunks of
// HMAC-SHA256(field key, gram), not from the linear double hashing of the
// original Bloom-filter linkage papers, whose structure a cryptanalyst can
// exploit (Niedermeyer et al. 2014). The matcher applies a secret
// permutation of the bit positions, derived from its blinding key, to
// every filter it receives, so a filter in the matcher's store can not be
// compared with filters computed from a leaked programme secret.
const (
	// FilterBits is the length of a filter in bits (as in clkhash's
	// 1024-bit CLKs).
	FilterBits = 1024
	// FilterBytes is the length of a filter in bytes.
	FilterBytes = FilterBits / 8
	// MaxBitsPerGram is the most positions one gram may set: one per
	// 16-bit chunk of an HMAC-SHA256 output.
	MaxBitsPerGram = sha256.Size / 2
)

// Domain-separation labels, frozen like tokenInfo.
const (
	bloomInfoPrefix = "tfmatch/v1/bloom/"
	permutationInfo = "tfmatch/v1/filter-permutation"
)

// Filter is one Bloom-filter encoding. Bit i is bit (i mod 8), least
// significant first, of byte i/8.
type Filter [FilterBytes]byte

// Set sets bit i.
func (f *Filter) Set(i int) { f[i>>3] |= 1 << (i & 7) }

// Has reports whether bit i is set.
func (f *Filter) Has(i int) bool { return f[i>>3]&(1<<(i&7)) != 0 }

// bloomInfo is the HKDF info of a field's Bloom key at an epoch.
func bloomInfo(field string, epoch uint32) string {
	return fmt.Sprintf("%s%s/%d", bloomInfoPrefix, field, epoch)
}

// BloomKey is the key of one CLK field: every gram of the field is hashed
// under it, so grams of different fields never set the same positions by
// design.
type BloomKey struct {
	field string
	k     secret32
}

// BloomKey derives the Bloom key of a CLK field under c:
// HKDF-SHA256(P, salt = ISA hash, info = "tfmatch/v1/bloom/<field>/<epoch>").
// field must be non-empty lower-case ASCII letters, digits or '_'.
func (p ProgrammeSecret) BloomKey(field string, c Context) (BloomKey, error) {
	if !validFieldName(field) {
		return BloomKey{}, fmt.Errorf("deriving bloom key: field name %q: want 1-64 lower-case letters, digits or '_'", truncateName(field))
	}
	b, err := hkdfSHA256(p.s[:], c.ISAHash[:], bloomInfo(field, c.Epoch), 32)
	if err != nil {
		return BloomKey{}, fmt.Errorf("deriving bloom key for %s: %w", field, err)
	}
	var k BloomKey
	k.field = field
	copy(k.k[:], b)
	return k, nil
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Field returns the field the key was derived for.
func (k BloomKey) Field() string { return k.field }

func (k BloomKey) String() string { return "BloomKey(" + k.field + ", redacted)" }

// Positions appends to dst the n bit positions of gram: position i is the
// big-endian 16-bit chunk i of HMAC-SHA256(key, gram), modulo FilterBits
// (which divides 65536, so every position is equally likely). n is
// clamped to 1..MaxBitsPerGram. Positions may repeat. It allocates a fresh
// HMAC; use NewBloomHasher on hot paths.
func (k BloomKey) Positions(dst []uint16, gram string, n int) []uint16 {
	sum := hmacSHA256(k.k[:], []byte(gram))
	return appendPositions(dst, sum[:], n)
}

func appendPositions(dst []uint16, sum []byte, n int) []uint16 {
	n = min(max(n, 1), MaxBitsPerGram)
	for i := range n {
		dst = append(dst, binary.BigEndian.Uint16(sum[2*i:])%FilterBits)
	}
	return dst
}

// BloomHasher computes positions under one BloomKey reusing the HMAC
// state. Not safe for concurrent use.
type BloomHasher struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// NewBloomHasher returns a BloomHasher for k.
func (k BloomKey) NewBloomHasher() *BloomHasher {
	return &BloomHasher{mac: hmac.New(sha256.New, k.k[:])}
}

// Add sets the n positions of gram in f; identical to setting every
// position BloomKey.Positions returns.
func (h *BloomHasher) Add(f *Filter, gram string, n int) {
	h.mac.Reset()
	io.WriteString(h.mac, gram)
	h.mac.Sum(h.sum[:0])
	n = min(max(n, 1), MaxBitsPerGram)
	for i := range n {
		f.Set(int(binary.BigEndian.Uint16(h.sum[2*i:]) % FilterBits))
	}
}

// AddBytes is Add with the gram as bytes (it does not keep gram).
func (h *BloomHasher) AddBytes(f *Filter, gram []byte, n int) {
	h.mac.Reset()
	h.mac.Write(gram)
	h.mac.Sum(h.sum[:0])
	n = min(max(n, 1), MaxBitsPerGram)
	for i := range n {
		f.Set(int(binary.BigEndian.Uint16(h.sum[2*i:]) % FilterBits))
	}
}

// Permutation is a permutation of the FilterBits bit positions: bit i of
// a filter moves to bit Permutation[i].
type Permutation [FilterBits]uint16

// errShortStream is returned if the HKDF stream ran out while shuffling;
// with rejection below 1024/65536 per draw it never happens in practice.
var errShortStream = errors.New("filter permutation: key stream exhausted")

// FilterPermutation derives the matcher's secret permutation of filter
// bit positions from M: a Fisher–Yates shuffle of the identity, i from
// FilterBits-1 down to 1 swapping i with j uniform in [0, i], where each j
// is drawn from successive big-endian 16-bit words of
// HKDF-SHA256(M, salt = empty, info = "tfmatch/v1/filter-permutation"),
// rejecting words >= 65536 - 65536 mod (i+1) so that j is unbiased.
//
// Dice coefficients are unchanged by a fixed permutation, so the matcher
// links exactly as it would on the agencies' filters; but filters in its
// store are not comparable with filters anyone else computes, even with
// the programme secret.
func (k BlindingKey) FilterPermutation() (Permutation, error) {
	var p Permutation
	for i := range p {
		p[i] = uint16(i)
	}
	// HKDF-Expand yields at most 255 blocks of 32 bytes.
	r := hkdf.New(sha256.New, k.s[:], nil, []byte(permutationInfo))
	var w [2]byte
	for i := FilterBits - 1; i > 0; i-- {
		n := uint32(i + 1)
		limit := 65536 - 65536%n
		for {
			if _, err := io.ReadFull(r, w[:]); err != nil {
				return Permutation{}, errShortStream
			}
			if v := uint32(binary.BigEndian.Uint16(w[:])); v < limit {
				j := v % n
				p[i], p[j] = p[j], p[i]
				break
			}
		}
	}
	return p, nil
}

// Apply returns f with bit i moved to bit p[i]. It visits only the set
// bits, 64 at a time: bit i of f is bit i mod 64 of the little-endian
// word i/64.
func (p *Permutation) Apply(f Filter) Filter {
	var out Filter
	for w := range FilterBits / 64 {
		for x := binary.LittleEndian.Uint64(f[w*8:]); x != 0; x &= x - 1 {
			out.Set(int(p[w*64+bits.TrailingZeros64(x)]))
		}
	}
	return out
}
