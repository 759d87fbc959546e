package isa

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// CanonicalFormat is the "format" member of the canonical form. It
// changes only with an incompatible change to the canonical form.
const CanonicalFormat = "tfmatch-isa-v1"

// Canonical returns the agreement's canonical bytes (see the package
// documentation). Signatures are not included. The result is meaningful
// only for an agreement that passes Validate, as every parsed one does.
func (a *Agreement) Canonical() []byte {
	doc := map[string]any{
		"format":                 CanonicalFormat,
		"id":                     a.ID,
		"version":                a.Version,
		"purpose":                a.Purpose,
		"legal_basis":            a.LegalBasis,
		"valid_from":             canonicalTime(a.ValidFrom),
		"valid_until":            canonicalTime(a.ValidUntil),
		"retention_days":         a.RetentionDays,
		"small_number_threshold": a.SmallNumberThreshold,
	}
	rs := map[string]any{"version": a.RuleSet.Version}
	if a.RuleSet.SHA256 != "" {
		rs["sha256"] = a.RuleSet.SHA256
	}
	doc["rule_set"] = rs
	parties := slices.Clone(a.Parties)
	slices.SortFunc(parties, func(x, y Party) int { return strings.Compare(x.ID, y.ID) })
	var ps []any
	for _, p := range parties {
		m := map[string]any{
			"id":          p.ID,
			"role":        string(p.Role),
			"signing_key": FormatSigningKey(p.SigningKey),
		}
		cert := map[string]any{}
		if p.Certificate.CA != "" {
			cert["ca"] = p.Certificate.CA
		}
		if p.Certificate.Fingerprint != "" {
			cert["fingerprint"] = p.Certificate.Fingerprint
		}
		m["certificate"] = cert
		if p.Name != "" {
			m["name"] = p.Name
		}
		if p.AgeRecipient != "" {
			m["age_recipient"] = p.AgeRecipient
		}
		if len(p.Indicators) > 0 {
			ind := slices.Clone(p.Indicators)
			slices.Sort(ind)
			m["indicators"] = slices.Compact(ind)
		}
		ps = append(ps, m)
	}
	doc["parties"] = ps
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Maps of strings, ints and slices of them always encode.
		panic(fmt.Sprintf("isa: canonical encoding: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func canonicalTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Hash returns SHA-256 of the canonical bytes: the value keys are derived
// under (keys.Context.ISAHash) and every submission carries.
func (a *Agreement) Hash() [32]byte { return sha256.Sum256(a.Canonical()) }

// yamlAgreement fixes the order and spelling Encode writes.
type yamlAgreement struct {
	ID                   string          `yaml:"id"`
	Version              int             `yaml:"version"`
	Purpose              string          `yaml:"purpose"`
	LegalBasis           string          `yaml:"legal_basis"`
	ValidFrom            string          `yaml:"valid_from"`
	ValidUntil           string          `yaml:"valid_until"`
	RetentionDays        int             `yaml:"retention_days"`
	SmallNumberThreshold int             `yaml:"small_number_threshold"`
	RuleSet              yamlRuleSet     `yaml:"rule_set"`
	Parties              []yamlParty     `yaml:"parties"`
	Signatures           []yamlSignature `yaml:"signatures,omitempty"`
}

type yamlRuleSet struct {
	Version string `yaml:"version"`
	SHA256  string `yaml:"sha256,omitempty"`
}

type yamlParty struct {
	ID           string   `yaml:"id"`
	Name         string   `yaml:"name,omitempty"`
	Role         string   `yaml:"role"`
	Certificate  yamlCert `yaml:"certificate"`
	SigningKey   string   `yaml:"signing_key"`
	AgeRecipient string   `yaml:"age_recipient,omitempty"`
	Indicators   []string `yaml:"indicators,flow,omitempty"`
}

type yamlCert struct {
	CA          string `yaml:"ca,omitempty"`
	Fingerprint string `yaml:"fingerprint,omitempty"`
}

type yamlSignature struct {
	Party     string `yaml:"party"`
	Signature string `yaml:"signature"`
}

func yamlTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// Encode writes the agreement, with its signatures, as YAML in a fixed
// layout (file order of parties, no comments). Parse(Encode()) has the
// same canonical bytes and signatures.
func (a *Agreement) Encode() ([]byte, error) {
	doc := yamlAgreement{
		ID: a.ID, Version: a.Version, Purpose: a.Purpose, LegalBasis: a.LegalBasis,
		ValidFrom: yamlTime(a.ValidFrom), ValidUntil: yamlTime(a.ValidUntil),
		RetentionDays: a.RetentionDays, SmallNumberThreshold: a.SmallNumberThreshold,
		RuleSet:    yamlRuleSet(a.RuleSet),
		Signatures: a.yamlSignatures(),
	}
	for _, p := range a.Parties {
		doc.Parties = append(doc.Parties, yamlParty{
			ID: p.ID, Name: p.Name, Role: string(p.Role),
			Certificate: yamlCert(p.Certificate),
			SigningKey:  FormatSigningKey(p.SigningKey), AgeRecipient: p.AgeRecipient,
			Indicators: p.Indicators,
		})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("isa: encoding: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("isa: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlSignatures lists the signatures in party order.
func (a *Agreement) yamlSignatures() []yamlSignature {
	var out []yamlSignature
	for _, p := range a.Parties {
		if i := slices.IndexFunc(a.Signatures, func(s Signature) bool { return s.Party == p.ID }); i >= 0 {
			out = append(out, yamlSignature{Party: p.ID, Signature: base64.StdEncoding.EncodeToString(a.Signatures[i].Sig)})
		}
	}
	return out
}

// AppendSignatures returns src, an agreement file with the same canonical
// bytes as a, with its signatures section replaced by a's signatures, so
// that signing keeps the file's comments and layout. The signatures
// section, if src has one, must be the last top-level key of a block-style
// mapping; otherwise use Encode.
func (a *Agreement) AppendSignatures(src []byte) ([]byte, error) {
	b := &Agreement{file: a.file, lines: map[string]int{}}
	top, err := b.document(src)
	if err != nil {
		return nil, err
	}
	if err := b.parseTop(top); err != nil {
		return nil, err
	}
	if b.Hash() != a.Hash() {
		return nil, errors.New("isa: the file is a different agreement from the one signed")
	}
	if top.Style&yaml.FlowStyle != 0 {
		return nil, errors.New("isa: cannot add signatures to a flow-style file; use Encode")
	}
	out := src
	n := len(top.Content)
	for i := 0; i+1 < n; i += 2 {
		if top.Content[i].Value != "signatures" {
			continue
		}
		if i != n-2 {
			return nil, fmt.Errorf("isa: %s:%d: signatures must be the last section", a.file, top.Content[i].Line)
		}
		off, ok := lineOffset(src, top.Content[i].Line)
		if !ok || top.Content[i].Column != 1 {
			return nil, errors.New("isa: cannot find the signatures section")
		}
		out = src[:off]
	}
	var buf bytes.Buffer
	buf.Write(out)
	if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		buf.WriteByte('\n')
	}
	if sigs := a.yamlSignatures(); len(sigs) > 0 {
		if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n\n")) {
			buf.WriteByte('\n')
		}
		buf.WriteString("signatures:\n")
		for _, s := range sigs {
			fmt.Fprintf(&buf, "  - party: %q\n    signature: %q\n", s.Party, s.Signature)
		}
	}
	return buf.Bytes(), nil
}

// lineOffset returns the byte offset of the start of 1-based line n.
func lineOffset(src []byte, n int) (int, bool) {
	off := 0
	for line := 1; line < n; line++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	return off, true
}
