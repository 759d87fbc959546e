package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"tfmatch/audit"
	"tfmatch/internal/devnet"
	"tfmatch/isa"
	"tfmatch/lead"
)

// cmdDemo runs the whole programme on a synthetic district: the matcher and
// four agency nodes as separate processes on loopback.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	dir := fs.String("dir", ".demo/run", "working directory (emptied first)")
	bin := fs.String("bin", "", "directory holding the matcher and agency binaries (default: beside matchctl)")
	households := fs.Int("households", 10000, "households in the synthetic district")
	seed := fs.Int64("seed", 1, "seed of the synthetic district")
	show := fs.Int("show", 25, "flagged households to print (all: -1)")
	reportLines := fs.Int("report-lines", 20, "lines of the audit report to print (all: -1)")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	start := time.Now()
	fmt.Fprintf(stdout, "tfmatch demo: %d households, seed %d, in %s\n\nstages:\n", *households, *seed, *dir)
	res, err := devnet.Run(ctx, devnet.Config{Dir: *dir, Bin: *bin, Households: *households, Seed: *seed, Log: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nISA %s v%d %s: signed by %d parties; ceremony epoch %d wrapped to %d agencies\n",
		res.ISA.ID, res.ISA.Version, hex.EncodeToString(res.ISA.Hash[:6]), res.ISA.SignedBy, res.Ceremony.Epoch, len(res.Ceremony.Wrapped))
	fmt.Fprintln(stdout, "\nagency nodes:")
	names := make([]string, 0, len(res.Agencies))
	for a := range res.Agencies {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		fmt.Fprintf(stdout, "  %s\n", res.Agencies[a])
	}
	shown := res.Households
	if *show >= 0 && len(shown) > *show {
		shown = shown[:*show]
	}
	fmt.Fprintf(stdout, "\nflagged households (first %d of %d; council members named through the council's vault):\n\n", len(shown), len(res.Households))
	if err := lead.WriteTable(stdout, shown, res.People); err != nil {
		return err
	}
	run := res.Run
	fmt.Fprintf(stdout, "\nsummary: run %s, rules %s, key epoch %d: %s records linked into %s persons and %s households; %s households flagged%s",
		run.ID, run.RuleSetVersion, run.Epoch, run.Count("records", run.Records), run.Count("persons", run.Persons),
		run.Count("households", run.Households), run.Count("flagged", run.Flagged), byRule(run))
	items := "items"
	if res.Run.Review == 1 {
		items = "item"
	}
	fmt.Fprintf(stdout, "; %d council members named; %d %s held for review\n", len(res.People), res.Run.Review, items)
	if err := writeDemoAudit(stdout, res, *reportLines); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "total %s; logs in %s\n", time.Since(start).Round(time.Millisecond), filepath.Join(*dir, "logs"))
	return nil
}

// writeDemoAudit prints what the auditor's check found and the first lines
// of the audit report over the matcher's and the council's logs.
func writeDemoAudit(w io.Writer, res *devnet.Result, lines int) error {
	a, c := res.Audit, res.CouncilAudit
	fmt.Fprintf(w, "\naudit: %d entries, %d checkpoints, %d receipts verified (matcher log, export in %s)\n",
		a.Entries, a.Checkpoints, a.Receipts, a.ExportDir)
	fmt.Fprintf(w, "audit: %d entries, %d checkpoints verified (council node's log of re-identifications, export in %s)\n\n",
		c.Entries, c.Checkpoints, c.ExportDir)
	var b bytes.Buffer
	entries := append(append([]audit.Entry(nil), a.Decoded...), c.Decoded...)
	agreement, err := isa.ReadFile(res.Agreement.Path)
	if err != nil {
		return err
	}
	rows := audit.Report(entries, audit.ReportOptions{SmallNumberThreshold: agreement.SmallNumberThreshold})
	if err := audit.WriteReport(&b, rows, audit.FormatTable); err != nil {
		return err
	}
	report := strings.SplitAfter(b.String(), "\n")
	if lines >= 0 && len(report) > lines {
		report = append(report[:lines], fmt.Sprintf("... (%d lines more: matchctl audit report -dir %s)\n", len(report)-lines, a.ExportDir))
	}
	for _, l := range report {
		if l != "\n" {
			l = "  " + l
		}
		fmt.Fprint(w, l)
	}
	return nil
}
