package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"tfmatch/synth"
)

// cmdGen writes a synthetic district: the four agency extracts, their
// mapping files and the ground truth.
func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", stderr)
	out := fs.String("out", "", "directory to write the district into (required)")
	households := fs.Int("households", synth.DefaultHouseholds, "households in the district")
	seed := fs.Int64("seed", synth.DefaultSeed, "seed (any value but 0); the same seed gives the same district")
	asof := fs.String("asof", synth.DefaultAsOf().Format(time.DateOnly), "reference date of the district's facts, YYYY-MM-DD")
	errs := fs.String("errors", "default", "recording errors in the extracts: default or none")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"-out is required"}
	}
	if *seed == 0 {
		return usageError{"-seed 0 is not allowed (it means the default seed)"}
	}
	if *households <= 0 {
		return usageError{fmt.Sprintf("-households %d: want a positive number", *households)}
	}
	t, err := time.Parse(time.DateOnly, *asof)
	if err != nil {
		return usageError{fmt.Sprintf("-asof %q: want a date YYYY-MM-DD", *asof)}
	}
	cfg := synth.Config{Seed: *seed, Households: *households, AsOf: t}
	switch *errs {
	case "default":
	case "none":
		cfg.Errors.None = true
	default:
		return usageError{fmt.Sprintf("-errors %q: want default or none", *errs)}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	start := time.Now()
	d, err := synth.Generate(cfg)
	if err != nil {
		return err
	}
	if err := d.WriteDir(*out); err != nil {
		return err
	}
	s := d.Summary()
	fmt.Fprintf(stdout, "wrote %s: %d households, %d persons, as of %s, errors %s; records %s; flagged %s; %s\n",
		*out, s.Households, s.Persons, s.AsOf, s.Errors, genCounts(s.Records, synth.Agencies()),
		genCounts(s.Flagged, nil), time.Since(start).Round(time.Millisecond))
	return nil
}

// genCounts formats a map of counts as "k1 n1, k2 n2" in the given key order
// (sorted when order is nil).
func genCounts(m map[string]int, order []string) string {
	if order == nil {
		for k := range m {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
