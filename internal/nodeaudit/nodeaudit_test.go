package nodeaudit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/audit"
)

func TestOpenKeepsKeyAndEntries(t *testing.T) {
	dir := t.TempDir()
	l, vkey, err := Open(dir, Config{Name: "node.audit.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), audit.Entry{Kind: audit.KindQuery, Party: "lead", Purpose: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, VerifierKey))
	if err != nil || strings.TrimSpace(string(b)) != vkey || !strings.HasPrefix(vkey, "node.audit.test+") {
		t.Fatalf("verifier key file %q (%v), want %q", b, err, vkey)
	}
	if fi, err := os.Stat(filepath.Join(dir, SigningKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v %v", fi, err)
	}
	// Reopened under another name: same key, same entries.
	l2, vkey2, err := Open(dir, Config{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if vkey2 != vkey || l2.Size() != 1 {
		t.Fatalf("reopened: key %q size %d; want %q and 1", vkey2, l2.Size(), vkey)
	}
}

func TestOpenRefusesForeignKey(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Config{Name: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.Remove(filepath.Join(dir, SigningKey)); err != nil {
		t.Fatal(err)
	}
	// A new key cannot take over an existing log.
	if l, _, err := Open(dir, Config{Name: "a.test"}); err == nil {
		l.Close()
		t.Fatal("opened a log with another signing key")
	}
	if _, _, err := Open(t.TempDir(), Config{}); err == nil {
		t.Fatal("made a log with no name")
	}
}

func TestReadVerifierKey(t *testing.T) {
	k, err := audit.GenerateSigningKey("vkey.test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.vkey")
	bad := filepath.Join(dir, "bad.vkey")
	os.WriteFile(good, []byte(k.VerifierKey()+"\n"), 0o644)
	os.WriteFile(bad, []byte("not a key\n"), 0o644)
	for _, tc := range []struct {
		arg string
		ok  bool
	}{
		{k.VerifierKey(), true},
		{" " + k.VerifierKey() + "\n", true},
		{good, true},
		{bad, false},
		{filepath.Join(dir, "missing"), false},
		{"vkey.test+00000000+AAAA", false},
	} {
		got, err := ReadVerifierKey(tc.arg)
		if (err == nil) != tc.ok || (tc.ok && got != k.VerifierKey()) {
			t.Errorf("ReadVerifierKey(%q) = %q, %v; want ok %v", tc.arg, got, err, tc.ok)
		}
	}
}
