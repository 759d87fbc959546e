package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteDevPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	parties := []string{"council", "education", "police", "dwp", "lead", "auditor", "police"}
	servers := map[string][]string{
		"matcher": {"matcher", "localhost", "127.0.0.1"},
		"council": {"council", "localhost", "127.0.0.1"},
	}
	files, err := WriteDevPKI(dir, parties, servers, DevOptions{Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	wantOrder := []string{"ca.crt", "ca.key"}
	for _, p := range []string{"council", "education", "police", "dwp", "lead", "auditor", "matcher"} {
		wantOrder = append(wantOrder, p+".crt", p+".key")
	}
	var gotOrder []string
	for _, f := range files {
		gotOrder = append(gotOrder, filepath.Base(f.Path))
	}
	if !slices.Equal(gotOrder, wantOrder) {
		t.Fatalf("wrote %v, want %v", gotOrder, wantOrder)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode: %v, %v", st.Mode().Perm(), err)
	}

	pool, err := LoadCA(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCAFiles(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if ca.Cert.Subject.CommonName != DefaultDevCAName {
		t.Errorf("CA name %q", ca.Cert.Subject.CommonName)
	}
	for _, f := range files {
		st, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o644)
		if f.Key {
			wantMode = 0o600
		}
		if st.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", f.Path, st.Mode().Perm(), wantMode)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Key {
			if !bytes.HasPrefix(data, []byte(pemBegin+"PRIVATE KEY-----\n")) {
				t.Errorf("%s is not a PKCS#8 PEM key", f.Path)
			}
			continue
		}
		if f.Party == "" {
			continue
		}
		cert, err := DecodeCertificate(data)
		if err != nil {
			t.Fatal(err)
		}
		if Fingerprint(cert) != f.Fingerprint || !cert.NotAfter.Equal(f.NotAfter) {
			t.Errorf("%s: DevFile fingerprint/expiry disagree with the file", f.Path)
		}
		if got, err := PartyFromCertificate(cert); err != nil || got != f.Party {
			t.Errorf("%s: party %q, %v", f.Path, got, err)
		}
		if _, want := servers[f.Party]; f.Server != want || !slices.Equal(f.Hosts, servers[f.Party]) {
			t.Errorf("%s: server=%v hosts=%v", f.Path, f.Server, f.Hosts)
		}
		if d := cert.NotAfter.Sub(cert.NotBefore); d != 48*time.Hour+time.Minute {
			t.Errorf("%s: lifetime %v", f.Path, d)
		}
		usages := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if f.Server {
			usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: usages}); err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
		if f.Server {
			for _, h := range f.Hosts {
				if err := cert.VerifyHostname(h); err != nil {
					t.Errorf("%s: %v", f.Path, err)
				}
			}
		} else if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
			t.Errorf("%s: client-only certificate verifies for server use", f.Path)
		}
		// Each pair loads as a TLS client configuration.
		if _, err := ClientConfig(strings.TrimSuffix(f.Path, ".crt")+".crt", strings.TrimSuffix(f.Path, ".crt")+".key", filepath.Join(dir, "ca.crt")); err != nil {
			t.Errorf("%s: ClientConfig: %v", f.Path, err)
		}
	}
}

func TestWriteDevPKIRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	servers := map[string][]string{"matcher": {"localhost"}}
	if _, err := WriteDevPKI(dir, []string{"police"}, servers, DevOptions{}); err != nil {
		t.Fatal(err)
	}
	caBefore, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	files, err := WriteDevPKI(dir, []string{"police"}, servers, DevOptions{})
	if !errors.Is(err, ErrExists) || len(files) != 0 {
		t.Fatalf("second run: %v (%d files), want ErrExists", err, len(files))
	}
	for _, w := range []string{"ca.key", "-force", "stops being trusted"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// Any existing target file is enough to refuse, even without ca.key.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "dwp.key"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDevPKI(other, []string{"dwp"}, nil, DevOptions{}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "dwp.key") {
		t.Fatalf("existing dwp.key: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, "dwp.key")); string(b) != "keep me" {
		t.Fatal("existing file replaced without Force")
	}
	if _, err := os.Stat(filepath.Join(other, "ca.key")); err == nil {
		t.Fatal("refused run still wrote ca.key")
	}
	caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if !bytes.Equal(caBefore, caAfter) {
		t.Fatal("refused run replaced ca.crt")
	}

	if _, err := WriteDevPKI(dir, []string{"police"}, servers, DevOptions{Force: true}); err != nil {
		t.Fatalf("with Force: %v", err)
	}
	caForced, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if bytes.Equal(caBefore, caForced) {
		t.Fatal("Force did not make a new CA")
	}
}

func TestWriteDevPKIRejects(t *testing.T) {
	tests := []struct {
		name    string
		parties []string
		servers map[string][]string
		opts    DevOptions
		want    string
	}{
		{"no parties", nil, nil, DevOptions{}, "no parties"},
		{"bad party", []string{"police", "Police"}, nil, DevOptions{}, "invalid party id"},
		{"reserved party", []string{"ca"}, nil, DevOptions{}, "reserved"},
		{"bad server party", []string{"police"}, map[string][]string{"match er": {"localhost"}}, DevOptions{}, "invalid party id"},
		{"server without hosts", []string{"police"}, map[string][]string{"matcher": nil}, DevOptions{}, "no hosts"},
		{"bad host", []string{"police"}, map[string][]string{"matcher": {"local_host"}}, DevOptions{}, "not an IP address or DNS name"},
		{"negative validity", []string{"police"}, nil, DevOptions{Validity: -time.Hour}, "negative validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			_, err := WriteDevPKI(dir, tt.parties, tt.servers, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteDevPKI = %v, want error containing %q", err, tt.want)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("rejected request created the directory")
			}
		})
	}
	if _, err := WriteDevPKI("", []string{"police"}, nil, DevOptions{}); err == nil {
		t.Error("empty dir accepted")
	}
}

func TestParseServerSpec(t *testing.T) {
	tests := []struct {
		specs []string
		want  map[string][]string // nil means an error
	}{
		{[]string{"matcher=localhost,127.0.0.1"}, map[string][]string{"matcher": {"localhost", "127.0.0.1"}}},
		{[]string{"matcher=localhost", "council=council.example,::1"}, map[string][]string{"matcher": {"localhost"}, "council": {"council.example", "::1"}}},
		{[]string{"matcher=a,b,council=c"}, map[string][]string{"matcher": {"a", "b"}, "council": {"c"}}},
		{[]string{" matcher = Localhost , LOCALHOST ", "matcher=localhost,x"}, map[string][]string{"matcher": {"localhost", "x"}}},
		{[]string{"localhost"}, nil},
		{[]string{"matcher="}, nil},
		{[]string{"matcher=a,,b"}, nil},
		{[]string{"Matcher=a"}, nil},
		{[]string{"=a"}, nil},
		{[]string{"matcher=a=b"}, nil},
		{[]string{"matcher=a b"}, nil},
		{[]string{""}, nil},
	}
	for _, tt := range tests {
		got := map[string][]string{}
		var err error
		for _, s := range tt.specs {
			if err = ParseServerSpec(s, got); err != nil {
				break
			}
		}
		if tt.want == nil {
			if err == nil {
				t.Errorf("ParseServerSpec(%q) = %v, want error", tt.specs, got)
			}
			continue
		}
		if err != nil || !maps.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("ParseServerSpec(%q) = %v, %v; want %v", tt.specs, got, err, tt.want)
		}
	}
	if got := FormatServerSpec(map[string][]string{"matcher": {"a", "b"}, "council": {"c"}}); got != "council=c,matcher=a,b" {
		t.Errorf("FormatServerSpec = %q", got)
	}
}

// FuzzParseServerSpec: no panic; what parses holds only valid parties and
// hosts, and survives FormatServerSpec and a second parse unchanged.
func FuzzParseServerSpec(f *testing.F) {
	for _, s := range []string{"matcher=localhost,127.0.0.1", "a=b,c=d,e", "x", "=", "a=,", "m=::1,n=*.example", "m=A.B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got := map[string][]string{}
		if err := ParseServerSpec(spec, got); err != nil {
			return
		}
		for p, hosts := range got {
			if err := ValidateParty(p); err != nil {
				t.Fatalf("party %q: %v", p, err)
			}
			if len(hosts) == 0 {
				t.Fatalf("party %q without hosts", p)
			}
			for _, h := range hosts {
				if err := ValidateHost(h); err != nil {
					t.Fatalf("host %q: %v", h, err)
				}
			}
		}
		again := map[string][]string{}
		if err := ParseServerSpec(FormatServerSpec(got), again); err != nil {
			t.Fatalf("formatted spec %q does not parse: %v", FormatServerSpec(got), err)
		}
		if !maps.EqualFunc(got, again, slices.Equal) {
			t.Fatalf("round trip changed %v into %v", got, again)
		}
	})
}
