package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// FingerprintPrefix starts every fingerprint string.
const FingerprintPrefix = "SHA256:"

// Fingerprint returns "SHA256:" followed by the lower-case hex SHA-256 of
// the certificate's DER encoding. ISAs name certificates by it; the format
// is stable.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return FingerprintPrefix + hex.EncodeToString(sum[:])
}
