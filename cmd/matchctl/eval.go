package main

import (
	"io"

	"tfmatch/eval"
)

// cmdEval measures the output of `matchctl link` against ground truth.
func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	truth := fs.String("truth", "", "truth directory: persons.csv, households.csv, flagged.csv (required)")
	out := fs.String("out", "", "output directory of matchctl link: clusters.csv, flagged.csv, links.csv (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *truth == "" || *out == "" {
		return usageError{"-truth and -out are required"}
	}
	rep, err := eval.Evaluate(*truth, *out)
	if err != nil {
		return err
	}
	rep.Write(stdout)
	return nil
}
