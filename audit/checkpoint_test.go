package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointText(t *testing.T) {
	root := bytes.Repeat([]byte{0xab}, 32)
	c := Checkpoint{Origin: "audit.example.gov.uk", Size: 42, Root: root}
	got, err := c.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	want := "audit.example.gov.uk\n42\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
	if string(got) != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	back, err := ParseCheckpoint(got)
	if err != nil || back.Origin != c.Origin || back.Size != c.Size || !bytes.Equal(back.Root, root) {
		t.Errorf("parse = %+v, %v", back, err)
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	root := "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"no final newline", "o\n1\n" + root},
		{"two lines", "o\n1\n"},
		{"empty origin", "\n1\n" + root + "\n"},
		{"size not a number", "o\nx\n" + root + "\n"},
		{"size with leading zero", "o\n01\n" + root + "\n"},
		{"size with sign", "o\n+1\n" + root + "\n"},
		{"negative size", "o\n-1\n" + root + "\n"},
		{"root not base64", "o\n1\n!!\n"},
		{"root too short", "o\n1\nq6urq6s=\n"},
		{"root not canonical base64", "o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6t=\n"},
		{"empty extension line", "o\n1\n" + root + "\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCheckpoint([]byte(tt.text)); !errors.Is(err, ErrCheckpointMalformed) {
				t.Errorf("ParseCheckpoint(%q) = %v, want ErrCheckpointMalformed", tt.text, err)
			}
		})
	}
	// Extension lines are kept.
	c, err := ParseCheckpoint([]byte("o\n1\n" + root + "\nextra line\n"))
	if err != nil || len(c.Extensions) != 1 || c.Extensions[0] != "extra line" {
		t.Errorf("extension: %+v, %v", c, err)
	}
}

func TestOpenCheckpoint(t *testing.T) {
	k := testKey(t, "audit.test")
	v, _ := NewVerifier(k.VerifierKey())
	root := bytes.Repeat([]byte{1}, 32)
	signed := signWith(t, k, Checkpoint{Origin: "audit.test", Size: 3, Root: root})
	if c, err := OpenCheckpoint(signed, v); err != nil || c.Size != 3 {
		t.Fatalf("OpenCheckpoint = %+v, %v", c, err)
	}
	// The note is a standard one that note.Open accepts.
	if n, err := note.Open(signed, note.VerifierList(v)); err != nil || !strings.HasPrefix(n.Text, "audit.test\n3\n") {
		t.Fatalf("note.Open = %v", err)
	}
	wrongOrigin := signWith(t, k, Checkpoint{Origin: "elsewhere", Size: 3, Root: root})
	if _, err := OpenCheckpoint(wrongOrigin, v); !errors.Is(err, ErrCheckpointMalformed) || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("wrong origin: %v", err)
	}
	other := testKey(t, "audit.test")
	if _, err := OpenCheckpoint(signWith(t, other, Checkpoint{Origin: "audit.test", Size: 3, Root: root}), v); !errors.Is(err, ErrCheckpointSignature) {
		t.Errorf("other key: %v", err)
	}
	if _, err := OpenCheckpoint([]byte("not a note"), v); !errors.Is(err, ErrCheckpointMalformed) {
		t.Errorf("garbage: %v", err)
	}
}

func TestSigningKey(t *testing.T) {
	k := testKey(t, "audit.example")
	text, err := k.MarshalText()
	if err != nil || !strings.HasPrefix(string(text), "PRIVATE+KEY+audit.example+") {
		t.Fatalf("MarshalText = %q, %v", text, err)
	}
	var back SigningKey
	if err := back.UnmarshalText(append(text, '\n')); err != nil {
		t.Fatal(err)
	}
	if back.VerifierKey() != k.VerifierKey() || back.Name() != "audit.example" {
		t.Errorf("parsed key: verifier %q, name %q", back.VerifierKey(), back.Name())
	}
	if s := k.String(); strings.Contains(s, string(text)) || !strings.Contains(s, "redacted") {
		t.Errorf("String reveals the key: %q", s)
	}
	// The derived verifier key verifies what the signer signs.
	s, _ := back.Signer()
	if err := checkKeyPair(s, back.VerifierKey()); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "PRIVATE+KEY+x", k.VerifierKey(), strings.Replace(string(text), "audit.example", "other", 1)} {
		if _, err := ParseSigningKey(bad); err == nil {
			t.Errorf("ParseSigningKey(%q) succeeded", bad)
		}
	}
	if _, err := (SigningKey{}).MarshalText(); err == nil {
		t.Error("empty key marshals")
	}
}

// FuzzParseCheckpoint: no panic, and accepted text round-trips exactly.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("audit.test\n42\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"))
	f.Add([]byte("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpoint(b)
		if err != nil {
			return
		}
		again, err := c.MarshalText()
		if err != nil {
			t.Fatalf("parsed checkpoint does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip: %q -> %q", b, again)
		}
	})
}

// FuzzReceiptJSON: receipt files are read from agencies; reading never
// panics and what is read writes back to an equal receipt.
func FuzzReceiptJSON(f *testing.F) {
	f.Add([]byte(`{"type":"tfmatch-audit-receipt/1","index":3,"entry":"AQI=","proof":["AAAA"],"checkpoint":"o\n1\nx\n"}`))
	f.Add([]byte(`{"type":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Receipt
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var r2 Receipt
		if err := json.Unmarshal(out, &r2); err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if r2.Index != r.Index || !bytes.Equal(r2.Entry, r.Entry) || len(r2.Proof) != len(r.Proof) {
			t.Fatalf("round trip changed the receipt")
		}
		for i := range r.Proof {
			if !bytes.Equal(r.Proof[i], r2.Proof[i]) {
				t.Fatalf("proof %d changed", i)
			}
		}
		// A checkpoint that is not valid UTF-8 is not a note; json
		// replaces such bytes, so only compare valid text.
		if !bytes.Equal(r2.Checkpoint, r.Checkpoint) && !strings.ContainsRune(string(r.Checkpoint), '\uFFFD') {
			t.Fatalf("checkpoint changed")
		}
	})
}
