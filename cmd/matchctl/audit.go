package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"tfmatch/audit"
	"tfmatch/audit/auditrpc"
	"tfmatch/internal/nodeaudit"
	"tfmatch/isa"
	pb "tfmatch/proto/tfmatch/v1"
)

// errVerifyFailed marks verification that found problems; they are
// already printed.
var errVerifyFailed = errors.New("the audit log does not verify")

// auditCommands are the subcommands of `matchctl audit`.
func auditCommands() map[string]command {
	return map[string]command{
		"export": {cmdAuditExport, "as an auditor: fetch a log over gRPC into an export directory"},
		"verify": {cmdAuditVerify, "verify an export and agencies' receipts; exit 1 on any problem"},
		"report": {cmdAuditReport, "who shared what, queries and re-identifications, refusals"},
	}
}

// cmdAudit dispatches `matchctl audit SUBCOMMAND`.
func cmdAudit(args []string, stdout, stderr io.Writer) error {
	return dispatch("audit", auditCommands(), args, stdout, stderr)
}

// dispatch runs the subcommand of group named by args[0], or prints the
// group's usage.
func dispatch(group string, cmds map[string]command, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, "usage: matchctl %s <subcommand> [flags]\n", group)
		fmt.Fprintln(stderr, "\nsubcommands:")
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-9s %s\n", n, cmds[n].summary)
		}
		fmt.Fprintf(stderr, "\nRun 'matchctl %s <subcommand> -h' for its flags.\n", group)
		if len(args) == 0 {
			return usageError{group + ": a subcommand is required"}
		}
		return flag.ErrHelp
	}
	c, ok := cmds[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("%s: unknown subcommand %q", group, args[0])}
	}
	return c.run(args[1:], stdout, stderr)
}

// cmdAuditExport fetches a log as the auditor.
func cmdAuditExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit export", stderr)
	var f leadFlags
	fs.StringVar(&f.matcher, "matcher", "127.0.0.1:7443", "address of the log's server: the matcher, or an agency node serving its own log (host:port)")
	fs.StringVar(&f.cert, "cert", "", "the auditor's certificate (PEM)")
	fs.StringVar(&f.key, "key", "", "the auditor's private key (PEM)")
	fs.StringVar(&f.ca, "ca", "", "CA certificate of the programme (PEM)")
	vkeyArg := fs.String("vkey", "", "the log's verifier key, or a file holding it, from a trusted source (not from the server); written into the export (required)")
	out := fs.String("out", "", "export directory to write; must not exist or be empty (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, req := range []struct{ name, val string }{{"cert", f.cert}, {"key", f.key}, {"ca", f.ca}, {"vkey", *vkeyArg}, {"out", *out}} {
		if req.val == "" {
			return usageError{fmt.Sprintf("-%s is required", req.name)}
		}
	}
	vkey, err := nodeaudit.ReadVerifierKey(*vkeyArg)
	if err != nil {
		return usageError{"-vkey: " + err.Error()}
	}
	ctx, cancel := signalContext()
	defer cancel()
	conn, err := dial(f.matcher, &f)
	if err != nil {
		return err
	}
	defer conn.Close()
	ev, err := auditrpc.Fetch(ctx, pb.NewAuditClient(conn), vkey)
	if err != nil {
		return err
	}
	if err := audit.WriteExport(*out, ev); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d entries and %d checkpoints to %s\n", len(ev.Entries), len(ev.Checkpoints), *out)
	return nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	*l = append(*l, s)
	return nil
}

// cmdAuditVerify verifies an export and receipts.
func cmdAuditVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	dir := fs.String("dir", "", "export directory (required)")
	var receipts listFlag
	fs.Var(&receipts, "receipts", "a directory of an agency's receipts (repeat for each agency)")
	keyArg := fs.String("key", "", "the log's verifier key, or a file holding it, from a trusted source (default: the export's own, which proves less)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"-dir is required"}
	}
	vkey := ""
	if *keyArg != "" {
		var err error
		if vkey, err = nodeaudit.ReadVerifierKey(*keyArg); err != nil {
			return usageError{"-key: " + err.Error()}
		}
	} else {
		fmt.Fprintln(stderr, "warning: no -key: checking with the verifier key inside the export; compare it with the published key")
	}
	res, err := audit.VerifyExport(*dir, receipts, vkey)
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stdout, p)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintf(stdout, "FAILED: %d problems in %d entries, %d checkpoints, %d receipts\n", len(res.Problems), res.Entries, res.Checkpoints, res.Receipts)
		return errVerifyFailed
	}
	fmt.Fprintf(stdout, "ok: %d entries, %d checkpoints, %d receipts verified\n", res.Entries, res.Checkpoints, res.Receipts)
	return nil
}

// cmdAuditReport prints the report of an export.
func cmdAuditReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit report", stderr)
	dir := fs.String("dir", "", "export directory (required); verify it first")
	fromArg := fs.String("from", "", "first day reported, YYYY-MM-DD UTC (inclusive)")
	toArg := fs.String("to", "", "day the report stops, YYYY-MM-DD UTC (exclusive)")
	format := fs.String("format", audit.FormatTable, "table, csv or json")
	isaPath := fs.String("isa", "", "the agreement, signed by every party: its small_number_threshold withholds small counts (this or -threshold is required)")
	threshold := fs.Int("threshold", 0, "withhold counts below this instead of the agreement's (1: withhold nothing)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"-dir is required"}
	}
	switch {
	case *isaPath == "" && *threshold == 0:
		return usageError{"give -isa (the agreement, for its small-number threshold) or -threshold N"}
	case *isaPath != "" && *threshold != 0:
		return usageError{"give -isa or -threshold, not both"}
	case *threshold < 0:
		return usageError{"-threshold: want 1 or more"}
	case *isaPath != "":
		a, err := isa.Load(*isaPath, nil)
		if err != nil {
			return fmt.Errorf("-isa: %w", err)
		}
		*threshold = a.SmallNumberThreshold
	}
	var from, to time.Time
	for _, d := range []struct {
		name, val string
		t         *time.Time
	}{{"from", *fromArg, &from}, {"to", *toArg, &to}} {
		if d.val == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.val)
		if err != nil {
			return usageError{fmt.Sprintf("-%s: want YYYY-MM-DD", d.name)}
		}
		*d.t = t
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return usageError{"-from must be before -to"}
	}
	switch *format {
	case audit.FormatTable, audit.FormatCSV, audit.FormatJSON:
	default:
		return usageError{fmt.Sprintf("-format %q: want table, csv or json", *format)}
	}
	ev, err := audit.LoadExport(*dir)
	if err != nil {
		return err
	}
	entries, err := audit.DecodeEntries(ev.Entries)
	if err != nil {
		return fmt.Errorf("%w (run matchctl audit verify)", err)
	}
	return audit.WriteReport(stdout, audit.Report(entries, audit.ReportOptions{From: from, To: to, SmallNumberThreshold: *threshold}), *format)
}
