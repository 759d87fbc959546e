package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LoadCA reads the programme CA certificate(s) from certFile into a pool
// that holds nothing else: peers are trusted only if they chain to it.
func LoadCA(certFile string) (*x509.CertPool, error) {
	data, err := readPKIFile(certFile, "the programme CA certificate (PEM \"CERTIFICATE\", ca.crt)")
	if err != nil {
		return nil, err
	}
	certs, err := DecodeCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA {
			return nil, fmt.Errorf("pki: %s holds a certificate that is not a CA (subject %q); it should hold the programme CA certificate, not a party's", certFile, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// ServerConfig builds the TLS configuration of a gRPC server: it presents
// the party certificate in certFile (key in keyFile), requires TLS 1.3, and
// requires every client to present a certificate that chains to the CA in
// caFile. The server's own certificate is checked against the CA, for
// server use and for expiry, before the configuration is returned, so a
// mismatched or stale file fails at start-up rather than at the first call.
func ServerConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := LoadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile, pool, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	return ServerTLSConfig(cert, pool), nil
}

// ClientConfig builds the TLS configuration of a gRPC client: it presents
// the party certificate in certFile (key in keyFile), requires TLS 1.3, and
// trusts only servers whose certificate chains to the CA in caFile. The
// server name is left empty so that gRPC fills it from the dial target; the
// server's certificate must carry that name or IP address as a SAN.
func ClientConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := LoadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile, pool, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	return ClientTLSConfig(cert, pool), nil
}

// ServerTLSConfig is [ServerConfig] for a certificate and CA pool already in
// memory (for example from [CA.Issue] in tests).
func ServerTLSConfig(cert tls.Certificate, cas *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    cas,
	}
}

// ClientTLSConfig is [ClientConfig] for a certificate and CA pool already in
// memory.
func ClientTLSConfig(cert tls.Certificate, cas *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      cas,
	}
}

// RequirePeerParty narrows cfg so that the handshake fails unless the peer's
// verified certificate names one of parties. A client uses it to insist it
// reached the matcher and not another party that also holds a server
// certificate; a server may use it as a coarse allow-list (per-call roles
// belong to the ISA policy). Any VerifyConnection already set still runs
// first.
func RequirePeerParty(cfg *tls.Config, parties ...string) error {
	if len(parties) == 0 {
		return errors.New("pki: require peer party: no parties given")
	}
	for _, p := range parties {
		if err := ValidateParty(p); err != nil {
			return fmt.Errorf("pki: require peer party: %w", err)
		}
	}
	allowed := slices.Clone(parties)
	prev := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		// VerifyConnection runs before HandshakeComplete is set, so read
		// the verified chain directly.
		if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
			return fmt.Errorf("%w: no verified certificate chain", ErrNoPeerIdentity)
		}
		party, err := PartyFromCertificate(cs.VerifiedChains[0][0])
		if err != nil {
			return err
		}
		if !slices.Contains(allowed, party) {
			return fmt.Errorf("pki: peer is party %q, want %s", party, strings.Join(allowed, " or "))
		}
		return nil
	}
	return nil
}

// loadKeyPair reads a party certificate and key and checks that the
// certificate chains to roots for the given use and is valid now.
func loadKeyPair(certFile, keyFile string, roots *x509.CertPool, usage x509.ExtKeyUsage) (tls.Certificate, error) {
	certPEM, err := readPKIFile(certFile, "this party's certificate (PEM \"CERTIFICATE\", <party>.crt)")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPKIFile(keyFile, "this party's private key (PEM \"PRIVATE KEY\", <party>.key, mode 0600)")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load key pair %s, %s: %w", certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("pki: parse %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	if _, err := PartyFromCertificate(leaf); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("pki: parse chain in %s: %w", certFile, err)
		}
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   time.Now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %s is not usable with the configured CA (issue a new one with `matchctl pki` or from the programme CA): %w", certFile, err)
	}
	return cert, nil
}
