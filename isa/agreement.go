package isa

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"tfmatch/keys"
	"tfmatch/pki"
)

// Limits that keep an agreement reviewable.
const (
	MaxParties       = 256
	MaxIndicators    = 64 // per agency
	MaxIDLen         = 128
	MaxNameLen       = 256     // a party's organisation name
	MaxTextLen       = 1 << 16 // purpose, legal basis
	MaxIndicatorLen  = 64
	MaxRetentionDays = 36600 // 100 years
)

// Role is what a party does under the agreement.
type Role string

// The roles (DESIGN.md, "What the system does").
const (
	RoleAgency  Role = "agency"  // submits tokens and indicators; answers disclosure requests
	RoleLead    Role = "lead"    // runs links, reads results, asks for disclosures
	RoleAuditor Role = "auditor" // reads the audit log
	RoleMatcher Role = "matcher" // runs the matcher; never holds the programme secret
)

func (r Role) valid() bool {
	switch r {
	case RoleAgency, RoleLead, RoleAuditor, RoleMatcher:
		return true
	}
	return false
}

// Agreement is a parsed information-sharing agreement. Build one with
// Parse, or fill the fields and call Validate.
type Agreement struct {
	ID         string // e.g. "northshire-troubled-families-2025"
	Version    int    // the agreement's own revision number, >= 1
	Purpose    string
	LegalBasis string
	// The agreement is in force from ValidFrom (inclusive) to ValidUntil
	// (exclusive).
	ValidFrom, ValidUntil time.Time
	// RetentionDays is how long any node may keep data received under
	// the agreement.
	RetentionDays int
	// SmallNumberThreshold: aggregate reports suppress any count below it.
	SmallNumberThreshold int
	RuleSet              RuleSetRef
	Parties              []Party

	// Signatures are not part of the canonical form.
	Signatures []Signature

	file string // the name given to Parse, for errors
	// lines maps a field path ("parties[2].age_recipient") to its YAML
	// line, so that Validate can point at the file.
	lines map[string]int
}

// RuleSetRef names the rule set the agreement authorises.
type RuleSetRef struct {
	Version string // the rule set's version string
	SHA256  string // optional: lower-case hex SHA-256 of the rule set file
}

// Party is one party to the agreement.
type Party struct {
	ID          string // party id, as in its certificate (pki.ValidateParty)
	Name        string // optional organisation name, for people
	Role        Role
	Certificate CertIdentity
	SigningKey  ed25519.PublicKey
	// AgeRecipient is the party's age public key. Required for agencies
	// (the programme secret is wrapped to it); optional for others (the
	// lead's is where disclosures are encrypted to). Never the same as
	// the matcher's.
	AgeRecipient string
	// Indicators an agency may send. Required for agencies, empty for
	// everyone else.
	Indicators []string
}

// CertIdentity says which certificates speak for a party. The certificate
// must name the party (its Common Name, see package pki) and chain to the
// CA with fingerprint CA, or be exactly the certificate with fingerprint
// Fingerprint, or both when both are given. Fingerprints are as produced
// by pki.Fingerprint: "SHA256:" and 64 lower-case hex digits.
type CertIdentity struct {
	CA          string
	Fingerprint string
}

// Signature is one party's signature over the canonical bytes.
type Signature struct {
	Party string
	Sig   []byte // 64 bytes, Ed25519
}

// Party returns the party with the given id.
func (a *Agreement) Party(id string) (Party, bool) {
	i := slices.IndexFunc(a.Parties, func(p Party) bool { return p.ID == id })
	if i < 0 {
		return Party{}, false
	}
	return a.Parties[i], true
}

// RoleOf returns the role of party id.
func (a *Agreement) RoleOf(id string) (Role, bool) {
	p, ok := a.Party(id)
	return p.Role, ok
}

// PartiesWithRole returns the ids of the parties with role r, in file
// order.
func (a *Agreement) PartiesWithRole(r Role) []string {
	var out []string
	for _, p := range a.Parties {
		if p.Role == r {
			out = append(out, p.ID)
		}
	}
	return out
}

// Matcher returns the id of the matcher party.
func (a *Agreement) Matcher() string {
	if m := a.PartiesWithRole(RoleMatcher); len(m) == 1 {
		return m[0]
	}
	return ""
}

// Retention returns the retention period as a duration (days of 24 hours).
func (a *Agreement) Retention() time.Duration {
	return time.Duration(a.RetentionDays) * 24 * time.Hour
}

// ActiveAt reports whether the agreement is in force at t: ErrNotYetValid
// before ValidFrom, ErrExpired at or after ValidUntil.
func (a *Agreement) ActiveAt(t time.Time) error {
	if t.Before(a.ValidFrom) {
		return fmt.Errorf("%w: agreement %s is in force from %s", ErrNotYetValid, a.ID, a.ValidFrom.UTC().Format(time.RFC3339))
	}
	if !t.Before(a.ValidUntil) {
		return fmt.Errorf("%w: agreement %s ended at %s", ErrExpired, a.ID, a.ValidUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// KeyContext returns the context that token keys of the given epoch are
// derived under: the agreement's hash and the epoch.
func (a *Agreement) KeyContext(epoch uint32) keys.Context {
	return keys.Context{ISAHash: a.Hash(), Epoch: epoch}
}

// Error is a problem with an agreement, pointing into its file when the
// agreement was parsed from one.
type Error struct {
	File  string // the name given to Parse; empty if not parsed
	Line  int    // YAML line, 0 if unknown
	Field string // e.g. "parties[2].indicators", empty for the whole file
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else {
		b.WriteString("isa: ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by every validation and parse error.
var ErrInvalid = errors.New("invalid agreement")

func (a *Agreement) errAt(field string, err error) error {
	line := a.lines[field]
	// Fall back to the enclosing element's line: "parties[2].x" -> "parties[2]".
	for f := field; line == 0 && f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i <= 0 {
			break
		}
		f = f[:i]
		line = a.lines[f]
	}
	return &Error{File: a.file, Line: line, Field: field, Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
}

// Validate checks the agreement's content (not its signatures): exactly
// one matcher and at least one lead and one agency; unique, well-formed
// party ids; a certificate identity, signing key and role for every
// party; age recipients and indicators for agencies (and indicators for
// no one else); distinct recipients, none shared with the matcher; a
// validity period with from < until; retention >= 1 day; threshold >= 1;
// a rule set version.
func (a *Agreement) Validate() error {
	if err := checkID(a.ID); err != nil {
		return a.errAt("id", err)
	}
	if a.Version < 1 {
		return a.errAt("version", errors.New("must be a whole number >= 1"))
	}
	if err := checkText(a.Purpose, MaxTextLen, true); err != nil {
		return a.errAt("purpose", err)
	}
	if err := checkText(a.LegalBasis, MaxTextLen, true); err != nil {
		return a.errAt("legal_basis", err)
	}
	if a.ValidFrom.IsZero() {
		return a.errAt("valid_from", errors.New("required"))
	}
	if a.ValidUntil.IsZero() {
		return a.errAt("valid_until", errors.New("required"))
	}
	if a.ValidFrom.Nanosecond() != 0 {
		return a.errAt("valid_from", errors.New("dates are whole seconds"))
	}
	if a.ValidUntil.Nanosecond() != 0 {
		return a.errAt("valid_until", errors.New("dates are whole seconds"))
	}
	if !a.ValidFrom.Before(a.ValidUntil) {
		return a.errAt("valid_until", errors.New("must be after valid_from"))
	}
	if a.RetentionDays < 1 || a.RetentionDays > MaxRetentionDays {
		return a.errAt("retention_days", fmt.Errorf("must be 1-%d", MaxRetentionDays))
	}
	if a.SmallNumberThreshold < 1 {
		return a.errAt("small_number_threshold", errors.New("must be >= 1"))
	}
	if err := checkLine(a.RuleSet.Version, MaxIDLen); err != nil {
		return a.errAt("rule_set.version", err)
	}
	if a.RuleSet.SHA256 != "" {
		if err := checkHex(a.RuleSet.SHA256, 64); err != nil {
			return a.errAt("rule_set.sha256", err)
		}
	}
	if len(a.Parties) == 0 {
		return a.errAt("parties", errors.New("required"))
	}
	if len(a.Parties) > MaxParties {
		return a.errAt("parties", fmt.Errorf("more than %d", MaxParties))
	}
	ids := map[string]bool{}
	count := map[Role]int{}
	recipients := map[string]string{} // canonical recipient -> party
	for i, p := range a.Parties {
		at := func(f string) string {
			if f == "" {
				return fmt.Sprintf("parties[%d]", i)
			}
			return fmt.Sprintf("parties[%d].%s", i, f)
		}
		if err := pki.ValidateParty(p.ID); err != nil {
			return a.errAt(at("id"), err)
		}
		if ids[p.ID] {
			return a.errAt(at("id"), fmt.Errorf("party %q listed twice", p.ID))
		}
		ids[p.ID] = true
		if err := checkText(p.Name, MaxNameLen, false); err != nil || strings.ContainsAny(p.Name, "\n\t") {
			return a.errAt(at("name"), errors.New("at most 256 characters on one line"))
		}
		if !p.Role.valid() {
			return a.errAt(at("role"), fmt.Errorf("party %q: want agency, lead, auditor or matcher", p.ID))
		}
		count[p.Role]++
		if p.Certificate.CA == "" && p.Certificate.Fingerprint == "" {
			return a.errAt(at("certificate"), fmt.Errorf("party %q: want ca, fingerprint or both", p.ID))
		}
		if p.Certificate.CA != "" {
			if err := checkFingerprint(p.Certificate.CA); err != nil {
				return a.errAt(at("certificate.ca"), err)
			}
		}
		if p.Certificate.Fingerprint != "" {
			if err := checkFingerprint(p.Certificate.Fingerprint); err != nil {
				return a.errAt(at("certificate.fingerprint"), err)
			}
		}
		if len(p.SigningKey) != ed25519.PublicKeySize {
			return a.errAt(at("signing_key"), fmt.Errorf("party %q: want an Ed25519 public key", p.ID))
		}
		if p.AgeRecipient != "" {
			c, err := keys.CanonicalRecipient(p.AgeRecipient)
			if err != nil {
				return a.errAt(at("age_recipient"), fmt.Errorf("party %q: %w", p.ID, err))
			}
			if c != p.AgeRecipient {
				return a.errAt(at("age_recipient"), fmt.Errorf("party %q: not in standard form", p.ID))
			}
			if other, dup := recipients[c]; dup {
				return a.errAt(at("age_recipient"), fmt.Errorf("party %q uses the same age recipient as %q; each node needs its own", p.ID, other))
			}
			recipients[c] = p.ID
		}
		switch p.Role {
		case RoleAgency:
			if p.AgeRecipient == "" {
				return a.errAt(at("age_recipient"), fmt.Errorf("agency %q: required (the programme secret is wrapped to it)", p.ID))
			}
			if len(p.Indicators) == 0 {
				return a.errAt(at("indicators"), fmt.Errorf("agency %q: required: the indicators it may send", p.ID))
			}
		default:
			if len(p.Indicators) != 0 {
				return a.errAt(at("indicators"), fmt.Errorf("party %q: only agencies send indicators", p.ID))
			}
		}
		if len(p.Indicators) > MaxIndicators {
			return a.errAt(at("indicators"), fmt.Errorf("more than %d", MaxIndicators))
		}
		seen := map[string]bool{}
		for _, ind := range p.Indicators {
			if err := checkIndicator(ind); err != nil {
				return a.errAt(at("indicators"), err)
			}
			if seen[ind] {
				return a.errAt(at("indicators"), fmt.Errorf("indicator %q listed twice", ind))
			}
			seen[ind] = true
		}
	}
	switch {
	case count[RoleMatcher] != 1:
		return a.errAt("parties", fmt.Errorf("want exactly one matcher, have %d", count[RoleMatcher]))
	case count[RoleLead] < 1:
		return a.errAt("parties", errors.New("want at least one lead"))
	case count[RoleAgency] < 1:
		return a.errAt("parties", errors.New("want at least one agency"))
	}
	for i, s := range a.Signatures {
		if len(s.Sig) != ed25519.SignatureSize {
			return a.errAt(fmt.Sprintf("signatures[%d]", i), errors.New("want a 64-byte Ed25519 signature"))
		}
		if !ids[s.Party] {
			return a.errAt(fmt.Sprintf("signatures[%d]", i), fmt.Errorf("%q is not a party", truncate(s.Party)))
		}
		if slices.IndexFunc(a.Signatures[:i], func(o Signature) bool { return o.Party == s.Party }) >= 0 {
			return a.errAt(fmt.Sprintf("signatures[%d]", i), fmt.Errorf("party %q signed twice", s.Party))
		}
	}
	return nil
}

// checkID: 1-128 characters from A-Z a-z 0-9 . _ -, starting with a
// letter or digit, so that an agreement id is safe in file names and logs.
func checkID(s string) error {
	if s == "" || len(s) > MaxIDLen {
		return fmt.Errorf("want 1-%d characters", MaxIDLen)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return errors.New("want letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
	}
	return nil
}

// checkIndicator: the naming rule indicators follow in mapping files and
// rule sets: a letter or underscore, then letters, digits or underscores.
func checkIndicator(s string) error {
	if s == "" || len(s) > MaxIndicatorLen {
		return fmt.Errorf("indicator names are 1-%d characters", MaxIndicatorLen)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return fmt.Errorf("indicator %q: want a letter or underscore followed by letters, digits or underscores", truncate(s))
		}
	}
	return nil
}

// checkText: valid UTF-8, no control characters but tab and newline (when
// multiline), no U+2028/U+2029, at most max bytes; required if required.
func checkText(s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return errors.New("required")
	}
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return errors.New("control characters")
		}
	}
	return nil
}

// checkLine: required single-line printable text.
func checkLine(s string, max int) error {
	if err := checkText(s, max, true); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\n\t") || strings.TrimSpace(s) != s {
		return errors.New("want one line without surrounding spaces")
	}
	return nil
}

func checkHex(s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("want %d lower-case hex digits", n)
	}
	if _, err := hex.DecodeString(s); err != nil || strings.ToLower(s) != s {
		return fmt.Errorf("want %d lower-case hex digits", n)
	}
	return nil
}

func checkFingerprint(s string) error {
	rest, ok := strings.CutPrefix(s, pki.FingerprintPrefix)
	if !ok || checkHex(rest, 64) != nil {
		return fmt.Errorf("want %q and 64 lower-case hex digits", pki.FingerprintPrefix)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > MaxIndicatorLen {
		return s[:MaxIndicatorLen] + "..."
	}
	return s
}

// sameKey compares two public keys.
func sameKey(a, b ed25519.PublicKey) bool { return bytes.Equal(a, b) }
