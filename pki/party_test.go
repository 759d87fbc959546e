package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

func TestValidateParty(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"council", true},
		{"dwp", true},
		{"a", true},
		{"lead-2", true},
		{"x9", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Council", false},
		{"9police", false},
		{"-police", false},
		{"police_1", false},
		{"police ", false},
		{"pol.ice", false},
		{"polícia", false},
		{"police\n", false},
	}
	for _, tt := range tests {
		err := ValidateParty(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateParty(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidParty) {
			t.Errorf("ValidateParty(%q) = %v, want ErrInvalidParty", tt.id, err)
		}
	}
}

// FuzzValidateParty checks ValidateParty against the documented regular
// expression.
func FuzzValidateParty(f *testing.F) {
	for _, s := range []string{"council", "", "A", "a-", "a_b", strings.Repeat("z", 63), strings.Repeat("z", 64), "é"} {
		f.Add(s)
	}
	re := regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	f.Fuzz(func(t *testing.T, id string) {
		got := ValidateParty(id) == nil
		if want := re.MatchString(id); got != want {
			t.Fatalf("ValidateParty(%q) ok=%v, regexp says %v", id, got, want)
		}
		if got {
			if u := PartyURI(id).String(); u != "tfmatch:party:"+id {
				t.Fatalf("PartyURI(%q) = %q", id, u)
			}
		}
	})
}

// rawLeaf signs an arbitrary leaf template with ca, bypassing Issue's checks.
func rawLeaf(t *testing.T, ca *CA, cn string, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPartyFromCertificate(t *testing.T) {
	ca := newTestCA(t, "test CA")
	tests := []struct {
		name string
		cert *x509.Certificate
		want string // "" means an error
	}{
		{"issued", mustIssue(t, ca, Request{Party: "police"}).Cert, "police"},
		{"no URI SAN", rawLeaf(t, ca, "dwp"), "dwp"},
		{"unrelated URI SAN", rawLeaf(t, ca, "dwp", "https://example.org/x", "tfmatch:other:x"), "dwp"},
		{"matching URI SAN", rawLeaf(t, ca, "dwp", "tfmatch:party:dwp"), "dwp"},
		{"URI SAN names another party", rawLeaf(t, ca, "dwp", "tfmatch:party:matcher"), ""},
		{"second URI SAN disagrees", rawLeaf(t, ca, "dwp", "tfmatch:party:dwp", "tfmatch:party:lead"), ""},
		{"CN not a party id", rawLeaf(t, ca, "Police Service"), ""},
		{"empty CN", rawLeaf(t, ca, "", "tfmatch:party:police"), ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PartyFromCertificate(tt.cert)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("PartyFromCertificate = %q, want error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PartyFromCertificate = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPartyFromStateAndContext(t *testing.T) {
	ca := newTestCA(t, "test CA")
	leaf := mustIssue(t, ca, Request{Party: "education"}).Cert
	verified := tls.ConnectionState{HandshakeComplete: true, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
	unverified := tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{leaf}}
	incomplete := tls.ConnectionState{VerifiedChains: verified.VerifiedChains}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

	tests := []struct {
		name string
		ctx  context.Context
		want string // "" means ErrNoPeerIdentity
	}{
		{"verified", peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{State: verified}}), "education"},
		{"peer certificate not verified", peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{State: unverified}}), ""},
		{"handshake incomplete", peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: credentials.TLSInfo{State: incomplete}}), ""},
		{"insecure transport", peer.NewContext(context.Background(), &peer.Peer{Addr: addr, AuthInfo: plainAuthInfo{}}), ""},
		{"no auth info", peer.NewContext(context.Background(), &peer.Peer{Addr: addr}), ""},
		{"no peer", context.Background(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PartyFromContext(tt.ctx)
			if tt.want == "" {
				if !errors.Is(err, ErrNoPeerIdentity) {
					t.Fatalf("PartyFromContext = %q, %v; want ErrNoPeerIdentity", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("PartyFromContext = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// plainAuthInfo is the AuthInfo of a transport without TLS.
type plainAuthInfo struct{}

func (plainAuthInfo) AuthType() string { return "insecure" }
