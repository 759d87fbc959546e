package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshakeResult is what each side of a loopback TLS connection saw.
type handshakeResult struct {
	party    string // party the server read from the client certificate
	srvErr   error  // server handshake error
	partyErr error  // PartyFromState error after a completed handshake
	cliErr   error  // client dial, handshake or read error
}

// handshake runs one TLS connection over 127.0.0.1 between the two
// configurations. The server, once it has a party, sends one byte, so that
// the client also learns of a rejection that TLS 1.3 reports only after the
// client's side of the handshake has finished.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type srvOut struct {
		party         string
		err, partyErr error
	}
	done := make(chan srvOut, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- srvOut{err: err}
			return
		}
		defer c.Close()
		conn := c.(*tls.Conn)
		if err := conn.HandshakeContext(ctx); err != nil {
			done <- srvOut{err: err}
			return
		}
		party, err := PartyFromState(conn.ConnectionState())
		if err != nil {
			done <- srvOut{partyErr: err}
			return
		}
		_, err = conn.Write([]byte{1})
		done <- srvOut{party: party, err: err}
	}()

	var res handshakeResult
	d := tls.Dialer{Config: cliCfg}
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.ReadFull(c, make([]byte, 1))
		c.Close()
	}
	res.cliErr = err
	out := <-done
	res.party, res.srvErr, res.partyErr = out.party, out.err, out.partyErr
	return res
}

func TestMutualTLSHandshake(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, "programme CA")
	other := newTestCA(t, "some other CA")
	server := mustIssue(t, ca, Request{Party: "matcher", Server: true, Hosts: []string{"localhost", "127.0.0.1"}})
	council := mustIssue(t, ca, Request{Party: "council", Server: true, Hosts: []string{"127.0.0.1"}})
	wrongHost := mustIssue(t, ca, Request{Party: "matcher", Server: true, Hosts: []string{"matcher.example"}})
	police := mustIssue(t, ca, Request{Party: "police"})
	impostor := mustIssue(t, other, Request{Party: "police"})
	clientOnly := clientOnlyWithIP(t, ca, "matcher")
	expired := mustIssue(t, ca, Request{Party: "dwp", Validity: time.Hour, Now: now.Add(-48 * time.Hour)})
	notYet := mustIssue(t, ca, Request{Party: "dwp", Now: now.Add(48 * time.Hour)})

	srv := func(c *Credential) *tls.Config { return ServerTLSConfig(c.TLSCertificate(), ca.Pool()) }
	cli := func(c *Credential) *tls.Config { return ClientTLSConfig(c.TLSCertificate(), ca.Pool()) }
	tls12 := cli(police)
	tls12.MaxVersion = tls.VersionTLS12
	trustsOther := ClientTLSConfig(police.TLSCertificate(), other.Pool())
	wantMatcher := cli(police)
	if err := RequirePeerParty(wantMatcher, "matcher"); err != nil {
		t.Fatal(err)
	}
	wantCouncil := cli(police)
	if err := RequirePeerParty(wantCouncil, "council", "matcher"); err != nil {
		t.Fatal(err)
	}
	srvOnlyLead := srv(server)
	if err := RequirePeerParty(srvOnlyLead, "lead"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		srv, cli  *tls.Config
		wantParty string           // "" means the connection must fail
		srvReason func(error) bool // optional check of the server's error
		cliReason func(error) bool // optional check of the client's error
	}{
		{name: "client certificate from the CA", srv: srv(server), cli: cli(police), wantParty: "police"},
		{name: "server party as client", srv: srv(server), cli: cli(council), wantParty: "council"},
		{name: "client insists on the matcher", srv: srv(server), cli: wantMatcher, wantParty: "police"},
		{name: "client accepts council or matcher", srv: srv(council), cli: wantCouncil, wantParty: "police"},
		{
			name: "client certificate from another CA, presented anyway", srv: srv(server), cli: presentAnyway(cli(impostor)),
			srvReason: isUnknownAuthority,
		},
		{
			// Go's client sends no certificate the server's CA list rules out.
			name: "client certificate from another CA", srv: srv(server), cli: cli(impostor),
		},
		{name: "no client certificate", srv: srv(server), cli: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}},
		{
			name: "expired client certificate", srv: srv(server), cli: cli(expired),
			srvReason: isInvalidReason(x509.Expired),
		},
		{
			name: "client certificate not yet valid", srv: srv(server), cli: cli(notYet),
			srvReason: isInvalidReason(x509.Expired),
		},
		{name: "TLS 1.2 client", srv: srv(server), cli: tls12},
		{
			name: "client does not trust the server's CA", srv: srv(server), cli: trustsOther,
			cliReason: isUnknownAuthority,
		},
		{
			name: "server certificate lacks the dialled address", srv: srv(wrongHost), cli: cli(police),
			cliReason: func(err error) bool { var h x509.HostnameError; return errors.As(err, &h) },
		},
		{
			name: "client-only certificate used by a server", srv: srv(clientOnly), cli: cli(police),
			cliReason: isInvalidReason(x509.IncompatibleUsage),
		},
		{
			name: "client wants the matcher, reaches the council", srv: srv(council), cli: wantMatcher,
			cliReason: func(err error) bool { return strings.Contains(err.Error(), `peer is party "council"`) },
		},
		{
			name: "server admits only the lead", srv: srvOnlyLead, cli: cli(police),
			srvReason: func(err error) bool { return strings.Contains(err.Error(), `peer is party "police", want lead`) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := handshake(t, tt.srv, tt.cli)
			if tt.wantParty != "" {
				if res.srvErr != nil || res.partyErr != nil || res.cliErr != nil {
					t.Fatalf("connection failed: server %v, %v; client %v", res.srvErr, res.partyErr, res.cliErr)
				}
				if res.party != tt.wantParty {
					t.Fatalf("server saw party %q, want %q", res.party, tt.wantParty)
				}
				return
			}
			// Refusal happens in the TLS handshake itself, on both sides,
			// not later when the server looks for a party.
			if res.cliErr == nil || res.srvErr == nil {
				t.Fatalf("connection not refused: party %q; server %v, %v; client %v", res.party, res.srvErr, res.partyErr, res.cliErr)
			}
			if res.party != "" || res.partyErr != nil {
				t.Fatalf("server completed the handshake: party %q, %v", res.party, res.partyErr)
			}
			if tt.srvReason != nil && (res.srvErr == nil || !tt.srvReason(res.srvErr)) {
				t.Errorf("server error %v: wrong reason", res.srvErr)
			}
			if tt.cliReason != nil && !tt.cliReason(res.cliErr) {
				t.Errorf("client error %v: wrong reason", res.cliErr)
			}
		})
	}
}

// presentAnyway makes a client present its certificate whatever CAs the
// server asks for, as an attacker would.
func presentAnyway(cfg *tls.Config) *tls.Config {
	cert := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// clientOnlyWithIP is a certificate for party with the IP SAN 127.0.0.1
// but client authentication only, which Issue never makes.
func clientOnlyWithIP(t *testing.T, ca *CA, party string) *Credential {
	t.Helper()
	cred := mustIssue(t, ca, Request{Party: party})
	tmpl := *cred.Cert
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	der, err := x509.CreateCertificate(randReader(), &tmpl, ca.Cert, cred.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	return cred
}

func isUnknownAuthority(err error) bool {
	var u x509.UnknownAuthorityError
	return errors.As(err, &u)
}

func isInvalidReason(r x509.InvalidReason) func(error) bool {
	return func(err error) bool {
		var inv x509.CertificateInvalidError
		return errors.As(err, &inv) && inv.Reason == r
	}
}

func TestRequirePeerPartyArgs(t *testing.T) {
	cfg := &tls.Config{}
	if err := RequirePeerParty(cfg); err == nil {
		t.Error("no parties accepted")
	}
	if err := RequirePeerParty(cfg, "matcher", "Bad"); err == nil {
		t.Error("invalid party accepted")
	}
	if cfg.VerifyConnection != nil {
		t.Error("failed call changed the config")
	}
	// A VerifyConnection already set still runs, first.
	called := false
	cfg.VerifyConnection = func(tls.ConnectionState) error { called = true; return errors.New("earlier check") }
	if err := RequirePeerParty(cfg, "matcher"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.VerifyConnection(tls.ConnectionState{}); err == nil || err.Error() != "earlier check" || !called {
		t.Errorf("chained VerifyConnection: %v, called=%v", err, called)
	}
}

func TestConfigFromFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteDevPKI(dir, []string{"police", "dwp"}, map[string][]string{"matcher": {"127.0.0.1"}}, DevOptions{}); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if _, err := WriteDevPKI(otherDir, []string{"police"}, map[string][]string{"matcher": {"127.0.0.1"}}, DevOptions{}); err != nil {
		t.Fatal(err)
	}
	staleDir := t.TempDir()
	if _, err := WriteDevPKI(staleDir, []string{"police"}, map[string][]string{"matcher": {"127.0.0.1"}},
		DevOptions{Now: time.Now().Add(-72 * time.Hour), Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f := func(d, name string) string { return filepath.Join(d, name) }

	srvCfg, err := ServerConfig(f(dir, "matcher.crt"), f(dir, "matcher.key"), f(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if srvCfg.MinVersion != tls.VersionTLS13 || srvCfg.ClientAuth != tls.RequireAndVerifyClientCert || srvCfg.ClientCAs == nil {
		t.Fatalf("server config: min %x, client auth %v", srvCfg.MinVersion, srvCfg.ClientAuth)
	}
	cliCfg, err := ClientConfig(f(dir, "police.crt"), f(dir, "police.key"), f(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if cliCfg.MinVersion != tls.VersionTLS13 || cliCfg.RootCAs == nil || cliCfg.ServerName != "" || cliCfg.InsecureSkipVerify {
		t.Fatalf("client config: min %x, server name %q", cliCfg.MinVersion, cliCfg.ServerName)
	}
	if res := handshake(t, srvCfg, cliCfg); res.party != "police" || res.cliErr != nil {
		t.Fatalf("handshake from files: %+v", res)
	}

	otherCli, err := ClientConfig(f(otherDir, "police.crt"), f(otherDir, "police.key"), f(otherDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if res := handshake(t, srvCfg, otherCli); res.cliErr == nil || res.srvErr == nil || res.party != "" {
		t.Fatalf("client from another PKI connected: %+v", res)
	}

	caPEM, err := os.ReadFile(f(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.crt")
	if err := os.WriteFile(bundle, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	errTests := []struct {
		name          string
		server        bool
		cert, key, ca string
		want          []string
	}{
		{"missing CA file", true, f(dir, "matcher.crt"), f(dir, "matcher.key"), f(dir, "nope.crt"), []string{"nope.crt", "does not exist", "CA certificate", "matchctl pki"}},
		{"missing certificate", false, f(dir, "lead.crt"), f(dir, "lead.key"), f(dir, "ca.crt"), []string{"lead.crt", "does not exist", "this party's certificate", "matchctl pki"}},
		{"missing key", false, f(dir, "police.crt"), f(dir, "nope.key"), f(dir, "ca.crt"), []string{"nope.key", "does not exist", "private key"}},
		{"key of another party", false, f(dir, "police.crt"), f(dir, "dwp.key"), f(dir, "ca.crt"), []string{"police.crt", "dwp.key"}},
		{"CA file holds a party certificate", false, f(dir, "police.crt"), f(dir, "police.key"), f(dir, "police.crt"), []string{"not a CA"}},
		{"certificate from another CA", true, f(otherDir, "matcher.crt"), f(otherDir, "matcher.key"), bundle, []string{"matcher.crt", "not usable with the configured CA"}},
		{"client certificate as server", true, f(dir, "police.crt"), f(dir, "police.key"), f(dir, "ca.crt"), []string{"police.crt", "not usable"}},
		{"expired certificate", false, f(staleDir, "police.crt"), f(staleDir, "police.key"), f(staleDir, "ca.crt"), []string{"police.crt", "expired"}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.server {
				_, err = ServerConfig(tt.cert, tt.key, tt.ca)
			} else {
				_, err = ClientConfig(tt.cert, tt.key, tt.ca)
			}
			if err == nil {
				t.Fatal("config built, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadCA(t *testing.T) {
	a, b := newTestCA(t, "a"), newTestCA(t, "b")
	path := filepath.Join(t.TempDir(), "cas.crt")
	if err := os.WriteFile(path, append(EncodeCertificate(a.Cert), EncodeCertificate(b.Cert)...), 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCA(path)
	if err != nil {
		t.Fatal(err)
	}
	// Both CAs in the file are trusted (for rolling over to a new CA).
	for _, ca := range []*CA{a, b} {
		leaf := mustIssue(t, ca, Request{Party: "police"})
		if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("leaf of %s: %v", ca.Cert.Subject.CommonName, err)
		}
	}
	// Nothing else is: not the system roots.
	want := a.Pool()
	want.AddCert(b.Cert)
	if !pool.Equal(want) {
		t.Error("pool holds more than the two CAs in the file")
	}
}
