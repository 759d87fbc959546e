package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"tfmatch/matcher/rules"
	"tfmatch/pipeline"
)

// cmdLink runs the whole pipeline in one process. Its interface is fixed:
//
//	matchctl link -out DIR [-rules FILE] [-asof YYYY-MM-DD] NAME=DATA.csv,MAPPING.yaml ...
func cmdLink(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("link", stderr)
	out := fs.String("out", "", "output directory for clusters.csv, flagged.csv, links.csv and rejects-NAME.csv (required)")
	rulesFile := fs.String("rules", "", "rule set file (default: the embedded phase-1 rules)")
	asof := fs.String("asof", "", "reference date for indicators, YYYY-MM-DD (default today)")
	dice := fs.Float64("similarity", 0, "Dice threshold of the similarity tier, in (0, 1]; 0 chooses it from the data, between 0.7 and 0.8")
	noSim := fs.Bool("no-similarity", false, "link on exact match keys only")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: matchctl link -out DIR [-rules FILE] [-asof YYYY-MM-DD] NAME=DATA.csv,MAPPING.yaml [NAME=DATA.csv,MAPPING.yaml ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if *out == "" {
		return usageError{"-out is required"}
	}
	if fs.NArg() == 0 {
		return usageError{"give at least one source as NAME=DATA.csv,MAPPING.yaml"}
	}
	cfg := pipeline.Config{Out: *out}
	if *dice < 0 || *dice > 1 {
		return usageError{fmt.Sprintf("-similarity: want a Dice threshold in (0, 1], got %v", *dice)}
	}
	cfg.Linkage.SimilarityThreshold = *dice
	cfg.Linkage.DisableSimilarity = *noSim
	for _, arg := range fs.Args() {
		name, files, ok := strings.Cut(arg, "=")
		data, mapFile, ok2 := strings.Cut(files, ",")
		if !ok || !ok2 || name == "" || data == "" || mapFile == "" {
			return usageError{fmt.Sprintf("source %q: want NAME=DATA.csv,MAPPING.yaml", arg)}
		}
		cfg.Sources = append(cfg.Sources, pipeline.Source{Name: name, Data: data, Mapping: mapFile})
	}
	if *rulesFile != "" {
		rs, err := rules.Load(*rulesFile)
		if err != nil {
			return err
		}
		cfg.Rules = rs
	}
	if *asof != "" {
		t, err := time.Parse(time.DateOnly, *asof)
		if err != nil {
			return usageError{fmt.Sprintf("-asof: want YYYY-MM-DD, got %q", *asof)}
		}
		cfg.AsOf = t
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := signalContext()
	defer cancel()
	sum, err := pipeline.Run(ctx, cfg)
	names := make([]string, 0, len(sum.Sources))
	for n := range sum.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(stdout, "%s: %s\n", n, sum.Sources[n])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "linked %d records into %d persons and %d households; %d flagged; %s; wrote clusters.csv, flagged.csv and links.csv in %s\n",
		sum.Records, sum.Persons, sum.Households, sum.Flagged, sum.Elapsed.Round(time.Millisecond), *out)
	if sum.Threshold > 0 {
		how := "set by -similarity"
		if *dice == 0 {
			how = "chosen from the data"
		}
		fmt.Fprintf(stdout, "similarity tier: Dice threshold %.2f (%s)\n", sum.Threshold, how)
	}
	return nil
}
