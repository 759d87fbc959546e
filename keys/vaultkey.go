package keys

import (
	"crypto/rand"
	"fmt"
)

// vaultKeyInfo is the HKDF info of an agency's vault encryption key. The
// label is frozen: changing it makes every existing vault unreadable.
const vaultKeyInfo = "tfmatch/v1/local/vault-encryption"

// VaultKey is the AES-256 key an agency's vault (its badger store of the
// people behind its references) is encrypted with at rest. It is derived
// from L, which the node keeps age-encrypted at rest, so the vault is
// readable only with the node's age identity.
type VaultKey struct{ k secret32 }

// VaultKey derives the vault key: HKDF-SHA256(L, salt = empty,
// info = "tfmatch/v1/local/vault-encryption").
func (k LocalKey) VaultKey() (VaultKey, error) {
	b, err := hkdfSHA256(k.s[:], nil, vaultKeyInfo, 32)
	if err != nil {
		return VaultKey{}, fmt.Errorf("deriving vault key: %w", err)
	}
	var vk VaultKey
	copy(vk.k[:], b)
	return vk, nil
}

// NewScratchVaultKey draws a random vault key that is never stored: a
// vault opened with it is encrypted at rest and unreadable once closed
// (for tests and in-process runs that keep nothing).
func NewScratchVaultKey() (VaultKey, error) {
	s, err := newSecret32(rand.Reader)
	return VaultKey{s}, err
}

// IsZero reports whether k is the zero value (no key).
func (k VaultKey) IsZero() bool { return k.k == secret32{} }

// Equal compares keys in constant time.
func (k VaultKey) Equal(o VaultKey) bool { return k.k.equal(o.k) }

func (k VaultKey) String() string { return "VaultKey(redacted)" }

// AES256 returns a copy of the key's bytes, for the store's at-rest
// encryption (badger's EncryptionKey) and nothing else.
func (k VaultKey) AES256() []byte { return append([]byte(nil), k.k[:]...) }
