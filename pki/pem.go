package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// PEM block types this package reads and writes.
const (
	pemCertificate   = "CERTIFICATE"
	pemPrivateKey    = "PRIVATE KEY"     // PKCS#8, what this package writes
	pemECPrivateKey  = "EC PRIVATE KEY"  // SEC 1, accepted on input
	pemRSAPrivateKey = "RSA PRIVATE KEY" // PKCS#1, accepted on input
	pemEncryptedKey  = "ENCRYPTED PRIVATE KEY"
)

// File modes for what this package writes: certificates are public, keys
// are readable by their owner only.
const (
	certFileMode fs.FileMode = 0o644
	keyFileMode  fs.FileMode = 0o600
)

// EncodeCertificate returns cert as a PEM "CERTIFICATE" block.
func EncodeCertificate(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: cert.Raw})
}

// EncodePrivateKey returns key as a PEM PKCS#8 "PRIVATE KEY" block.
func EncodePrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// DecodeCertificates returns every "CERTIFICATE" block in data, in order.
// Other PEM blocks are skipped; data with no certificate is an error.
func DecodeCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM \"CERTIFICATE\" block found")
	}
	return certs, nil
}

// DecodeCertificate returns the first "CERTIFICATE" block in data.
func DecodeCertificate(data []byte) (*x509.Certificate, error) {
	certs, err := DecodeCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// DecodePrivateKey returns the first private key in data. It accepts PKCS#8
// "PRIVATE KEY" (ECDSA, RSA or Ed25519), SEC 1 "EC PRIVATE KEY" and PKCS#1
// "RSA PRIVATE KEY" blocks, so keys from another CA's tooling load too.
// Encrypted keys are refused: decrypt them first.
func DecodePrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block found (want \"PRIVATE KEY\")")
		}
		switch block.Type {
		case pemPrivateKey:
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#8 private key: %w", err)
			}
			return asSigner(key)
		case pemECPrivateKey:
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse EC private key: %w", err)
			}
			return key, nil
		case pemRSAPrivateKey:
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse RSA private key: %w", err)
			}
			return key, nil
		case pemEncryptedKey:
			return nil, errors.New("private key is encrypted; store it unencrypted with mode 0600 (for example: openssl pkcs8 -in KEY -out KEY.plain)")
		}
	}
}

// asSigner narrows a parsed PKCS#8 key to the signer types TLS can use.
func asSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
}

// WriteCertificateFile writes cert to path as PEM with mode 0644,
// replacing any existing file atomically.
func WriteCertificateFile(path string, cert *x509.Certificate) error {
	return writeFileAtomic(path, EncodeCertificate(cert), certFileMode)
}

// WritePrivateKeyFile writes key to path as PEM PKCS#8 with mode 0600,
// replacing any existing file atomically.
func WritePrivateKeyFile(path string, key crypto.Signer) error {
	data, err := EncodePrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return writeFileAtomic(path, data, keyFileMode)
}

// LoadCAFiles reads a CA certificate and its private key, for issuing more
// certificates from an existing CA.
func LoadCAFiles(certFile, keyFile string) (*CA, error) {
	certPEM, err := readPKIFile(certFile, "the programme CA certificate (PEM \"CERTIFICATE\")")
	if err != nil {
		return nil, err
	}
	keyPEM, err := readPKIFile(keyFile, "the programme CA private key (PEM \"PRIVATE KEY\")")
	if err != nil {
		return nil, err
	}
	ca, err := NewCAFromPEM(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s)", err, certFile, keyFile)
	}
	return ca, nil
}

// writeFileAtomic writes data to a temporary file beside path with the
// given mode, syncs it, and renames it over path, so a reader never sees a
// half-written key and a crash leaves the old file in place.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod sets the final mode
	// explicitly and independently of the umask.
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// readPKIFile reads a PEM file, turning a missing or empty file into an
// error that says what the file should hold and how to make one.
func readPKIFile(path, what string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("pki: no file named for %s; make a development set with `matchctl pki -dir DIR`", what)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: %s does not exist: it should hold %s; make a development set with `matchctl pki -dir DIR` or install the file issued by the programme CA: %w", path, what, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: read %s (%s): %w", path, what, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("pki: %s is empty: it should hold %s; make a development set with `matchctl pki -dir DIR`", path, what)
	}
	return data, nil
}
