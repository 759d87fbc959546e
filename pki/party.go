package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// MaxPartyLen is the maximum length of a party id in bytes.
const MaxPartyLen = 63

// partyURIScheme and partyURIPrefix form the URI SAN "tfmatch:party:<id>"
// that every issued certificate carries beside its Common Name.
const (
	partyURIScheme = "tfmatch"
	partyURIPrefix = "party:"
)

var (
	// ErrInvalidParty reports a party id that does not follow the naming rule.
	ErrInvalidParty = errors.New("invalid party id")

	// ErrNoPeerIdentity reports a connection or request that carries no
	// verified client certificate, so no party can be named.
	ErrNoPeerIdentity = errors.New("pki: no verified peer certificate")
)

// ValidateParty reports whether id is a well-formed party id: a lower-case
// ASCII letter followed by at most 62 lower-case letters, digits or hyphens
// (the regular expression ^[a-z][a-z0-9-]{0,62}$). The rule keeps ids usable
// as file names, DNS labels and log fields without escaping.
func ValidateParty(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidParty)
	}
	if len(id) > MaxPartyLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidParty, MaxPartyLen)
	}
	if c := id[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w: must start with a lower-case letter a-z", ErrInvalidParty)
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("%w: character %d is not a-z, 0-9 or '-'", ErrInvalidParty, i+1)
		}
	}
	return nil
}

// PartyURI returns the URI SAN that names party in its certificate,
// "tfmatch:party:<id>".
func PartyURI(party string) *url.URL {
	return &url.URL{Scheme: partyURIScheme, Opaque: partyURIPrefix + party}
}

// PartyFromCertificate returns the party named by a certificate that has
// already been verified: its subject Common Name, which must be a valid
// party id. If the certificate carries "tfmatch:party:" URI SANs they must
// all name the same party.
func PartyFromCertificate(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", ErrNoPeerIdentity
	}
	party := cert.Subject.CommonName
	if err := ValidateParty(party); err != nil {
		return "", fmt.Errorf("pki: certificate common name: %w", err)
	}
	for _, u := range cert.URIs {
		if u == nil || u.Scheme != partyURIScheme {
			continue
		}
		named, ok := strings.CutPrefix(u.Opaque, partyURIPrefix)
		if !ok {
			continue
		}
		if named != party {
			return "", fmt.Errorf("pki: %w: certificate URI SAN names a different party from its common name %q", ErrInvalidParty, party)
		}
	}
	return party, nil
}

// PartyFromState returns the party at the other end of a TLS connection:
// the Common Name of the leaf of the first chain that the TLS stack
// verified. It fails with [ErrNoPeerIdentity] when the handshake has not
// completed or verified no chain (for example a server that does not
// require client certificates).
func PartyFromState(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete {
		return "", fmt.Errorf("%w: TLS handshake not complete", ErrNoPeerIdentity)
	}
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", fmt.Errorf("%w: no verified certificate chain", ErrNoPeerIdentity)
	}
	return PartyFromCertificate(cs.VerifiedChains[0][0])
}

// PartyFromContext returns the party that made a gRPC call, read from the
// verified client certificate of the connection the call arrived on. The
// server must use credentials.NewTLS with a [ServerConfig]; any other
// transport yields [ErrNoPeerIdentity].
func PartyFromContext(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", fmt.Errorf("%w: no peer in context", ErrNoPeerIdentity)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", fmt.Errorf("%w: connection is not TLS", ErrNoPeerIdentity)
	}
	return PartyFromState(info.State)
}
