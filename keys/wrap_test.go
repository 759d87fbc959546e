package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testContext(epoch uint32) Context {
	return Context{ISAHash: HashISA([]byte("an agreement")), Epoch: epoch}
}

func TestWrapUnwrap(t *testing.T) {
	alice, bob, mallory := newIdentity(t), newIdentity(t), newIdentity(t)
	p := ProgrammeSecret{fixedSecret(7)}
	ctx := testContext(3)

	single, err := WrapProgrammeSecret(p, ctx, []age.Recipient{alice.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(single, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Errorf("wrapped file is not armored:\n%s", single)
	}
	if bytes.Contains(single, []byte(prefixProgramme)) {
		t.Error("wrapped file carries the secret's text encoding in clear")
	}
	both, err := WrapProgrammeSecret(p, ctx, []age.Recipient{alice.Recipient(), bob.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	binary := unarmor(t, single)

	tests := []struct {
		name    string
		data    []byte
		id      age.Identity
		wantErr error
	}{
		{"own identity", single, alice, nil},
		{"binary form", binary, alice, nil},
		{"leading blank line", append([]byte("\n"), single...), alice, nil},
		{"other identity", single, bob, ErrUnwrap},
		{"stranger", single, mallory, ErrUnwrap},
		{"multi recipient, first", both, alice, nil},
		{"multi recipient, second", both, bob, nil},
		{"multi recipient, stranger", both, mallory, ErrUnwrap},
		{"no identity", single, nil, ErrUnwrap},
		{"empty", nil, alice, ErrUnwrap},
		{"not age", []byte("tfmatch-programme-secret-v1:AAAA\n"), alice, ErrUnwrap},
		{"truncated", binary[:len(binary)-1], alice, ErrUnwrap},
		{"payload bit flipped", flip(binary, len(binary)-5), alice, ErrUnwrap},
		{"header bit flipped", flip(binary, 40), alice, ErrUnwrap},
		{"too large", append(bytes.Clone(single), make([]byte, maxAgeFile)...), alice, ErrUnwrap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var id age.Identity
			if tc.id != nil {
				id = tc.id
			}
			got, gotCtx, err := UnwrapProgrammeSecret(tc.data, id)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(p) {
				t.Error("unwrapped a different secret")
			}
			if gotCtx != ctx {
				t.Errorf("context = %+v, want %+v", gotCtx, ctx)
			}
		})
	}
}

func TestWrapNoRecipients(t *testing.T) {
	if _, err := WrapProgrammeSecret(ProgrammeSecret{fixedSecret(1)}, testContext(1), nil); err == nil {
		t.Error("wrapping to nobody succeeded")
	}
}

func unarmor(t *testing.T, armored []byte) []byte {
	t.Helper()
	// Re-encrypting is not possible without the plaintext, so decode the
	// armor by hand: base64 lines between the markers.
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	body := strings.Join(lines[1:len(lines)-1], "")
	out, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestCheckContext(t *testing.T) {
	a, b := testContext(1), testContext(2)
	other := Context{ISAHash: HashISA([]byte("another")), Epoch: 1}
	tests := []struct {
		got, want Context
		ok        bool
	}{
		{a, a, true},
		{a, b, false},
		{a, other, false},
	}
	for _, tc := range tests {
		err := CheckContext(tc.got, tc.want)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrWrongContext)) {
			t.Errorf("CheckContext(%d, %d) = %v, want ok=%v", tc.got.Epoch, tc.want.Epoch, err, tc.ok)
		}
	}
}

// TestWrappedPlaintextGolden pins the frozen plaintext format inside a
// wrapped file.
func TestWrappedPlaintextGolden(t *testing.T) {
	p := ProgrammeSecret{fixedSecret(1)}
	text, _ := p.MarshalText()
	got := encodeWrapped(Context{ISAHash: HashISA([]byte("isa")), Epoch: 2}, text)
	golden := filepath.Join("testdata", "wrap_plaintext.txt")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("wrapped plaintext changed:\n got %q\nwant %q", got, want)
	}
}

// TestWrappedHistorical opens a wrapped file committed when the format was
// made, with the throwaway identity committed beside it, so that any change
// that breaks reading old files fails here.
func TestWrappedHistorical(t *testing.T) {
	idPath := filepath.Join("testdata", "wrap_identity.txt")
	filePath := filepath.Join("testdata", "wrap_v1.age")
	want := ProgrammeSecret{fixedSecret(9)}
	wantCtx := Context{ISAHash: HashISA([]byte("historical isa")), Epoch: 4}
	if _, err := os.Stat(filePath); *update && os.IsNotExist(err) {
		rcpt, err := WriteIdentityFile(idPath, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRecipient(rcpt)
		if err != nil {
			t.Fatal(err)
		}
		data, err := WrapProgrammeSecret(want, wantCtx, []age.Recipient{r})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filePath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := ReadIdentityFile(idPath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filePath)
	if err != nil {
		t.Fatal(err)
	}
	got, gotCtx, err := UnwrapProgrammeSecret(data, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) || gotCtx != wantCtx {
		t.Errorf("historical file: secret equal %v, context %+v, want %+v", got.Equal(want), gotCtx, wantCtx)
	}
}

func TestDecodeWrappedRejects(t *testing.T) {
	p := ProgrammeSecret{fixedSecret(1)}
	text, _ := p.MarshalText()
	good := string(encodeWrapped(testContext(5), text))
	h := testContext(5).ISAHash
	hash := hex.EncodeToString(h[:])
	tests := []struct {
		name string
		mut  func(string) string
	}{
		{"missing final newline", func(s string) string { return strings.TrimSuffix(s, "\n") }},
		{"extra line", func(s string) string { return s + "x\n" }},
		{"other header", func(s string) string { return strings.Replace(s, "-v1", "-v2", 1) }},
		{"upper-case hash", func(s string) string { return strings.Replace(s, hash, strings.ToUpper(hash), 1) }},
		{"short hash", func(s string) string { return strings.Replace(s, "isa: ", "isa: 0", 1) }},
		{"epoch with sign", func(s string) string { return strings.Replace(s, "epoch: 5", "epoch: +5", 1) }},
		{"epoch leading zero", func(s string) string { return strings.Replace(s, "epoch: 5", "epoch: 05", 1) }},
		{"epoch too large", func(s string) string { return strings.Replace(s, "epoch: 5", "epoch: 4294967296", 1) }},
		{"other key kind", func(s string) string { return strings.Replace(s, prefixProgramme, prefixLocal, 1) }},
		{"crlf", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeWrapped([]byte(tc.mut(good))); !errors.Is(err, ErrMalformedKey) {
				t.Errorf("err = %v, want ErrMalformedKey", err)
			}
		})
	}
}

// FuzzDecodeWrapped: the decoder never panics, and whatever it accepts
// re-encodes to the same bytes.
func FuzzDecodeWrapped(f *testing.F) {
	p := ProgrammeSecret{fixedSecret(1)}
	text, _ := p.MarshalText()
	f.Add(encodeWrapped(testContext(5), text))
	f.Add([]byte(wrappedHeader + "\nisa: \nepoch: 0\nsecret: \n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, secretText, err := decodeWrapped(data)
		if err != nil {
			return
		}
		if got := encodeWrapped(c, secretText); !bytes.Equal(got, data) {
			t.Fatalf("round trip: %q -> %q", data, got)
		}
	})
}

func TestEncryptedKeyFiles(t *testing.T) {
	dir := t.TempDir()
	owner, other := newIdentity(t), newIdentity(t)
	local := LocalKey{fixedSecret(3)}
	path := filepath.Join(dir, "local.key.age")
	if err := WriteFileEncrypted(path, local, owner.Recipient()); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileEncrypted(path, local, owner.Recipient()); err == nil {
		t.Error("WriteFileEncrypted replaced an existing file")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(prefixLocal)) {
		t.Error("key file holds the key in clear")
	}

	var got LocalKey
	if err := ReadFileEncrypted(path, &got, owner); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(local) {
		t.Error("read back a different key")
	}
	if err := ReadFileEncrypted(path, &got, other); !errors.Is(err, ErrUnwrap) {
		t.Errorf("other identity: err = %v, want ErrUnwrap", err)
	}
	// A key of one kind is never read as another.
	var bk BlindingKey
	if err := ReadFileEncrypted(path, &bk, owner); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("local key read as blinding key: err = %v, want ErrMalformedKey", err)
	}
	// Tampering is detected.
	tampered := filepath.Join(dir, "tampered.age")
	bin := unarmor(t, raw)
	if err := os.WriteFile(tampered, flip(bin, len(bin)-3), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ReadFileEncrypted(tampered, &got, owner); !errors.Is(err, ErrUnwrap) {
		t.Errorf("tampered file: err = %v, want ErrUnwrap", err)
	}
	if err := ReadFileEncrypted(filepath.Join(dir, "missing"), &got, owner); err == nil {
		t.Error("missing file read")
	}
}

func TestIdentityFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agency.identity")
	rcpt, err := WriteIdentityFile(path, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteIdentityFile(path, time.Unix(0, 0)); err == nil {
		t.Error("identity file replaced")
	}
	ids, err := ReadIdentityFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids[0].(*age.X25519Identity).Recipient().String(); got != rcpt {
		t.Errorf("recipient = %s, want %s", got, rcpt)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestParseRecipient(t *testing.T) {
	id := newIdentity(t)
	r := id.Recipient().String()
	tests := []struct {
		in string
		ok bool
	}{
		{r, true},
		{"  " + r + "\n", true},
		{"", false},
		{r + "\n" + r, false},
		{"# " + r, false},
		{"age1notarecipient", false},
		{id.String(), false},
	}
	for _, tc := range tests {
		_, err := ParseRecipient(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseRecipient(%.12q...) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET-"+"KEY") {
			t.Errorf("error echoes a secret key: %v", err)
		}
	}
	if c, err := CanonicalRecipient(" " + r + "\n"); err != nil || c != r {
		t.Errorf("CanonicalRecipient(padded) = %s, %v; want %s", c, err, r)
	}
}

func TestCeremony(t *testing.T) {
	police, school, matcher := newIdentity(t), newIdentity(t), newIdentity(t)
	ctx := testContext(1)
	dir := t.TempDir()
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	rec, err := Ceremony(CeremonyConfig{
		Context: ctx,
		Holders: []Holder{
			{Party: "police", Recipient: police.Recipient().String()},
			{Party: "education", Recipient: school.Recipient().String()},
		},
		Withhold: []string{matcher.Recipient().String()},
		OutDir:   dir,
		Now:      func() time.Time { return at },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Epoch != 1 || rec.At != at || len(rec.Wrapped) != 2 || len(rec.Check) != 16 {
		t.Errorf("record = %+v", rec)
	}
	var secrets []ProgrammeSecret
	for _, w := range rec.Wrapped {
		data, err := os.ReadFile(filepath.Join(dir, w.File))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := UnwrapProgrammeSecret(data, matcher); !errors.Is(err, ErrUnwrap) {
			t.Errorf("matcher opened %s: err = %v", w.File, err)
		}
		id := map[string]*age.X25519Identity{"police": police, "education": school}[w.Party]
		p, c, err := UnwrapProgrammeSecret(data, id)
		if err != nil {
			t.Fatalf("%s cannot open its file: %v", w.Party, err)
		}
		if c != ctx || p.CheckValue() != rec.Check {
			t.Errorf("%s: context %+v, check %s; record check %s", w.Party, c, p.CheckValue(), rec.Check)
		}
		secrets = append(secrets, p)
	}
	if !secrets[0].Equal(secrets[1]) {
		t.Error("agencies received different secrets")
	}

	// A second ceremony (the next epoch) makes a new secret and never
	// replaces files.
	_, err = Ceremony(CeremonyConfig{Context: testContext(2), Holders: []Holder{{"police", police.Recipient().String()}}, OutDir: dir})
	if err == nil {
		t.Error("ceremony replaced an existing wrapped file")
	}
	dir2 := t.TempDir()
	rec2, err := Ceremony(CeremonyConfig{Context: testContext(2), Holders: []Holder{{"police", police.Recipient().String()}}, OutDir: dir2})
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Check == rec.Check {
		t.Error("a new epoch reused the programme secret")
	}
}

func TestCeremonyRefuses(t *testing.T) {
	a, m := newIdentity(t), newIdentity(t)
	ar, mr := a.Recipient().String(), m.Recipient().String()
	tests := []struct {
		name string
		cfg  CeremonyConfig
		want string
	}{
		{"matcher recipient", CeremonyConfig{Holders: []Holder{{"police", ar}, {"dwp", mr}}, Withhold: []string{mr}}, "never receive"},
		{"matcher recipient padded", CeremonyConfig{Holders: []Holder{{"dwp", " " + mr + "\n"}}, Withhold: []string{mr}}, "never receive"},
		{"no holders", CeremonyConfig{}, "no holders"},
		{"path in party", CeremonyConfig{Holders: []Holder{{"../police", ar}}}, "cannot name a file"},
		{"hidden file", CeremonyConfig{Holders: []Holder{{".police", ar}}}, "cannot name a file"},
		{"twice", CeremonyConfig{Holders: []Holder{{"police", ar}, {"police", ar}}}, "twice"},
		{"bad recipient", CeremonyConfig{Holders: []Holder{{"police", "age1xyz"}}}, "age recipient"},
		{"bad withheld", CeremonyConfig{Holders: []Holder{{"police", ar}}, Withhold: []string{"x"}}, "withheld"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.cfg.OutDir = dir
			_, err := Ceremony(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("refused ceremony left %d files", len(ents))
			}
		})
	}
	if _, err := Ceremony(CeremonyConfig{Holders: []Holder{{"police", ar}}}); err == nil {
		t.Error("ceremony without an output directory ran")
	}
}

// TestNoSecretKeysOutsideTestdata refuses any file in this package that
// holds an age secret key outside testdata/.
func TestNoSecretKeysOutsideTestdata(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	marker := "AGE-SECRET-" + "KEY-"
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds an age secret key; keep them in testdata/ only", e.Name())
		}
	}
}
