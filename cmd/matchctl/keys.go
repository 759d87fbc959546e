package main

import (
	"fmt"
	"io"

	"tfmatch/keys"
)

// cmdKeys makes a development programme secret. A real programme makes its
// secret at a key ceremony (docs/keys.md).
func cmdKeys(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys", stderr)
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
