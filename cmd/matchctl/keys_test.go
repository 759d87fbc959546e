package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/keys"
)

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "programme.key")
	stdout, _, err := run(cmdKeys, "-out", path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %v, want 0600", perm)
	}
	var p keys.ProgrammeSecret
	if err := keys.ReadFile(path, &p); err != nil {
		t.Fatalf("reading the written secret back: %v", err)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if secret := strings.TrimSpace(string(written)); strings.Contains(stdout, secret) {
		t.Errorf("stdout shows the secret: %q", stdout)
	}
	if !strings.Contains(stdout, path) {
		t.Errorf("stdout = %q, want it to name %s", stdout, path)
	}

	// A second secret is a different one.
	other := filepath.Join(dir, "other.key")
	if _, _, err := run(cmdKeys, "-out", other); err != nil {
		t.Fatal(err)
	}
	var q keys.ProgrammeSecret
	if err := keys.ReadFile(other, &q); err != nil {
		t.Fatal(err)
	}
	if p.Equal(q) {
		t.Error("two runs made the same secret")
	}
}

// TestKeysRefusesToOverwrite: a programme secret, once made, is never
// replaced by accident; neither is any other file.
func TestKeysRefusesToOverwrite(t *testing.T) {
	tests := []struct {
		name     string
		existing func(path string) error
	}{
		{"a secret from an earlier run", func(path string) error {
			_, _, err := run(cmdKeys, "-out", path)
			return err
		}},
		{"some other file", func(path string) error { return os.WriteFile(path, []byte("not a key\n"), 0o644) }},
		{"an empty file", func(path string) error { return os.WriteFile(path, nil, 0o600) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "programme.key")
			if err := tt.existing(path); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := run(cmdKeys, "-out", path); err == nil {
				t.Fatal("keys overwrote an existing file without an error")
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Error("the existing file changed")
			}
		})
	}
}
