// Package nodeaudit opens a node's audit log the way every tfmatch node
// keeps it: the log in DIR/audit, its checkpoint signing key in
// DIR/audit.key (made on first start, mode 0600, never leaves the node)
// and the matching verifier key in DIR/audit.vkey, to be published to the
// node's auditors and agencies.
package nodeaudit

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"tfmatch/audit"
	"tfmatch/keys"
)

// File and directory names under the node's directory.
const (
	LogDir      = "audit"
	SigningKey  = "audit.key"
	VerifierKey = "audit.vkey"
)

// Config configures Open. Name is required; other zero fields mean
// defaults.
type Config struct {
	// Name names a new log (the name of its signing key, which is the
	// origin line of its checkpoints), e.g. "matcher.audit.example". An
	// existing log keeps the name it was made with.
	Name string
	// Logger receives the log's warnings and a line naming the verifier
	// key. Nil discards them.
	Logger *slog.Logger
	// Log holds further audit.Config settings (checkpoint bounds, clock);
	// its Signer, VerifierKey and Logger are set by Open. A zero
	// CheckpointEvery means 1 here, not the audit package's default: a
	// node records few events (batches, runs, queries, disclosures,
	// refusals), and a checkpoint per entry lets a verifier name the very
	// entry that was changed rather than a range.
	Log audit.Config
}

// Open opens (creating on first start) the audit log kept in dir and
// returns it with its verifier key.
func Open(dir string, cfg Config) (*audit.Log, string, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k, err := loadOrCreateKey(filepath.Join(dir, SigningKey), cfg.Name, logger)
	if err != nil {
		return nil, "", err
	}
	vkey := k.VerifierKey()
	vpath := filepath.Join(dir, VerifierKey)
	if b, err := os.ReadFile(vpath); err != nil || strings.TrimSpace(string(b)) != vkey {
		if err := os.WriteFile(vpath, []byte(vkey+"\n"), 0o644); err != nil {
			return nil, "", fmt.Errorf("audit verifier key: %w", err)
		}
	}
	signer, err := k.Signer()
	if err != nil {
		return nil, "", err
	}
	lc := cfg.Log
	if lc.CheckpointEvery == 0 {
		lc.CheckpointEvery = 1
	}
	lc.Signer, lc.VerifierKey, lc.Logger = signer, vkey, cfg.Logger
	l, err := audit.Open(filepath.Join(dir, LogDir), lc)
	if err != nil {
		return nil, "", err
	}
	logger.Info("audit log open", "entries", l.Size(), "verifier_key", vkey, "verifier_key_file", vpath)
	return l, vkey, nil
}

func loadOrCreateKey(path, name string, logger *slog.Logger) (audit.SigningKey, error) {
	var k audit.SigningKey
	err := keys.ReadFile(path, &k)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if name == "" {
		return k, errors.New("audit: no name for a new log's signing key")
	}
	if k, err = audit.GenerateSigningKey(name); err != nil {
		return k, err
	}
	if err := keys.WriteFile(path, k); err != nil {
		return k, err
	}
	logger.Info("created audit signing key", "path", path)
	return k, nil
}

// ReadVerifierKey returns the verifier key given as arg: the key text
// itself ("<name>+<hash>+<base64>"), or the path of a file holding it (as
// DIR/audit.vkey does). The key is checked for form.
func ReadVerifierKey(arg string) (string, error) {
	arg = strings.TrimSpace(arg)
	if _, err := audit.NewVerifier(arg); err == nil {
		return arg, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return "", fmt.Errorf("verifier key: not a key, and not a readable file: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	if _, err := audit.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("verifier key in %s: %w", filepath.Base(arg), err)
	}
	return vkey, nil
}
