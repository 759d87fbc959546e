// Package isa owns the information-sharing agreement (ISA): the signed
// document that names every party to a programme, the role each may play,
// the indicators each agency may share, the rule set, the retention period
// and the dates the agreement is in force. It parses and validates the
// agreement file, computes its canonical form and hash, signs and verifies
// it, and answers the enforcement questions every node asks: who is this
// certificate, may this party do this, may this agency send this
// indicator, is the agreement in force today (see [Policy]).
//
// # File format
//
// An agreement is a YAML file, described field by field in docs/isa.md.
// [Parse] is strict: unknown or repeated keys, wrong value kinds, aliases,
// several documents and out-of-range values are refused with an [Error]
// that names the file, line and field.
//
// # Canonical form
//
// Parties sign, and keys and submissions are bound to, the agreement's
// canonical bytes, not its file bytes, so that comments, key order,
// quoting and whitespace do not change its identity. The canonical bytes
// are the JSON Canonicalization Scheme (RFC 8785) serialisation of one
// JSON object:
//
//   - "format": "tfmatch-isa-v1", then every field of the agreement under
//     its YAML key, except "signatures";
//   - object keys sorted (all keys are ASCII); no whitespace;
//   - optional fields that are empty are omitted;
//   - dates as RFC 3339 UTC timestamps to the second ("2025-04-01T00:00:00Z");
//   - integers as JSON integers; text as given, after YAML parsing;
//   - parties sorted by id; each party's indicators sorted and de-duplicated;
//     fingerprints and hashes in lower-case hex; age recipients in their
//     standard spelling; signing keys as "ed25519:" + standard padded base64.
//
// Text fields may not hold control characters other than tab and newline,
// nor U+2028 or U+2029, so the serialisation is the same under RFC 8785
// and Go's encoding/json. The canonical form is frozen: a change is a new
// "format" value. [Agreement.Hash] is SHA-256 of the canonical bytes.
//
// # Signatures
//
// Each party lists its Ed25519 public key in the agreement (signing_key)
// and signs "tfmatch-isa-signature-v1\n" followed by the canonical bytes.
// Signatures live in a trailing "signatures" list that is not part of the
// canonical bytes. An agreement is in force only when every party has
// signed ([Agreement.VerifySignatures]); [Load] and [NewPolicy] refuse
// anything less.
package isa
