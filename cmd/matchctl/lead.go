package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"tfmatch/lead"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
)

// leadFlags are the connection flags of the lead's commands.
type leadFlags struct {
	matcher, cert, key, ca, purpose string
}

func (f *leadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.matcher, "matcher", "127.0.0.1:7443", "matcher address (host:port)")
	fs.StringVar(&f.cert, "cert", "", "the lead's certificate (PEM)")
	fs.StringVar(&f.key, "key", "", "the lead's private key (PEM)")
	fs.StringVar(&f.ca, "ca", "", "CA certificate of the programme (PEM)")
	fs.StringVar(&f.purpose, "purpose", "", "why you are doing this (recorded for audit; required)")
}

func (f *leadFlags) check() error {
	for _, req := range []struct{ name, val string }{{"cert", f.cert}, {"key", f.key}, {"ca", f.ca}, {"purpose", f.purpose}} {
		if req.val == "" {
			return usageError{fmt.Sprintf("-%s is required", req.name)}
		}
	}
	return nil
}

// parse parses the command line and checks the connection flags.
func (f *leadFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return f.check()
}

// leadClient connects to the matcher as the lead; done ends the
// connection.
func (f *leadFlags) leadClient() (c *lead.Client, done func(), err error) {
	conn, err := dial(f.matcher, f)
	if err != nil {
		return nil, nil, err
	}
	return &lead.Client{Matcher: pb.NewLeadClient(conn)}, func() { conn.Close() }, nil
}

func dial(addr string, f *leadFlags) (*grpc.ClientConn, error) {
	tlsCfg, err := pki.ClientConfig(f.cert, f.key, f.ca)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return conn, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdStartRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("start-run", stderr)
	var f leadFlags
	f.register(fs)
	if err := f.parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	client, closeConn, err := f.leadClient()
	if err != nil {
		return err
	}
	defer closeConn()
	start := time.Now()
	run, err := client.StartRun(ctx, f.purpose)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run %s (rules %s, key epoch %d): %s records, %s persons, %s households, %s flagged%s, %d for review, %s\n",
		run.ID, run.RuleSetVersion, run.Epoch, run.Count("records", run.Records), run.Count("persons", run.Persons),
		run.Count("households", run.Households), run.Count("flagged", run.Flagged), byRule(run), run.Review, time.Since(start).Round(time.Millisecond))
	return nil
}

// byRule renders a run's flagged households per rule: " (all_three 40,
// two_plus_local <10)", or "" when none was flagged.
func byRule(run lead.Run) string {
	rules := make([]string, 0, len(run.FlaggedByRule))
	for r := range run.FlaggedByRule {
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return ""
	}
	sort.Strings(rules)
	for i, r := range rules {
		rules[i] = r + " " + run.Count("flagged_by_rule/"+r, run.FlaggedByRule[r])
	}
	return " (" + strings.Join(rules, ", ") + ")"
}

// cmdPurgeEpoch asks the matcher, as the lead, to delete everything it
// stores under a retired key epoch, and prints what the store holds.
func cmdPurgeEpoch(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("purge-epoch", stderr)
	var f leadFlags
	f.register(fs)
	epoch := fs.Uint("epoch", 0, "the retired key epoch to purge (required unless -dry-run)")
	dryRun := fs.Bool("dry-run", false, "delete nothing: show what the matcher holds of each key epoch")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	if *epoch > 1<<32-1 || (*epoch == 0 && !*dryRun) {
		return usageError{"-epoch: give the retired key epoch to purge, 1 or more"}
	}
	ctx, cancel := signalContext()
	defer cancel()
	client, closeConn, err := f.leadClient()
	if err != nil {
		return err
	}
	defer closeConn()
	p, err := client.PurgeEpoch(ctx, uint32(*epoch), f.purpose, *dryRun)
	if err != nil {
		return err
	}
	if !*dryRun {
		fmt.Fprintf(stdout, "purged key epoch %d: %s records, %d batch receipts, %d runs\n", *epoch,
			lead.FormatCount(p.Purged.Suppressed, p.Threshold, "records", p.Purged.Records), p.Purged.Batches, p.Purged.Runs)
	}
	fmt.Fprintf(stdout, "the matcher serves key epoch %d and holds:\n", p.InForce)
	return lead.WriteHoldings(stdout, p)
}

func cmdHouseholds(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("households", stderr)
	var f leadFlags
	f.register(fs)
	runID := fs.String("run", "", "link run id (default: the latest)")
	reidentify := fs.Bool("reidentify", false, "name the council's own members through the council node's vault")
	council := fs.String("council", "127.0.0.1:7444", "with -reidentify: the council node's vault address")
	councilParty := fs.String("council-party", "council", "with -reidentify: the council's party id")
	if err := f.parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	client, closeConn, err := f.leadClient()
	if err != nil {
		return err
	}
	defer closeConn()
	run, hs, err := client.Flagged(ctx, *runID, f.purpose)
	if err != nil {
		return err
	}
	var people map[string]lead.Person
	if *reidentify {
		var refs [][]byte
		for _, h := range hs {
			refs = append(refs, h.Members[*councilParty]...)
		}
		vconn, err := dial(*council, &f)
		if err != nil {
			return err
		}
		defer vconn.Close()
		if people, err = lead.Reidentify(ctx, pb.NewVaultClient(vconn), refs, f.purpose); err != nil {
			return err
		}
	}
	// The rows are the lead's to see; the total of households is an
	// aggregate, withheld when small.
	fmt.Fprintf(stdout, "run %s (rules %s, key epoch %d): %d households flagged of %s\n", run.ID, run.RuleSetVersion, run.Epoch, len(hs), run.Count("households", run.Households))
	if len(hs) == 0 {
		return nil
	}
	return lead.WriteTable(stdout, hs, people)
}
