package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := NewCA("  programme CA ", 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if c.Subject.CommonName != "programme CA" {
		t.Errorf("CommonName = %q", c.Subject.CommonName)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("KeyUsage %v lacks CertSign", c.KeyUsage)
	}
	if !c.NotBefore.Equal(now.Add(-time.Minute)) || !c.NotAfter.Equal(now.Add(48*time.Hour)) {
		t.Errorf("validity %v .. %v", c.NotBefore, c.NotAfter)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}

	def, err := NewCA("x", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := def.Cert.NotAfter.Sub(now); got != DefaultCAValidity {
		t.Errorf("default CA validity %v, want %v", got, DefaultCAValidity)
	}

	for _, bad := range []struct {
		name     string
		validity time.Duration
	}{{"", 0}, {"   ", 0}, {"x", -time.Hour}} {
		if _, err := NewCA(bad.name, bad.validity, now); err == nil {
			t.Errorf("NewCA(%q, %v) succeeded, want error", bad.name, bad.validity)
		}
	}
}

// TestCACannotSignIntermediates checks MaxPathLen 0: a certificate chain
// through a sub-CA signed by the programme CA does not verify.
func TestCACannotSignIntermediates(t *testing.T) {
	root := newTestCA(t, "root")
	sub := newTestCA(t, "sub")
	// Re-sign the sub-CA's certificate with the root.
	der, err := x509.CreateCertificate(randReader(), sub.Cert, root.Cert, sub.Cert.PublicKey, root.Key)
	if err != nil {
		t.Fatal(err)
	}
	subCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sub.Cert = subCert
	leaf := mustIssue(t, sub, Request{Party: "police"})
	inter := x509.NewCertPool()
	inter.AddCert(subCert)
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: root.Pool(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.TooManyIntermediates {
		t.Fatalf("verify through a sub-CA: %v, want TooManyIntermediates", err)
	}
}

func TestIssue(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test CA", 30*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       Request
		wantUsage []x509.ExtKeyUsage
		wantDNS   []string
		wantIPs   []string
		wantLife  time.Duration // NotAfter - Now
	}{
		{
			name:      "client",
			req:       Request{Party: "police", Validity: 24 * time.Hour, Now: now},
			wantUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			wantLife:  24 * time.Hour,
		},
		{
			name:      "server",
			req:       Request{Party: "matcher", Server: true, Hosts: []string{"Matcher.Example.org", "localhost", "127.0.0.1", "::1"}, Validity: time.Hour, Now: now},
			wantUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
			wantDNS:   []string{"matcher.example.org", "localhost"},
			wantIPs:   []string{"127.0.0.1", "::1"},
			wantLife:  time.Hour,
		},
		{
			name:      "default validity cut to the CA's end",
			req:       Request{Party: "lead", Now: now},
			wantUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			wantLife:  30 * 24 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := mustIssue(t, ca, tt.req)
			c := cred.Cert
			if cred.Party != tt.req.Party || c.Subject.CommonName != tt.req.Party {
				t.Errorf("party %q, CN %q", cred.Party, c.Subject.CommonName)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != "tfmatch:party:"+tt.req.Party {
				t.Errorf("URIs %v", c.URIs)
			}
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if !slices.Equal(c.ExtKeyUsage, tt.wantUsage) {
				t.Errorf("ExtKeyUsage %v, want %v", c.ExtKeyUsage, tt.wantUsage)
			}
			if !slices.Equal(c.DNSNames, tt.wantDNS) {
				t.Errorf("DNSNames %v, want %v", c.DNSNames, tt.wantDNS)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.wantIPs) {
				t.Errorf("IPs %v, want %v", ips, tt.wantIPs)
			}
			if got := c.NotBefore; !got.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
				t.Errorf("NotBefore %v, want a minute before %v", got, now)
			}
			if got := c.NotAfter.Sub(now.Truncate(time.Second)); got < tt.wantLife-time.Second || got > tt.wantLife+time.Second {
				t.Errorf("lifetime %v, want %v", got, tt.wantLife)
			}
			if c.NotAfter.After(ca.Cert.NotAfter) {
				t.Errorf("leaf outlives CA: %v > %v", c.NotAfter, ca.Cert.NotAfter)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v not a positive 128-bit number", c.SerialNumber)
			}
			if !publicKeysEqual(c.PublicKey, cred.Key.Public()) {
				t.Error("key does not match certificate")
			}
			usage := x509.ExtKeyUsageClientAuth
			if tt.req.Server {
				usage = x509.ExtKeyUsageServerAuth
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify: %v", err)
			}
			if tt.req.Server {
				for _, h := range tt.req.Hosts {
					if err := c.VerifyHostname(h); err != nil {
						t.Errorf("VerifyHostname(%q): %v", h, err)
					}
				}
			}
		})
	}

	// Serials are random: many certificates never share one.
	seen := map[string]bool{}
	for range 50 {
		s := mustIssue(t, ca, Request{Party: "dwp"}).Cert.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestClientCertificateIsNotAServerCertificate(t *testing.T) {
	ca := newTestCA(t, "test CA")
	c := mustIssue(t, ca, Request{Party: "police"}).Cert
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("client-only certificate verified for server authentication")
	}
}

func TestRequestValidate(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		wantErr string
	}{
		{"ok client", Request{Party: "police"}, ""},
		{"ok server", Request{Party: "matcher", Server: true, Hosts: []string{"localhost"}}, ""},
		{"bad party", Request{Party: "Police"}, "invalid party id"},
		{"empty party", Request{}, "invalid party id"},
		{"negative validity", Request{Party: "police", Validity: -time.Second}, "negative validity"},
		{"server without hosts", Request{Party: "matcher", Server: true}, "at least one host"},
		{"hosts without server", Request{Party: "police", Hosts: []string{"localhost"}}, "not a server"},
		{"bad host", Request{Party: "matcher", Server: true, Hosts: []string{"local host"}}, "not an IP address or DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"localhost", true},
		{"matcher.tf.example.gov.uk", true},
		{"Matcher.Example", true},
		{"*.example.org", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"fe80::1", true},
		{"xn--bcher-kva.example", true},
		{"", false},
		{"a..b", false},
		{".example", false},
		{"example.", false},
		{"-a.example", false},
		{"a-.example", false},
		{"a_b.example", false},
		{"local host", false},
		{"host:443", false},
		{"a.*.example", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("abcdefghi.", 26) + "x", false},
	}
	for _, tt := range tests {
		if err := ValidateHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("ValidateHost(%q) = %v, want ok=%v", tt.host, err, tt.ok)
		}
	}
	// Every accepted host must be accepted by x509 as a SAN.
	ca := newTestCA(t, "test CA")
	for _, tt := range tests {
		if !tt.ok {
			continue
		}
		if _, err := ca.Issue(Request{Party: "matcher", Server: true, Hosts: []string{tt.host}}); err != nil {
			t.Errorf("Issue with host %q: %v", tt.host, err)
		}
	}
}
