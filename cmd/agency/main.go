// Command agency is an agency node. It runs under the signed
// information-sharing agreement (-isa) and refuses to start unless the
// agreement is signed by every party, in force and names this node's
// certificate as an agency. It opens the programme secret the key ceremony
// wrapped to its age identity (-secret, -identity), keeps its local key
// encrypted at rest to the same identity (and its vault encrypted under a
// key derived from the local key, each entry expiring after the
// agreement's retention period), reads the agency's CSV extract
// through a mapping file (which may derive only the indicators the
// agreement lets it share), pseudonymises every accepted row and streams
// the tokens to the matcher, keeping the matcher's audit receipt of every
// batch in STATE/receipts; with -serve it then stays up to let the
// programme lead resolve the agency's own record references, recording
// each re-identification in the node's own audit log (STATE/audit), which
// it serves to auditors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"filippo.io/age"
	"golang.org/x/term"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"tfmatch/agency"
	"tfmatch/agency/mapping"
	"tfmatch/audit"
	"tfmatch/audit/auditrpc"
	"tfmatch/internal/cpuprofile"
	"tfmatch/internal/grpcserve"
	"tfmatch/internal/metrics"
	"tfmatch/internal/nodeaudit"
	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
)

type config struct {
	source, extract, mappingFile string
	matcherAddr                  string
	cert, key, ca                string
	secret, isa, identity        string
	signingKey                   string
	epoch                        uint
	state                        string
	asof                         string
	rejects                      string
	serve, addrFile              string
	auditKey                     string
	logLevel                     string
	cpuProfile                   string
	metricsAddr                  string
}

func main() {
	var c config
	flag.StringVar(&c.source, "source", "", "this agency's party id, as in its certificate (required)")
	flag.StringVar(&c.extract, "extract", "", "CSV extract to submit (omit to only serve)")
	flag.StringVar(&c.mappingFile, "mapping", "", "mapping file for the extract")
	flag.StringVar(&c.matcherAddr, "matcher", "127.0.0.1:7443", "matcher address (host:port)")
	flag.StringVar(&c.cert, "cert", "", "this node's certificate (PEM)")
	flag.StringVar(&c.key, "key", "", "this node's private key (PEM)")
	flag.StringVar(&c.ca, "ca", "", "CA certificate of the programme (PEM)")
	flag.StringVar(&c.secret, "secret", "", "the programme secret from the key ceremony, wrapped to this node (<party>.programme.age); required to submit")
	flag.StringVar(&c.isa, "isa", "", "the information-sharing agreement in force, signed by every party (required)")
	flag.StringVar(&c.identity, "identity", "", "this node's age identity file: opens -secret and encrypts the local key at rest (required)")
	flag.StringVar(&c.signingKey, "signing-key", "", "this party's ISA signing key (ed25519:...), pinned: the agreement must list exactly this key for -source")
	flag.UintVar(&c.epoch, "epoch", 1, "key epoch")
	flag.StringVar(&c.state, "state", "", "state directory: vault, local key, rejects, audit receipts, local audit log (required)")
	flag.StringVar(&c.asof, "asof", "", "reference date for indicators, YYYY-MM-DD (default today)")
	flag.StringVar(&c.rejects, "rejects", "", "rejects file (default STATE/rejects.csv)")
	flag.StringVar(&c.serve, "serve", "", "after submitting, serve the vault to the lead on this address")
	flag.StringVar(&c.addrFile, "addr-file", "", "with -serve: write the address listened on to this file")
	flag.StringVar(&c.auditKey, "audit-key", "", "the matcher's audit verifier key, or a file holding it: every receipt is verified against it (without it receipts are kept unverified)")
	flag.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	flag.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics while the node runs (plain HTTP: loopback or a monitoring network; default off)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "agency: -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", c.source)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := cpuprofile.Start(c.cpuProfile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agency: %v\n", err)
		os.Exit(1)
	}
	err = run(ctx, c, logger, os.Stdout)
	stopProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "agency: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, logger *slog.Logger, stdout io.Writer) error {
	for _, req := range []struct{ name, val string }{{"source", c.source}, {"state", c.state}, {"cert", c.cert}, {"key", c.key}, {"ca", c.ca}, {"isa", c.isa}, {"identity", c.identity}} {
		if req.val == "" {
			return fmt.Errorf("-%s is required", req.name)
		}
	}
	if c.extract == "" && c.serve == "" {
		return errors.New("nothing to do: give -extract to submit, -serve to serve, or both")
	}
	grpcOpts, stopMetrics, err := metrics.ForNode("agency", c.metricsAddr, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()
	policy, err := loadAgreement(c, logger)
	if err != nil {
		return err
	}
	a := policy.Agreement()
	id, err := loadIdentity(c.identity, a, c.source)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.state, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	local, err := loadOrCreateLocalKey(c.state, id, logger)
	if err != nil {
		return err
	}
	// The vault is encrypted at rest under a key derived from the local
	// key (itself age-encrypted to the node's identity), and each entry
	// expires after the agreement's retention period.
	vaultKey, err := local.VaultKey()
	if err != nil {
		return err
	}
	vault, err := agency.OpenVault(filepath.Join(c.state, "vault"), agency.VaultOptions{Logger: logger, Key: vaultKey, Retention: a.Retention()})
	if err != nil {
		return err
	}
	defer vault.Close()

	if c.extract != "" {
		if err := submit(ctx, c, policy, id, local, vault, logger, stdout); err != nil {
			return err
		}
	}
	if c.serve == "" {
		return nil
	}
	if c.extract != "" {
		// What the submission held (rows in flight, the map of record
		// ids, batches) is garbage now: hand it back to the system
		// before serving for what may be months.
		debug.FreeOSMemory()
	}
	tlsCfg, err := pki.ServerConfig(c.cert, c.key, c.ca)
	if err != nil {
		return err
	}
	// Who may resolve references and read the node's log comes from the
	// agreement: its leads and its auditors.
	leads, auditors := a.PartiesWithRole(isa.RoleLead), a.PartiesWithRole(isa.RoleAuditor)
	auditLog, _, err := nodeaudit.Open(c.state, nodeaudit.Config{Name: "tfmatch-agency-" + c.source, Logger: logger,
		// An agency's log holds a few entries per lead request.
		Log: audit.Config{MemTableSize: 8 << 20}})
	if err != nil {
		return err
	}
	defer auditLog.Close()
	vs := &agency.VaultServer{
		Vault:   vault,
		Source:  c.source,
		Audit:   auditLog,
		Allowed: leads,
		Party:   policy.PartyFromContext,
		Logger:  logger,
	}
	as := &auditrpc.Server{Log: auditLog, Auditors: auditors, Party: policy.PartyFromContext, Logger: logger}
	return grpcserve.Serve(ctx, grpcserve.Config{
		Listen:   c.serve,
		TLS:      tlsCfg,
		AddrFile: c.addrFile,
		Register: func(s *grpc.Server) {
			pb.RegisterVaultServer(s, vs)
			pb.RegisterAuditServer(s, as)
		},
		Services: []string{pb.Vault_ServiceDesc.ServiceName, pb.Audit_ServiceDesc.ServiceName},
		Logger:   logger,
		Options:  grpcOpts,
	})
}

// sinkConfig returns how the node keeps the matcher's audit receipts.
func sinkConfig(c config, logger *slog.Logger) (agency.SinkConfig, error) {
	sc := agency.SinkConfig{Source: c.source, ReceiptsDir: filepath.Join(c.state, "receipts")}
	if err := os.MkdirAll(sc.ReceiptsDir, 0o755); err != nil {
		return sc, fmt.Errorf("receipts directory: %w", err)
	}
	if c.auditKey == "" {
		logger.Warn("no -audit-key: the matcher's audit receipts are kept without checking their signatures")
		return sc, nil
	}
	vkey, err := nodeaudit.ReadVerifierKey(c.auditKey)
	if err != nil {
		return sc, fmt.Errorf("-audit-key: %w", err)
	}
	if sc.AuditVerifier, err = audit.NewVerifier(vkey); err != nil {
		return sc, fmt.Errorf("-audit-key: %w", err)
	}
	return sc, nil
}

func submit(ctx context.Context, c config, policy *isa.Policy, id age.Identity, local keys.LocalKey, vault *agency.Vault, logger *slog.Logger, stdout io.Writer) error {
	for _, req := range []struct{ name, val string }{{"mapping", c.mappingFile}, {"secret", c.secret}} {
		if req.val == "" {
			return fmt.Errorf("-%s is required to submit", req.name)
		}
	}
	m, err := mapping.Load(c.mappingFile)
	if err != nil {
		return err
	}
	// The node refuses to start on a mapping that derives an indicator the
	// agreement does not let this agency share, rather than drop it
	// quietly: the mapping is the agency's to fix.
	if err := policy.CheckIndicators(c.source, m.Indicators()); err != nil {
		return fmt.Errorf("refusing to start: mapping %s: %w; remove it from the mapping or revise the agreement", c.mappingFile, err)
	}
	a := policy.Agreement()
	kctx := a.KeyContext(uint32(c.epoch))
	secret, err := loadSecret(c.secret, id, kctx)
	if err != nil {
		return err
	}
	logger.Info("programme secret opened", "isa", a.ID, "version", a.Version, "epoch", kctx.Epoch, "check", secret.CheckValue())
	var asof time.Time
	if c.asof != "" {
		if asof, err = time.Parse(time.DateOnly, c.asof); err != nil {
			return fmt.Errorf("-asof: want YYYY-MM-DD: %w", err)
		}
	}
	tlsCfg, err := pki.ClientConfig(c.cert, c.key, c.ca)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.matcherAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return fmt.Errorf("connecting to matcher %s: %w", c.matcherAddr, err)
	}
	defer conn.Close()
	sc, err := sinkConfig(c, logger)
	if err != nil {
		return err
	}
	sink, err := agency.NewMatcherSink(ctx, conn, sc)
	if err != nil {
		return err
	}
	rejects := c.rejects
	if rejects == "" {
		rejects = filepath.Join(c.state, "rejects.csv")
	}
	var progress io.Writer
	if term.IsTerminal(int(os.Stderr.Fd())) {
		progress = os.Stderr
	}
	sum, err := agency.Run(ctx, agency.Config{
		Source:       c.source,
		Mapping:      m,
		Extract:      c.extract,
		AsOf:         asof,
		Keys:         agency.Keys{Secret: secret, Context: kctx, Local: local},
		RejectsPath:  rejects,
		WarningsPath: filepath.Join(filepath.Dir(rejects), "warnings.csv"),
		Logger:       logger,
		Progress:     progress,
	}, vault, sink)
	fmt.Fprintf(stdout, "%s: %s\n", c.source, sum)
	if err != nil {
		return err
	}
	if sum.Rejected > 0 {
		fmt.Fprintf(stdout, "%s: %d rejected rows listed in %s\n", c.source, sum.Rejected, rejects)
	}
	return nil
}
