// Package keys owns every secret in tfmatch and the constructions built on
// them (DESIGN.md, "Cryptographic construction (v1)"):
//
//	P  ProgrammeSecret   32 random bytes per ISA, held by agencies only
//	K  TokenKey          HKDF-SHA256(P, salt = ISA hash, info = "tfmatch/v1/<kind>/<epoch>")
//	   Token             HMAC-SHA256(K, canonical encoding of the key's fields)
//	L  LocalKey          agency-local; record references and household groups
//	   Ref               HMAC-SHA256(L, local record id), first 16 bytes
//	M  BlindingKey       the matcher's own; HMAC-SHA256(M, token) before storage
//
// Only standard-library and golang.org/x/crypto primitives are used. Each
// key purpose has its own type so that no raw []byte key crosses a package
// boundary, secrets compare in constant time, and every text encoding starts
// with a prefix naming what it holds.
//
// The constructions are frozen: testdata/vectors.json pins their output and
// any other implementation can check itself against it.
package keys
