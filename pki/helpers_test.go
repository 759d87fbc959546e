package pki

import (
	"crypto/rand"
	"io"
	"testing"
	"time"
)

// newTestCA makes a CA valid from now, failing the test on error.
func newTestCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, 0, time.Now())
	if err != nil {
		t.Fatalf("NewCA(%q): %v", name, err)
	}
	return ca
}

// mustIssue issues req from ca, failing the test on error.
func mustIssue(t testing.TB, ca *CA, req Request) *Credential {
	t.Helper()
	c, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", req, err)
	}
	return c
}

// randReader is the randomness source tests pass to x509.
func randReader() io.Reader { return rand.Reader }
