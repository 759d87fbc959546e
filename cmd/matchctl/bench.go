package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"tfmatch/internal/devnet"
)

// cmdBench runs the whole programme with the real binaries on loopback,
// as the demonstration does, and measures it: each stage's time and rate,
// every node's processor time and peak memory, the machine's HMAC limit
// measured in the same run, and the match-key stage of pseudonymisation
// measured alone on the same extracts. It prints a table and writes the
// figures as one JSON line.
func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	dir := fs.String("dir", ".demo/bench", "working directory (emptied first)")
	bin := fs.String("bin", "", "directory holding the matcher and agency binaries (default: beside matchctl)")
	households := fs.Int("households", 200000, "households in the synthetic district (2,000,000 is about 5 million people)")
	seed := fs.Int64("seed", 1, "seed of the synthetic district")
	profile := fs.String("profile", "", "write a CPU profile of every node to this directory (NAME.pprof)")
	memLimit := fs.Int("matcher-memory-limit-mib", 3584, "the matcher's soft heap limit, MiB (its -memory-limit-mib; 0 for none)")
	agencyProcs := fs.Int("agency-procs", 1, "each agency node's GOMAXPROCS (0: the machine's processors); four agency nodes and the matcher share the machine")
	out := fs.String("out", "", "append the figures as one JSON line to this file (default: print it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *households <= 0 {
		return usageError{"-households must be positive"}
	}
	if *agencyProcs < 0 {
		return usageError{"-agency-procs must not be negative"}
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = filepath.Dir(exe)
	}
	ctx, cancel := signalContext()
	defer cancel()
	limit := devnet.MeasureHMACLimit(time.Second)
	fmt.Fprintf(stdout, "tfmatch bench: %d households, seed %d, in %s\n\nstages:\n", *households, *seed, *dir)
	start := time.Now()
	res, err := devnet.Run(ctx, devnet.Config{Dir: *dir, Bin: *bin, Households: *households, Seed: *seed, Log: stdout, ProfileDir: *profile, MatcherMemoryLimitMiB: *memLimit, AgencyProcs: *agencyProcs})
	if err != nil {
		return err
	}
	f, err := devnet.Measure(res, *households, limit, start)
	if err != nil {
		return err
	}
	f.AgencyGoMaxProcs = *agencyProcs
	// The match-key stage alone, on the same extracts, once the nodes
	// have stopped.
	stage, err := devnet.MeasureMatchKeyStage(res.DistrictDir, time.Second)
	if err != nil {
		return err
	}
	f.SetMatchKeyStage(stage)
	fmt.Fprintln(stdout)
	if err := f.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if *out == "" {
		return f.WriteJSON(stdout)
	}
	file, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("figures file: %w", err)
	}
	if err := f.WriteJSON(file); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("figures file: %w", err)
	}
	fmt.Fprintf(stdout, "figures appended to %s\n", *out)
	return nil
}
