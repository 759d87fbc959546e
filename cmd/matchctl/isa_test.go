package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/internal/devnet"
	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/pki"
)

// devAgreement writes a development PKI and an unsigned agreement over it.
func devAgreement(t *testing.T) *devnet.AgreementFiles {
	t.Helper()
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	var parties []string
	for _, p := range devnet.DevParties() {
		if p.ID != devnet.MatcherParty {
			parties = append(parties, p.ID)
		}
	}
	if _, err := pki.WriteDevPKI(pkiDir, parties, map[string][]string{devnet.MatcherParty: {"localhost"}}, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	files, err := devnet.WriteAgreement(devnet.AgreementConfig{Dir: filepath.Join(dir, "isa"), PKIDir: pkiDir})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func signAll(t *testing.T, files *devnet.AgreementFiles) {
	t.Helper()
	for p, key := range files.SigningKeys {
		if _, _, err := run(cmdISA, "sign", "-isa", files.Path, "-party", p, "-key", key); err != nil {
			t.Fatalf("signing as %s: %v", p, err)
		}
	}
}

func TestISAKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "police-isa.key")
	stdout, _, err := run(cmdISA, "keygen", "-out", path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := isa.ParseSigningKey(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("stdout %q is not a signing key: %v", stdout, err)
	}
	priv, err := isa.ReadSigningKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("the printed key is not the public half of the written one")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	written, _ := os.ReadFile(path)
	if bytes.Contains([]byte(stdout), bytes.TrimSpace(written)) {
		t.Error("stdout shows the private key")
	}
	if _, _, err := run(cmdISA, "keygen", "-out", path); err == nil {
		t.Error("keygen replaced an existing key")
	}
}

func TestISAUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "subcommand is required"},
		{[]string{"seal"}, `unknown subcommand "seal"`},
		{[]string{"keygen"}, "-out is required"},
		{[]string{"sign", "-isa", "x"}, "-party is required"},
		{[]string{"sign", "-isa", "x", "-party", "police"}, "-key is required"},
		{[]string{"verify"}, "-isa is required"},
	}
	for _, tt := range tests {
		_, _, err := run(cmdISA, tt.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("isa %q: err %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestISASignVerify signs an agreement party by party and checks what
// verify says at each step, and that a change after signing is caught.
func TestISASignVerify(t *testing.T) {
	files := devAgreement(t)
	a, err := isa.ReadFile(files.Path)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Hash()
	wantHash := "hash " + hex.EncodeToString(h[:])

	stdout, _, err := run(cmdISA, "verify", "-isa", files.Path)
	if !errors.Is(err, errAgreementNotSigned) {
		t.Fatalf("verify of an unsigned agreement: %v, want errAgreementNotSigned", err)
	}
	if !strings.Contains(stdout, wantHash) || strings.Count(stdout, "NOT SIGNED") != len(a.Parties) {
		t.Errorf("verify output:\n%s\nwant the hash and every party NOT SIGNED", stdout)
	}

	// Signing with another party's key is refused and leaves the file alone.
	before, _ := os.ReadFile(files.Path)
	if _, _, err := run(cmdISA, "sign", "-isa", files.Path, "-party", "police", "-key", files.SigningKeys["dwp"]); err == nil {
		t.Error("police signed with dwp's key")
	}
	if _, _, err := run(cmdISA, "sign", "-isa", files.Path, "-party", "nobody", "-key", files.SigningKeys["dwp"]); err == nil {
		t.Error("a non-party signed")
	}
	if after, _ := os.ReadFile(files.Path); !bytes.Equal(before, after) {
		t.Error("a refused signature changed the file")
	}

	stdout, _, err = run(cmdISA, "sign", "-isa", files.Path, "-party", "police", "-key", files.SigningKeys["police"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "still to sign:") || strings.Contains(stdout, "still to sign: police") {
		t.Errorf("sign output %q", stdout)
	}
	stdout, _, err = run(cmdISA, "verify", "-isa", files.Path)
	if !errors.Is(err, errAgreementNotSigned) || strings.Count(stdout, "NOT SIGNED") != len(a.Parties)-1 {
		t.Errorf("after one signature: %v\n%s", err, stdout)
	}
	signAll(t, files)
	stdout, _, err = run(cmdISA, "verify", "-isa", files.Path)
	if err != nil {
		t.Fatalf("verify of a fully signed agreement: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, wantHash) || !strings.Contains(stdout, "signed by all 7 parties") {
		t.Errorf("verify output:\n%s", stdout)
	}
	signed, _ := os.ReadFile(files.Path)
	if !bytes.HasPrefix(signed, before[:bytes.IndexByte(before, '\n')]) {
		t.Error("signing dropped the file's leading comment")
	}
	if _, err := isa.Load(files.Path, nil); err != nil {
		t.Errorf("isa.Load of the signed file: %v", err)
	}

	// A change to a value after signing breaks every signature.
	changed := bytes.Replace(signed, []byte("retention_days: 365"), []byte("retention_days: 3650"), 1)
	if bytes.Equal(changed, signed) {
		t.Fatal("test cannot find retention_days")
	}
	if err := os.WriteFile(files.Path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = run(cmdISA, "verify", "-isa", files.Path)
	if !errors.Is(err, errAgreementNotSigned) || strings.Count(stdout, "BAD SIGNATURE") != len(a.Parties) {
		t.Errorf("verify after a change: %v\n%s", err, stdout)
	}
}

func TestKeysCeremony(t *testing.T) {
	files := devAgreement(t)
	out := filepath.Join(t.TempDir(), "ceremony")

	if _, _, err := run(cmdKeys, "ceremony", "-isa", files.Path, "-out", out); err == nil {
		t.Fatal("the ceremony ran on an unsigned agreement")
	}
	if names, _ := os.ReadDir(out); len(names) != 0 {
		t.Errorf("a refused ceremony left %d files", len(names))
	}
	signAll(t, files)
	stdout, _, err := run(cmdKeys, "ceremony", "-isa", files.Path, "-epoch", "1", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	var rec keys.CeremonyRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
		t.Fatalf("stdout is not the ceremony record: %v\n%s", err, stdout)
	}
	a, err := isa.Load(files.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := a.KeyContext(1)
	if rec.ISAHash != hex.EncodeToString(want.ISAHash[:]) || rec.Epoch != 1 || len(rec.Wrapped) != 4 {
		t.Fatalf("record %+v", rec)
	}
	for _, p := range a.Parties {
		wrapped := filepath.Join(out, keys.WrappedFileName(p.ID))
		data, err := os.ReadFile(wrapped)
		if p.Role != isa.RoleAgency {
			if err == nil {
				t.Errorf("%s (%s) received the programme secret", p.ID, p.Role)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids, err := keys.ReadIdentityFile(files.Identities[p.ID])
		if err != nil {
			t.Fatal(err)
		}
		secret, got, err := keys.UnwrapProgrammeSecret(data, ids[0])
		if err != nil {
			t.Fatalf("%s cannot open its file: %v", p.ID, err)
		}
		if err := keys.CheckContext(got, want); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
		if secret.CheckValue() != rec.Check {
			t.Errorf("%s: check value differs from the record", p.ID)
		}
		// The matcher's identity opens no agency's file.
		mids, err := keys.ReadIdentityFile(files.Identities[devnet.MatcherParty])
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := keys.UnwrapProgrammeSecret(data, mids[0]); err == nil {
			t.Errorf("the matcher opened %s's file", p.ID)
		}
	}
	// A second ceremony into the same directory replaces nothing.
	if _, _, err := run(cmdKeys, "ceremony", "-isa", files.Path, "-out", out); err == nil {
		t.Error("a second ceremony overwrote the first one's files")
	}
	if _, _, err := run(cmdKeys, "ceremony", "-isa", files.Path, "-epoch", "0", "-out", out); err == nil {
		t.Error("epoch 0 accepted")
	}
}
