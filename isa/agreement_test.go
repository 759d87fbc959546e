package isa

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestValidate covers agreements built in code, where no file names the
// line: errors start "isa: " and name the field.
func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(a *Agreement)
		field string
	}{
		{"ok", func(*Agreement) {}, ""},
		{"sub-second from", func(a *Agreement) { a.ValidFrom = a.ValidFrom.Add(time.Millisecond) }, "valid_from"},
		{"sub-second until", func(a *Agreement) { a.ValidUntil = a.ValidUntil.Add(time.Millisecond) }, "valid_until"},
		{"no from", func(a *Agreement) { a.ValidFrom = time.Time{} }, "valid_from"},
		{"equal dates", func(a *Agreement) { a.ValidUntil = a.ValidFrom }, "valid_until"},
		{"retention too long", func(a *Agreement) { a.RetentionDays = MaxRetentionDays + 1 }, "retention_days"},
		{"blank purpose", func(a *Agreement) { a.Purpose = " \n" }, "purpose"},
		{"line separator", func(a *Agreement) { a.LegalBasis = "a\u2028b" }, "legal_basis"},
		{"invalid UTF-8", func(a *Agreement) { a.Purpose = "a\xffb" }, "purpose"},
		{"rule set with spaces", func(a *Agreement) { a.RuleSet.Version = " v1" }, "rule_set.version"},
		{"upper-case rule set hash", func(a *Agreement) { a.RuleSet.SHA256 = strings.Repeat("A", 64) }, "rule_set.sha256"},
		{"no parties", func(a *Agreement) { a.Parties = nil }, "parties"},
		{"no agency", func(a *Agreement) {
			var keep []Party
			for _, p := range a.Parties {
				if p.Role != RoleAgency {
					keep = append(keep, p)
				}
			}
			a.Parties = keep
		}, "parties"},
		{"short signing key", func(a *Agreement) { a.Parties[0].SigningKey = a.Parties[0].SigningKey[:31] }, "parties[0].signing_key"},
		{"recipient with spaces", func(a *Agreement) { a.Parties[0].AgeRecipient = " " + a.Parties[0].AgeRecipient }, "parties[0].age_recipient"},
		{"upper-case fingerprint", func(a *Agreement) { a.Parties[0].Certificate.CA = strings.ToUpper(a.Parties[0].Certificate.CA) }, "parties[0].certificate.ca"},
		{"leaf fingerprint malformed", func(a *Agreement) { a.Parties[0].Certificate.Fingerprint = "SHA256:00" }, "parties[0].certificate.fingerprint"},
		{"too many indicators", func(a *Agreement) {
			a.Parties[0].Indicators = nil
			for i := range MaxIndicators + 1 {
				a.Parties[0].Indicators = append(a.Parties[0].Indicators, "i"+strings.Repeat("x", i))
			}
		}, "parties[0].indicators"},
		{"signature from a stranger", func(a *Agreement) {
			a.Signatures = []Signature{{Party: "health", Sig: make([]byte, 64)}}
		}, "signatures[0]"},
		{"short signature", func(a *Agreement) {
			a.Signatures = []Signature{{Party: "police", Sig: make([]byte, 63)}}
		}, "signatures[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.mut(f.a)
			err := f.a.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want an *Error on field %s", err, tc.field)
			}
			if !strings.HasPrefix(err.Error(), "isa: "+tc.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

// TestEncodeRoundTrip: an agreement built in code encodes to YAML that
// parses back to the same canonical bytes and signatures.
func TestEncodeRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.a.Purpose = "Line one.\nLine two: with a colon, and \"quotes\".\n"
	f.a.Parties[0].Name = "yes"
	f.a.ValidUntil = time.Date(2026, 4, 1, 12, 30, 0, 0, time.UTC)
	f.signAll(t)
	enc, err := f.a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(enc, "enc.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, enc)
	}
	if !bytes.Equal(b.Canonical(), f.a.Canonical()) {
		t.Errorf("canonical bytes changed:\n%s\n%s", b.Canonical(), f.a.Canonical())
	}
	if err := b.VerifySignatures(nil); err != nil {
		t.Errorf("signatures lost in the round trip: %v", err)
	}
	if b.Purpose != f.a.Purpose || b.Parties[0].Name != "yes" {
		t.Errorf("text changed: %q, %q", b.Purpose, b.Parties[0].Name)
	}
}
