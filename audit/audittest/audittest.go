// Package audittest opens in-memory audit logs for the tests of packages
// that write to one (the matcher's server, the agency's vault server, the
// audit service). No binary imports it.
package audittest

import (
	"testing"

	"tfmatch/audit"
)

// NewLog returns an in-memory audit log signed by a fresh key called name,
// closed when the test ends, and the log's verifier key. every bounds the
// entries between checkpoints (0: the log's default).
func NewLog(t testing.TB, name string, every uint64) (*audit.Log, string) {
	t.Helper()
	k, err := audit.GenerateSigningKey(name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := k.Signer()
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open("", audit.Config{Signer: signer, VerifierKey: k.VerifierKey(), InMemory: true, CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, k.VerifierKey()
}
