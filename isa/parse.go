package isa

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"tfmatch/keys"
)

// MaxFileSize bounds an agreement file.
const MaxFileSize = 1 << 20

// signingKeyPrefix starts a signing key's text encoding.
const signingKeyPrefix = "ed25519:"

// Top-level keys, in the order Encode writes them.
var topKeys = []string{
	"id", "version", "purpose", "legal_basis", "valid_from", "valid_until",
	"retention_days", "small_number_threshold", "rule_set", "parties", "signatures",
}

var partyKeys = []string{"id", "name", "role", "certificate", "signing_key", "age_recipient", "indicators"}

// ReadFile reads and parses an agreement file. It does not check
// signatures; use Load for that.
func ReadFile(path string) (*Agreement, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading agreement: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading agreement: %w", err)
	}
	return data, nil
}

// Parse parses and validates an agreement. name is used in errors (the
// file name). Signatures are parsed but not verified.
func Parse(data []byte, name string) (*Agreement, error) {
	a := &Agreement{file: name, lines: map[string]int{}}
	top, err := a.document(data)
	if err != nil {
		return nil, err
	}
	if err := a.parseTop(top); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Agreement) perr(line int, field string, err error) error {
	return &Error{File: a.file, Line: line, Field: field, Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
}

// document decodes exactly one YAML document holding a mapping.
func (a *Agreement) document(data []byte) (*yaml.Node, error) {
	if len(data) > MaxFileSize {
		return nil, a.perr(0, "", fmt.Errorf("larger than %d bytes", MaxFileSize))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, a.perr(0, "", errors.New("empty file"))
		}
		return nil, a.perr(0, "", fmt.Errorf("yaml: %w", err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, a.perr(extra.Line, "", errors.New("want a single YAML document"))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, a.perr(doc.Line, "", errors.New("want a mapping of agreement fields"))
	}
	return doc.Content[0], nil
}

// fields iterates a mapping node, refusing repeated and unknown keys.
func (a *Agreement) fields(m *yaml.Node, path string, allowed []string, f func(key string, k, v *yaml.Node) error) error {
	if m.Kind != yaml.MappingNode {
		return a.perr(m.Line, path, errors.New("want a mapping"))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			return a.perr(k.Line, path, errors.New("keys must be plain words"))
		}
		if !contains(allowed, k.Value) {
			return a.perr(k.Line, path, fmt.Errorf("unknown key %q (want %s)", truncate(k.Value), strings.Join(allowed, ", ")))
		}
		if seen[k.Value] {
			return a.perr(k.Line, field, errors.New("given twice"))
		}
		seen[k.Value] = true
		a.lines[field] = k.Line
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *Agreement) parseTop(top *yaml.Node) error {
	return a.fields(top, "", topKeys, func(key string, _, v *yaml.Node) error {
		var err error
		switch key {
		case "id":
			a.ID, err = a.str(v, key)
		case "version":
			a.Version, err = a.int(v, key)
		case "purpose":
			a.Purpose, err = a.str(v, key)
		case "legal_basis":
			a.LegalBasis, err = a.str(v, key)
		case "valid_from":
			a.ValidFrom, err = a.date(v, key)
		case "valid_until":
			a.ValidUntil, err = a.date(v, key)
		case "retention_days":
			a.RetentionDays, err = a.int(v, key)
		case "small_number_threshold":
			a.SmallNumberThreshold, err = a.int(v, key)
		case "rule_set":
			err = a.fields(v, key, []string{"version", "sha256"}, func(k string, _, v *yaml.Node) error {
				s, err := a.str(v, key+"."+k)
				if k == "version" {
					a.RuleSet.Version = s
				} else {
					a.RuleSet.SHA256 = strings.ToLower(s)
				}
				return err
			})
		case "parties":
			err = a.parseParties(v)
		case "signatures":
			err = a.parseSignatures(v)
		}
		return err
	})
}

func (a *Agreement) parseParties(v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return a.perr(v.Line, "parties", errors.New("want a list of parties"))
	}
	if len(v.Content) > MaxParties {
		return a.perr(v.Line, "parties", fmt.Errorf("more than %d", MaxParties))
	}
	for i, pn := range v.Content {
		path := fmt.Sprintf("parties[%d]", i)
		a.lines[path] = pn.Line
		var p Party
		err := a.fields(pn, path, partyKeys, func(key string, _, v *yaml.Node) error {
			field := path + "." + key
			var err error
			var s string
			switch key {
			case "id":
				p.ID, err = a.str(v, field)
			case "name":
				p.Name, err = a.str(v, field)
			case "role":
				s, err = a.str(v, field)
				p.Role = Role(s)
			case "certificate":
				err = a.fields(v, field, []string{"ca", "fingerprint"}, func(k string, _, v *yaml.Node) error {
					s, err := a.str(v, field+"."+k)
					s = lowerFingerprint(s)
					if k == "ca" {
						p.Certificate.CA = s
					} else {
						p.Certificate.Fingerprint = s
					}
					return err
				})
			case "signing_key":
				if s, err = a.str(v, field); err == nil {
					p.SigningKey, err = ParseSigningKey(s)
					if err != nil {
						err = a.perr(v.Line, field, err)
					}
				}
			case "age_recipient":
				if s, err = a.str(v, field); err == nil {
					p.AgeRecipient, err = keys.CanonicalRecipient(s)
					if err != nil {
						err = a.perr(v.Line, field, err)
					}
				}
			case "indicators":
				p.Indicators, err = a.strList(v, field, MaxIndicators)
			}
			return err
		})
		if err != nil {
			return err
		}
		a.Parties = append(a.Parties, p)
	}
	return nil
}

func (a *Agreement) parseSignatures(v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return a.perr(v.Line, "signatures", errors.New("want a list of {party, signature}"))
	}
	if len(v.Content) > MaxParties {
		return a.perr(v.Line, "signatures", fmt.Errorf("more than %d", MaxParties))
	}
	for i, sn := range v.Content {
		path := fmt.Sprintf("signatures[%d]", i)
		a.lines[path] = sn.Line
		var s Signature
		err := a.fields(sn, path, []string{"party", "signature"}, func(key string, _, v *yaml.Node) error {
			text, err := a.str(v, path+"."+key)
			if err != nil {
				return err
			}
			if key == "party" {
				s.Party = text
				return nil
			}
			s.Sig, err = base64.StdEncoding.Strict().DecodeString(text)
			if err != nil || len(s.Sig) != ed25519.SignatureSize {
				return a.perr(v.Line, path+".signature", errors.New("want a 64-byte Ed25519 signature in standard base64"))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if s.Party == "" || s.Sig == nil {
			return a.perr(sn.Line, path, errors.New("want party and signature"))
		}
		a.Signatures = append(a.Signatures, s)
	}
	return nil
}

// str reads a scalar as text. Aliases, sequences and mappings are
// refused.
func (a *Agreement) str(v *yaml.Node, field string) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", a.perr(v.Line, field, errors.New("want a single value"))
	}
	if v.Tag == "!!null" {
		return "", a.perr(v.Line, field, errors.New("empty"))
	}
	return v.Value, nil
}

// int reads a non-negative decimal integer.
func (a *Agreement) int(v *yaml.Node, field string) (int, error) {
	s, err := a.str(v, field)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, a.perr(v.Line, field, errors.New("want a whole number"))
	}
	return int(n), nil
}

// date reads "2006-01-02" (midnight UTC) or an RFC 3339 timestamp with
// whole seconds.
func (a *Agreement) date(v *yaml.Node, field string) (time.Time, error) {
	s, err := a.str(v, field)
	if err != nil {
		return time.Time{}, err
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Nanosecond() != 0 || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, a.perr(v.Line, field, errors.New("want a date (2006-01-02) or an RFC 3339 time with whole seconds"))
	}
	return t.UTC(), nil
}

func (a *Agreement) strList(v *yaml.Node, field string, max int) ([]string, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, a.perr(v.Line, field, errors.New("want a list"))
	}
	if len(v.Content) > max {
		return nil, a.perr(v.Line, field, fmt.Errorf("more than %d", max))
	}
	out := make([]string, 0, len(v.Content))
	for _, n := range v.Content {
		s, err := a.str(n, field)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func lowerFingerprint(s string) string {
	if rest, ok := strings.CutPrefix(s, "SHA256:"); ok {
		return "SHA256:" + strings.ToLower(rest)
	}
	return s
}

// ParseSigningKey reads a signing key's text encoding: "ed25519:" and the
// 32-byte public key in standard padded base64.
func ParseSigningKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, signingKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("want %q and a base64 public key", signingKeyPrefix)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want %q and a 32-byte public key in standard base64", signingKeyPrefix)
	}
	return ed25519.PublicKey(b), nil
}

// FormatSigningKey returns a signing key's text encoding.
func FormatSigningKey(k ed25519.PublicKey) string {
	return signingKeyPrefix + base64.StdEncoding.EncodeToString(k)
}
