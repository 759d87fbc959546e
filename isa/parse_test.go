package isa

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func exampleSource(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(exampleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestParseErrors breaks the example in one place at a time and checks
// that the error names the file, the line and the field.
func TestParseErrors(t *testing.T) {
	src := exampleSource(t)
	const police = "  - id: police\n"
	const policeCA = "  - id: police\n    name: Northshire Police and Youth Offending Team\n    role: agency\n    certificate:\n      ca: SHA256:5cfedfe00cb02303ea2cfdce62280fb6fbcd57def912c2e168d94426a6e69417\n"
	const matcherRole = "    role: matcher\n"
	tests := []struct {
		name string
		old  string // replaced (first occurrence) by new; "" appends new
		new  string
		want []string // substrings of the error
	}{
		{"unknown top key", "version: 1\n", "version: 1\nversoin: 2\n", []string{"example.yaml:11:", `unknown key "versoin"`}},
		{"repeated key", "version: 1\n", "version: 1\nversion: 2\n", []string{"example.yaml:11:", "version: ", "given twice"}},
		{"version not a number", "version: 1\n", "version: one\n", []string{"example.yaml:10:", "version", "whole number"}},
		{"version zero", "version: 1\n", "version: 0\n", []string{"example.yaml:10:", "version", ">= 1"}},
		{"version hex", "version: 1\n", "version: 0x1\n", []string{"version", "whole number"}},
		{"id missing", "id: northshire-troubled-families\n", "", []string{"id: ", "want 1-128"}},
		{"id with space", "id: northshire-troubled-families\n", "id: north shire\n", []string{"example.yaml:9:", "id"}},
		{"date format", "valid_from: 2025-04-01\n", "valid_from: 01/04/2025\n", []string{"example.yaml:27:", "valid_from", "date"}},
		{"dates reversed", "valid_until: 2027-04-01\n", "valid_until: 2024-04-01\n", []string{"example.yaml:28:", "valid_until", "after valid_from"}},
		{"fractional second", "valid_from: 2025-04-01\n", "valid_from: 2025-04-01T00:00:00.5Z\n", []string{"valid_from", "whole seconds"}},
		{"retention zero", "retention_days: 400\n", "retention_days: 0\n", []string{"example.yaml:31:", "retention_days"}},
		{"retention negative", "retention_days: 400\n", "retention_days: -1\n", []string{"retention_days", "whole number"}},
		{"threshold zero", "small_number_threshold: 10\n", "small_number_threshold: 0\n", []string{"example.yaml:34:", "small_number_threshold", ">= 1"}},
		{"rule set version missing", "  version: phase1-2012\n", "", []string{"rule_set.version", "required"}},
		{"rule set hash bad", "  sha256: 3e1f63f1a6746f4ff9db4fb66fd7a27b4e4d0d2f1b4e12824bd3341cbb04b064", "  sha256: zz", []string{"example.yaml:39:", "rule_set.sha256", "hex"}},
		{"rule set list", "rule_set:\n  version: phase1-2012\n", "rule_set: [a]\nx:\n  version: phase1-2012\n", []string{"rule_set", "want a mapping"}},
		{"party unknown key", police, police + "    colour: blue\n", []string{"parties[2]", `unknown key "colour"`}},
		{"party bad id", police, "  - id: Police\n", []string{"parties[2].id", "invalid party id"}},
		{"party twice", "  - id: dwp\n", "  - id: police\n", []string{"parties[3].id", `"police" listed twice`}},
		{"bad role", matcherRole, "    role: operator\n", []string{"parties[5].role", "want agency, lead, auditor or matcher"}},
		{"two matchers", "    role: auditor\n", matcherRole, []string{"parties", "exactly one matcher, have 2"}},
		{"no matcher", matcherRole, "    role: auditor\n", []string{"exactly one matcher, have 0"}},
		{"no lead", "    role: lead\n", "    role: auditor\n", []string{"at least one lead"}},
		{"bad CA fingerprint", policeCA, strings.Replace(policeCA, "SHA256:5cfe", "SHA1:5cfe", 1), []string{"parties[2].certificate.ca", "SHA256:"}},
		{"no certificate", policeCA, strings.Replace(policeCA, "    certificate:\n      ca: SHA256:5cfedfe00cb02303ea2cfdce62280fb6fbcd57def912c2e168d94426a6e69417\n", "", 1), []string{"parties[2].certificate", "want ca, fingerprint or both"}},
		{"bad signing key", "ed25519:3gpFAV5dq5lteh4rnC9e4ZR5xCfAjpatXMpQCATpfWs=", "ed25519:3gpF", []string{"parties[2].signing_key", "32-byte"}},
		{"signing key other scheme", "ed25519:3gpFAV5dq5lteh4rnC9e4ZR5xCfAjpatXMpQCATpfWs=", "ssh-ed25519:3gpFAV5dq5lteh4rnC9e4ZR5xCfAjpatXMpQCATpfWs=", []string{"parties[2].signing_key"}},
		{"bad recipient", "age1hh6d3c2hayt346jsdz5hcnvdk0wct6czqs29nw3cc5gpdt5e9e9s0jjq54", "age1hh6d3c2hayt346", []string{"parties[2].age_recipient", "age recipient"}},
		{"agency without recipient", "    age_recipient: age1hh6d3c2hayt346jsdz5hcnvdk0wct6czqs29nw3cc5gpdt5e9e9s0jjq54\n", "", []string{"parties[2].age_recipient", `agency "police": required`}},
		{"shared recipient", "age1hh6d3c2hayt346jsdz5hcnvdk0wct6czqs29nw3cc5gpdt5e9e9s0jjq54", "age1c2l9yw0r0jyr3r90xe6uh7dnh6mpc42c2299aels3300jet5eawqwk9w4a", []string{"parties[5].age_recipient", `"matcher" uses the same age recipient as "police"`}},
		{"agency without indicators", "    indicators: [crime_asb]\n", "", []string{"parties[2].indicators", "required"}},
		{"indicators not a list", "    indicators: [crime_asb]\n", "    indicators: crime_asb\n", []string{"parties[2].indicators", "want a list"}},
		{"bad indicator", "    indicators: [crime_asb]\n", "    indicators: [crime-asb]\n", []string{"parties[2].indicators", `indicator "crime-asb"`}},
		{"indicator twice", "    indicators: [crime_asb]\n", "    indicators: [crime_asb, crime_asb]\n", []string{"parties[2].indicators", "twice"}},
		{"lead with indicators", "    role: lead\n", "    role: lead\n    indicators: [work]\n", []string{"parties[4].indicators", "only agencies"}},
		{"name on two lines", "    name: Northshire Internal Audit\n", "    name: \"Northshire\\nAudit\"\n", []string{"parties[6].name"}},
		{"control character", "    name: Northshire Internal Audit\n", "    name: \"Northshire\\x01Audit\"\n", []string{"parties[6].name"}},
		{"anchor and alias", "    indicators: [crime_asb]\n", "    indicators: *x\n", []string{"yaml"}},
		{"flow sequence of maps", "    indicators: [work]\n", "    indicators: [{a: b}]\n", []string{"parties[3].indicators", "want a single value"}},
		{"second document", "", "---\nid: x\n", []string{"single YAML document"}},
		{"signature bad base64", "", "signatures:\n  - party: police\n    signature: abc\n", []string{"signatures[0].signature", "64-byte"}},
		{"signature twice", "", "signatures:\n  - party: police\n    signature: " + strings.Repeat("A", 86) + "==\n  - party: police\n    signature: " + strings.Repeat("A", 86) + "==\n", []string{"signatures[1]", "signed twice"}},
		{"signature without party", "", "signatures:\n  - signature: " + strings.Repeat("A", 86) + "==\n", []string{"signatures[0]", "want party and signature"}},
		{"null value", "version: 1\n", "version:\n", []string{"version", "empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in string
			if tc.old == "" {
				in = src + tc.new
			} else {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("test broken: %q not in the example", tc.old)
				}
				in = strings.Replace(src, tc.old, tc.new, 1)
			}
			_, err := Parse([]byte(in), "example.yaml")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.File != "example.yaml" {
				t.Errorf("error is not an *Error naming the file: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseWholeFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty file"},
		{"comment only", "# nothing\n", "empty file"},
		{"list", "- a\n", "want a mapping"},
		{"scalar", "hello\n", "want a mapping"},
		{"bad yaml", "id: [\n", "yaml"},
		{"tab indent", "id: x\n\tversion: 1\n", "yaml"},
		{"too large", strings.Repeat("#", MaxFileSize+1), "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in), "f.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Errorf("err = %v, want one starting f.yaml and containing %q", err, tc.want)
			}
		})
	}
}

// TestCanonicalStable: the canonical bytes ignore comments, layout,
// quoting, key order and party and indicator order, and change with any
// value.
func TestCanonicalStable(t *testing.T) {
	src := exampleSource(t)
	base, err := Parse([]byte(src), "x")
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := base.Encode()
	if err != nil {
		t.Fatal(err)
	}
	police := src[strings.Index(src, "  - id: police\n"):strings.Index(src, "  - id: dwp\n")]
	same := []struct{ name, in string }{
		{"comments removed", stripComments(src)},
		{"re-encoded", string(encoded)},
		{"parties reordered", strings.Replace(strings.Replace(src, police, "", 1), "parties:\n", "parties:\n"+police, 1)},
		{"indicators reordered", strings.Replace(src, "[crime_asb, local_concern]", "[local_concern, crime_asb]", 1)},
		{"quoted", strings.Replace(src, "id: northshire-troubled-families", `id: "northshire-troubled-families"`, 1)},
		{"date as timestamp", strings.Replace(src, "valid_from: 2025-04-01", "valid_from: 2025-04-01T01:00:00+01:00", 1)},
		{"upper-case fingerprint", strings.Replace(src, "SHA256:c972d8e5adfba", "SHA256:C972D8E5ADFBA", 1)},
		{"top-level keys reordered", strings.Replace(src, "id: northshire-troubled-families\nversion: 1\n", "version: 1\nid: northshire-troubled-families\n", 1)},
	}
	for _, tc := range same {
		a, err := Parse([]byte(tc.in), "x")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(a.Canonical(), base.Canonical()) {
			t.Errorf("%s: canonical bytes changed:\n%s\n%s", tc.name, a.Canonical(), base.Canonical())
		}
	}
	differ := []struct{ name, old, new string }{
		{"version", "version: 1\n", "version: 2\n"},
		{"purpose", "Identify households", "Identify families"},
		{"until", "valid_until: 2027-04-01", "valid_until: 2027-04-02"},
		{"retention", "retention_days: 400", "retention_days: 401"},
		{"threshold", "small_number_threshold: 10", "small_number_threshold: 11"},
		{"rule set", "version: phase1-2012", "version: phase1-2013"},
		{"indicator", "[crime_asb, local_concern]", "[crime_asb]"},
		{"role", "    role: auditor\n", "    role: lead\n"},
		{"name", "name: Northshire Internal Audit", "name: Northshire Audit"},
	}
	for _, tc := range differ {
		a, err := Parse([]byte(strings.Replace(src, tc.old, tc.new, 1)), "x")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.Hash() == base.Hash() {
			t.Errorf("%s: changing a value kept the hash", tc.name)
		}
	}
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// FuzzParse: Parse never panics; whatever it accepts has canonical bytes
// that are valid JSON, re-encodes to YAML that parses to the same
// canonical bytes and signatures, and the encoding is a fixed point.
func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleSource(f)))
	if b, err := os.ReadFile("../deploy/examples/isa-signed.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("id: x\nversion: 1\n"))
	f.Add([]byte("parties:\n  - id: a\n    role: agency\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data, "fuzz")
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		c := a.Canonical()
		if !json.Valid(c) {
			t.Fatalf("canonical bytes are not JSON: %s", c)
		}
		enc, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(enc, "encoded")
		if err != nil {
			t.Fatalf("re-encoded agreement does not parse: %v\n%s", err, enc)
		}
		if !bytes.Equal(b.Canonical(), c) {
			t.Fatalf("round trip changed the canonical bytes:\n%s\n%s", c, b.Canonical())
		}
		if len(b.Signatures) != len(a.Signatures) {
			t.Fatalf("round trip changed the number of signatures")
		}
		for _, s := range a.Signatures {
			if !slices.ContainsFunc(b.Signatures, func(o Signature) bool { return o.Party == s.Party && bytes.Equal(o.Sig, s.Sig) }) {
				t.Fatalf("round trip lost %q's signature", s.Party)
			}
		}
		enc2, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}
