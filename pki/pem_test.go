package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemBegin starts a PEM block; written in two parts so that no file of the
// repository looks like it holds a private key.
const pemBegin = "-----BEGIN" + " "

// keyEqual reports whether two signers hold the same private key.
func keyEqual(a, b crypto.Signer) bool {
	ak, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && ak.Equal(b)
}

// encodedKey is a private key and one PEM encoding of it.
type encodedKey struct {
	pem []byte
	key crypto.Signer
}

// testKeys returns one key of each kind DecodePrivateKey accepts, PEM-encoded
// in each accepted form.
func testKeys(t testing.TB) map[string]encodedKey {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, der []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	out := map[string]encodedKey{}
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return enc("PRIVATE KEY", der, err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	out["pkcs8 ecdsa"] = encodedKey{pkcs8(ec), ec}
	out["pkcs8 rsa"] = encodedKey{pkcs8(rk), rk}
	out["pkcs8 ed25519"] = encodedKey{pkcs8(ed), ed}
	out["sec1 ecdsa"] = encodedKey{enc("EC PRIVATE KEY", sec1, err), ec}
	out["pkcs1 rsa"] = encodedKey{enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk), nil), rk}
	return out
}

func TestDecodePrivateKey(t *testing.T) {
	for name, k := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			// Leading text and other blocks (a certificate, say) are skipped.
			data := append([]byte("key for tests\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), k.pem...)
			got, err := DecodePrivateKey(data)
			if err != nil {
				t.Fatalf("DecodePrivateKey: %v", err)
			}
			if !keyEqual(got, k.key) {
				t.Fatal("decoded key differs")
			}
			// Re-encoding always yields PKCS#8.
			out, err := EncodePrivateKey(got)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(out); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("EncodePrivateKey wrote %q", out)
			}
		})
	}

	bad := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "no PEM private key"},
		{"certificate only", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no PEM private key"},
		{"garbage PKCS#8", pemBegin + "PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "parse PKCS#8"},
		{"garbage SEC1", pemBegin + "EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "parse EC"},
		{"encrypted", pemBegin + "ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePrivateKey([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DecodePrivateKey = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeCertificates(t *testing.T) {
	ca := newTestCA(t, "test CA")
	leaf := mustIssue(t, ca, Request{Party: "police"})
	chain := append(leaf.CertPEM(), EncodeCertificate(ca.Cert)...)
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certs, err := DecodeCertificates(append(keyPEM, chain...))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[0].Equal(leaf.Cert) || !certs[1].Equal(ca.Cert) {
		t.Fatalf("decoded %d certificates, want leaf then CA", len(certs))
	}
	if c, err := DecodeCertificate(chain); err != nil || !c.Equal(leaf.Cert) {
		t.Fatalf("DecodeCertificate: %v", err)
	}
	for _, data := range []string{"", "not pem", string(keyPEM), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := DecodeCertificates([]byte(data)); err == nil {
			t.Errorf("DecodeCertificates(%.20q) succeeded", data)
		}
	}
}

// TestPinnedCertificate decodes a certificate committed to testdata and
// checks its fingerprint, party and chain, so a change in encoding or naming
// shows up as a failure.
func TestPinnedCertificate(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caCert, err := DecodeCertificate(read("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := DecodeCertificate(read("council.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Fingerprint(leaf), strings.TrimSpace(string(read("council.fingerprint"))); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if !strings.HasPrefix(Fingerprint(caCert), "SHA256:") || len(Fingerprint(caCert)) != len("SHA256:")+64 {
		t.Errorf("Fingerprint format: %s", Fingerprint(caCert))
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSName: "council"})
	if err != nil {
		t.Fatalf("verify pinned certificate: %v", err)
	}
	party, err := PartyFromCertificate(chains[0][0])
	if err != nil || party != "council" {
		t.Fatalf("party = %q, %v", party, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at.AddDate(1, 0, 0)}); err == nil {
		t.Error("pinned certificate verified after it expired")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "test CA")
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := os.WriteFile(keyPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteCertificateFile(certPath, ca.Cert); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateKeyFile(keyPath, ca.Key); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]fs.FileMode{certPath: 0o644, keyPath: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (temporary files left behind?)", len(entries))
	}
	loaded, err := LoadCAFiles(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !keyEqual(loaded.Key, ca.Key) {
		t.Fatal("LoadCAFiles returned a different CA")
	}
	// The loaded CA issues certificates that chain to the original.
	leaf := mustIssue(t, loaded, Request{Party: "auditor"})
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}

	if err := WriteCertificateFile(filepath.Join(dir, "missing", "x.crt"), ca.Cert); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestLoadCAFilesErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "test CA")
	other := newTestCA(t, "other CA")
	leaf := mustIssue(t, ca, Request{Party: "police"})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustPEM := func(b []byte, err error) []byte {
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caCrt := write("ca.crt", EncodeCertificate(ca.Cert))
	otherKey := write("other.key", mustPEM(EncodePrivateKey(other.Key)))
	leafCrt := write("leaf.crt", leaf.CertPEM())
	leafKey := write("leaf.key", mustPEM(leaf.KeyPEM()))
	empty := write("empty", []byte(" \n"))

	tests := []struct {
		name, cert, key string
		want            []string
	}{
		{"missing cert", filepath.Join(dir, "nope.crt"), otherKey, []string{"nope.crt", "does not exist", "matchctl pki"}},
		{"missing key", caCrt, filepath.Join(dir, "nope.key"), []string{"nope.key", "does not exist", "private key"}},
		{"empty cert", empty, otherKey, []string{"is empty"}},
		{"no file named", "", otherKey, []string{"no file named"}},
		{"key of another CA", caCrt, otherKey, []string{"does not match"}},
		{"leaf is not a CA", leafCrt, leafKey, []string{"not a CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCAFiles(tt.cert, tt.key)
			if err == nil {
				t.Fatal("LoadCAFiles succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := LoadCAFiles(filepath.Join(dir, "nope.crt"), otherKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v is not fs.ErrNotExist", err)
	}
}

// FuzzDecodePrivateKey feeds arbitrary bytes to the key decoder: it must not
// panic, and any key it returns must survive a PKCS#8 round trip.
func FuzzDecodePrivateKey(f *testing.F) {
	for _, k := range testKeys(f) {
		f.Add(k.pem)
	}
	f.Add([]byte(pemBegin + "PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(pemBegin + "ENCRYPTED PRIVATE KEY-----\n\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Add([]byte(pemBegin + "RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := DecodePrivateKey(data)
		if err != nil {
			if key != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		out, err := EncodePrivateKey(key)
		if err != nil {
			t.Fatalf("decoded key does not re-encode: %v", err)
		}
		again, err := DecodePrivateKey(out)
		if err != nil {
			t.Fatalf("re-encoded key does not decode: %v", err)
		}
		if !keyEqual(key, again) {
			t.Fatal("key changed in a PKCS#8 round trip")
		}
	})
}

// FuzzDecodeCertificates: no panic, and decoded certificates re-encode to
// PEM that decodes to the same DER.
func FuzzDecodeCertificates(f *testing.F) {
	ca := newTestCA(f, "test CA")
	leaf := mustIssue(f, ca, Request{Party: "matcher", Server: true, Hosts: []string{"localhost"}})
	f.Add(leaf.CertPEM())
	f.Add(append(leaf.CertPEM(), EncodeCertificate(ca.Cert)...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := DecodeCertificates(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		for _, c := range certs {
			buf.Write(EncodeCertificate(c))
			_, _ = PartyFromCertificate(c)
			_ = Fingerprint(c)
		}
		again, err := DecodeCertificates(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded certificates do not decode: %v", err)
		}
		if len(again) != len(certs) {
			t.Fatalf("%d certificates became %d", len(certs), len(again))
		}
		for i := range certs {
			if !bytes.Equal(certs[i].Raw, again[i].Raw) {
				t.Fatalf("certificate %d changed in a round trip", i)
			}
		}
	})
}
