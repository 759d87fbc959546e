package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"tfmatch/isa"
	"tfmatch/keys"
)

// cmdKeys makes a development programme secret, or with `keys ceremony`
// runs the key ceremony of a signed agreement. A real programme makes its
// secret only at a ceremony (docs/keys.md).
func cmdKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ceremony" {
		return cmdKeysCeremony(args[1:], stdout, stderr)
	}
	fs := newFlagSet("keys", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: matchctl keys -out FILE
       matchctl keys ceremony -isa FILE -epoch N -out DIR

The first form writes a development programme secret in the clear; the
second runs the key ceremony of a signed agreement (run it with -h).`)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "file to write the programme secret to (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"-out is required"}
	}
	p, err := keys.NewProgrammeSecret()
	if err != nil {
		return err
	}
	if err := keys.WriteFile(*out, p); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a development programme secret to %s (mode 0600)\n", *out)
	return nil
}

// cmdKeysCeremony runs the key ceremony: a fresh programme secret wrapped
// to every agency's age recipient, one file per agency, and the ceremony
// record (no key material) as JSON on stdout for the audit log. The key
// custodian runs it, never the matcher's operator.
func cmdKeysCeremony(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys ceremony", stderr)
	path := fs.String("isa", "", "the agreement, signed by every party (required)")
	epoch := fs.Uint("epoch", 1, "key epoch the secret is made for (1 for a new agreement; +1 at each rotation)")
	out := fs.String("out", "", "directory to write <party>.programme.age into; created if missing; existing files are never replaced (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *out == "" {
		return usageError{"-isa and -out are required"}
	}
	if *epoch < 1 || *epoch > 1<<32-1 {
		return usageError{fmt.Sprintf("-epoch %d: want 1 to %d", *epoch, uint32(1<<32-1))}
	}
	a, err := isa.ReadFile(*path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	rec, err := isa.Ceremony(a, uint32(*epoch), *out)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	fmt.Fprintf(stderr, "wrapped the programme secret for epoch %d to %d agencies in %s; send each agency its own file\n", rec.Epoch, len(rec.Wrapped), *out)
	return nil
}
