package agency

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"tfmatch/agency/mapping"
	"tfmatch/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeSink records every batch it is sent. failOn, when positive, makes
// the failOn-th Send fail with errSendFailed; ackShort makes Close
// acknowledge that many records fewer than were sent.
type fakeSink struct {
	mu       sync.Mutex
	batches  []Batch
	failOn   int
	ackShort int
	closed   bool
}

var errSendFailed = errors.New("fake sink: send failed")

func (s *fakeSink) Send(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("fake sink: send after close")
	}
	// Keep a deep copy: Run uses the batch's memory again (see Sink).
	c := b
	c.Records = append([]Record(nil), b.Records...)
	for i := range c.Records {
		r := &c.Records[i]
		r.Tokens = slices.Clone(r.Tokens)
		if r.Filter != nil {
			f := *r.Filter
			r.Filter = &f
		}
	}
	s.batches = append(s.batches, c)
	if s.failOn > 0 && len(s.batches) == s.failOn {
		return errSendFailed
	}
	return nil
}

func (s *fakeSink) Close(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	n := 0
	for i, b := range s.batches {
		if s.failOn > 0 && i+1 == s.failOn {
			continue
		}
		n += len(b.Records)
	}
	return n - s.ackShort, nil
}

// records returns every record sent, in order.
func (s *fakeSink) records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, b := range s.batches {
		out = append(out, b.Records...)
	}
	return out
}

func newKeys(t testing.TB) Keys {
	t.Helper()
	secret, err := keys.NewProgrammeSecret()
	if err != nil {
		t.Fatal(err)
	}
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	return Keys{Secret: secret, Context: keys.Context{ISAHash: keys.HashISA([]byte("test agreement")), Epoch: 1}, Local: local}
}

func openVault(t testing.TB) *Vault {
	t.Helper()
	v, err := OpenVault(t.TempDir(), VaultOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func loadMapping(t testing.TB, path string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func parseMapping(t testing.TB, yaml string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
