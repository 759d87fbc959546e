package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"tfmatch/isa"
)

// errAgreementNotSigned marks an agreement that verify found incomplete or
// badly signed; the details are already printed.
var errAgreementNotSigned = errors.New("the agreement is not signed by every party")

// isaCommands are the subcommands of `matchctl isa`.
func isaCommands() map[string]command {
	return map[string]command{
		"keygen": {cmdISAKeygen, "make a party's Ed25519 signing key; print its public half"},
		"sign":   {cmdISASign, "sign the agreement as one party, in place"},
		"verify": {cmdISAVerify, "print the agreement's hash and check every party's signature; exit 1 if any is missing or bad"},
	}
}

// cmdISA dispatches `matchctl isa SUBCOMMAND`.
func cmdISA(args []string, stdout, stderr io.Writer) error {
	return dispatch("isa", isaCommands(), args, stdout, stderr)
}

// cmdISAKeygen writes a party's signing key and prints the public key to
// put in the agreement.
func cmdISAKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("isa keygen", stderr)
	out := fs.String("out", "", "file to write the private signing key to (mode 0600; must not exist) (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"-out is required"}
	}
	pub, err := isa.WriteSigningKeyFile(*out)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, pub)
	fmt.Fprintf(stderr, "wrote the private signing key to %s (mode 0600): keep it offline; put the line above in the agreement as the party's signing_key\n", *out)
	return nil
}

// cmdISASign adds (or replaces) one party's signature in the agreement
// file, keeping the file's comments and layout.
func cmdISASign(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("isa sign", stderr)
	path := fs.String("isa", "", "the agreement file; signed in place (required)")
	party := fs.String("party", "", "the party signing, as listed in the agreement (required)")
	keyFile := fs.String("key", "", "the party's signing key file, from `matchctl isa keygen` (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, req := range []struct{ name, val string }{{"isa", *path}, {"party", *party}, {"key", *keyFile}} {
		if req.val == "" {
			return usageError{fmt.Sprintf("-%s is required", req.name)}
		}
	}
	src, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("reading the agreement: %w", err)
	}
	a, err := isa.Parse(src, *path)
	if err != nil {
		return err
	}
	key, err := isa.ReadSigningKeyFile(*keyFile)
	if err != nil {
		return err
	}
	if err := a.Sign(*party, key); err != nil {
		return err
	}
	out, err := a.AppendSignatures(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(*path)
	if err != nil {
		return err
	}
	if err := writeFileReplace(*path, out, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("writing the signed agreement: %w", err)
	}
	h := a.Hash()
	fmt.Fprintf(stdout, "%s signed agreement %s v%d (hash %s)\n", *party, a.ID, a.Version, hex.EncodeToString(h[:]))
	if missing := a.Unsigned(); len(missing) > 0 {
		fmt.Fprintf(stdout, "still to sign: %s\n", strings.Join(missing, ", "))
	}
	return nil
}

// writeFileReplace replaces path with data through a temporary file in
// the same directory, so that a failure leaves the old file whole.
func writeFileReplace(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".isa-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// partyStatus is one party's signature state.
type partyStatus struct {
	party, role, state string
	ok                 bool
}

// signatureStates checks every party's signature on a separately, so that
// verify can list each problem, not only the first.
func signatureStates(a *isa.Agreement) []partyStatus {
	msg := a.SignedMessage()
	var out []partyStatus
	for _, p := range a.Parties {
		st := partyStatus{party: p.ID, role: string(p.Role)}
		i := slices.IndexFunc(a.Signatures, func(s isa.Signature) bool { return s.Party == p.ID })
		switch {
		case i < 0:
			st.state = "NOT SIGNED"
		case !ed25519.Verify(p.SigningKey, msg, a.Signatures[i].Sig):
			st.state = "BAD SIGNATURE (the agreement changed after it signed, or it signed with another key)"
		default:
			st.state, st.ok = "signed", true
		}
		out = append(out, st)
	}
	for _, s := range a.Signatures {
		if _, ok := a.Party(s.Party); !ok {
			out = append(out, partyStatus{party: s.Party, state: "BAD SIGNATURE (not a party)"})
		}
	}
	return out
}

// cmdISAVerify prints the agreement's hash and the state of every party's
// signature, and fails unless every party has signed.
func cmdISAVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("isa verify", stderr)
	path := fs.String("isa", "", "the agreement file (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError{"-isa is required"}
	}
	a, err := isa.ReadFile(*path)
	if err != nil {
		return err
	}
	h := a.Hash()
	fmt.Fprintf(stdout, "agreement %s v%d\nhash %s\n", a.ID, a.Version, hex.EncodeToString(h[:]))
	validity := "in force"
	if err := a.ActiveAt(time.Now()); err != nil {
		validity = err.Error()
	}
	fmt.Fprintf(stdout, "valid %s to %s (%s)\n", a.ValidFrom.UTC().Format(time.RFC3339), a.ValidUntil.UTC().Format(time.RFC3339), validity)
	states := signatureStates(a)
	var bad []string
	for _, st := range states {
		fmt.Fprintf(stdout, "  %-16s %-8s %s\n", st.party, st.role, st.state)
		if !st.ok {
			bad = append(bad, st.party)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(stdout, "not signed by every party: %s\n", strings.Join(bad, ", "))
		return errAgreementNotSigned
	}
	// The per-party check above and the package's own verification must
	// agree; this also catches anything it checks beyond signatures.
	if err := a.VerifySignatures(nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed by all %d parties\n", len(a.Parties))
	return nil
}
