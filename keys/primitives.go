package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// hkdfSHA256 derives n bytes from secret with the given salt and info
// (RFC 5869).
func hkdfSHA256(secret, salt []byte, info string, n int) ([]byte, error) {
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, salt, []byte(info)), out); err != nil {
		return nil, fmt.Errorf("hkdf: %w", err)
	}
	return out, nil
}

// hmacSHA256 is a one-shot HMAC-SHA256 (RFC 2104, FIPS 198-1).
func hmacSHA256(key, msg []byte) [32]byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// AppendCanonical appends the canonical encoding of fields to dst:
//
//	uint32 big-endian field count
//	for each field: uint32 big-endian byte length, then the bytes
//
// Length prefixes make the encoding injective, so fields ("a|b") and
// ("a", "b") can never produce the same bytes. The encoding is frozen.
func AppendCanonical(dst []byte, fields []string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(fields)))
	for _, f := range fields {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}
