package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// Default lifetimes, used when a validity is left zero.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// backdate is how far before "now" a certificate becomes valid, so that a
// peer whose clock runs slightly behind still accepts it.
const backdate = time.Minute

// CA is a certificate authority: its self-signed certificate and the key
// that signs the certificates it issues.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a self-signed ECDSA P-256 CA named name (its subject Common
// Name), valid from a minute before now for validity (zero means
// [DefaultCAValidity]). It may sign leaf certificates only: MaxPathLen is 0.
func NewCA(name string, validity time.Duration, now time.Time) (*CA, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("pki: new CA: name is empty")
	}
	if validity < 0 {
		return nil, fmt.Errorf("pki: new CA: negative validity %v", validity)
	}
	if validity == 0 {
		validity = DefaultCAValidity
	}
	if now.IsZero() {
		now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: parse certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// NewCAFromPEM rebuilds a CA from its PEM certificate and private key,
// checking that the key belongs to the certificate and that the certificate
// is a CA.
func NewCAFromPEM(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := DecodeCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("pki: CA certificate: not a CA certificate (needs basic constraints CA and key usage cert sign)")
	}
	key, err := DecodePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("pki: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// Request asks a CA for a party certificate.
type Request struct {
	// Party is the party id, written as the subject Common Name and as the
	// URI SAN "tfmatch:party:<id>".
	Party string
	// Server adds server authentication to the certificate (every
	// certificate allows client authentication). A server certificate needs
	// at least one host.
	Server bool
	// Hosts are the DNS names and IP addresses clients dial the server by;
	// they become DNS and IP SANs. Only meaningful when Server is set.
	Hosts []string
	// Validity is how long the certificate lasts; zero means
	// [DefaultCertValidity]. It is cut short so as not to outlive the CA.
	Validity time.Duration
	// Now is the issue time; zero means time.Now(). The certificate is
	// valid from a minute earlier.
	Now time.Time
}

// Validate checks the request without issuing anything.
func (r Request) Validate() error {
	if err := ValidateParty(r.Party); err != nil {
		return err
	}
	if r.Validity < 0 {
		return fmt.Errorf("negative validity %v", r.Validity)
	}
	if len(r.Hosts) > 0 && !r.Server {
		return errors.New("hosts given for a certificate that is not a server certificate")
	}
	if r.Server && len(r.Hosts) == 0 {
		return errors.New("a server certificate needs at least one host (DNS name or IP address)")
	}
	for _, h := range r.Hosts {
		if err := ValidateHost(h); err != nil {
			return err
		}
	}
	return nil
}

// Credential is a party's certificate and private key.
type Credential struct {
	Party string
	Cert  *x509.Certificate
	Key   crypto.Signer
}

// CertPEM returns the certificate as a PEM "CERTIFICATE" block.
func (c *Credential) CertPEM() []byte { return EncodeCertificate(c.Cert) }

// KeyPEM returns the private key as a PEM PKCS#8 "PRIVATE KEY" block.
func (c *Credential) KeyPEM() ([]byte, error) { return EncodePrivateKey(c.Key) }

// TLSCertificate returns the credential in the form a tls.Config holds.
func (c *Credential) TLSCertificate() tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{c.Cert.Raw},
		PrivateKey:  c.Key,
		Leaf:        c.Cert,
	}
}

// Issue signs a new certificate and fresh ECDSA P-256 key for req.Party.
// The certificate allows client authentication, and server authentication
// as well when req.Server is set; its serial number is 128 random bits.
func (ca *CA) Issue(req Request) (*Credential, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("pki: issue certificate: %w", err)
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultCertValidity
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: issue certificate for %s: generate key: %w", req.Party, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("pki: issue certificate for %s: %w", req.Party, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Party},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{PartyURI(req.Party)},
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		for _, h := range req.Hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue certificate for %s: sign: %w", req.Party, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: issue certificate for %s: parse: %w", req.Party, err)
	}
	return &Credential{Party: req.Party, Cert: cert, Key: key}, nil
}

// ValidateHost checks that h is usable as a server SAN: an IP address, or a
// DNS name of letters, digits and hyphens in dot-separated labels (a leading
// "*." wildcard label is allowed).
func ValidateHost(h string) error {
	if h == "" {
		return errors.New("empty host name")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	if len(name) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q: each dot-separated label must be 1 to 63 characters", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q: a label may not start or end with '-'", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("host %q: not an IP address or DNS name", h)
			}
		}
	}
	return nil
}

// randomSerial returns a positive 128-bit random certificate serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("random serial: %w", err)
	}
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}
