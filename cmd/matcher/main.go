// Command matcher is the central matcher: it accepts pseudonymised records
// from agency nodes over mutual TLS, stores only blinded tokens and
// indicators, links them into persons and households, applies the
// programme's rules and serves the results to the programme lead. It
// serves one key epoch (-epoch): starting it under a new epoch is a key
// rotation, which it records; everything it stores expires at the
// agreement's retention period, and a sweep (-sweep-interval) deletes and
// records what has expired.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"tfmatch/internal/cpuprofile"
	"tfmatch/internal/grpcserve"
	"tfmatch/internal/metrics"
	"tfmatch/internal/nodeaudit"
	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/server"
	"tfmatch/matcher/store"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
)

type config struct {
	listen, addrFile, dataDir string
	cert, key, ca             string
	isa, signingKey           string
	epoch                     uint
	sweepInterval             time.Duration
	rulesFile                 string
	auditName                 string
	logLevel                  string
	cpuProfile                string
	metricsAddr               string
	memtableMiB, memtables    int
	blockCacheMiB             int
	l0Tables                  int
	memoryLimitMiB            int
}

func main() {
	var c config
	flag.StringVar(&c.listen, "listen", "127.0.0.1:7443", "address to listen on (host:port)")
	flag.StringVar(&c.addrFile, "addr-file", "", "write the address listened on to this file")
	flag.StringVar(&c.dataDir, "data", "", "data directory: the token store, the blinding keys and the audit log (required)")
	flag.StringVar(&c.cert, "cert", "", "server certificate (PEM)")
	flag.StringVar(&c.key, "key", "", "server private key (PEM)")
	flag.StringVar(&c.ca, "ca", "", "CA certificate that issues every party's certificate (PEM)")
	flag.StringVar(&c.isa, "isa", "", "the information-sharing agreement in force, signed by every party: it names who may do what, and its hash binds every submission (required)")
	flag.StringVar(&c.signingKey, "signing-key", "", "the matcher's own ISA signing key (ed25519:...), pinned: the agreement must list exactly this key for the matcher")
	flag.UintVar(&c.epoch, "epoch", 1, "key epoch in force: after a new key ceremony, restart with the new epoch (a rotation); epochs only go up")
	flag.DurationVar(&c.sweepInterval, "sweep-interval", time.Hour, "how often to delete what has outlived the agreement's retention period (also swept at start)")
	flag.StringVar(&c.rulesFile, "rules", "", "rule set file (default: the embedded phase-1 rules)")
	flag.StringVar(&c.auditName, "audit-name", "tfmatch-matcher", "name of a new audit log (its signing key's name)")
	flag.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	flag.IntVar(&c.memtableMiB, "store-memtable-mib", 128, "size of each of the token store's memtables, MiB: a batch must fit in 15% of one")
	flag.IntVar(&c.memtables, "store-memtables", 3, "memtables the token store keeps (one written, the others waiting to be flushed)")
	flag.IntVar(&c.blockCacheMiB, "store-block-cache-mib", 0, "the token store's block cache, MiB (0: none; the store is not compressed, so tables are read from their mapped files)")
	flag.IntVar(&c.l0Tables, "store-l0-tables", 48, "flushed memtables the token store holds before it compacts them (fewer compactions while ingesting; writes stall at twice as many)")
	flag.IntVar(&c.memoryLimitMiB, "memory-limit-mib", 0, "soft limit on the Go heap, MiB: the collector works harder as the heap nears it, instead of letting it grow to twice what is live (0: none, or GOMEMLIMIT)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	flag.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (plain HTTP: loopback or a monitoring network; default off)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "matcher: -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", "matcher")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.memoryLimitMiB < 0 {
		fmt.Fprintf(os.Stderr, "matcher: -memory-limit-mib %d: want 0 or more\n", c.memoryLimitMiB)
		os.Exit(2)
	}
	if c.memoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(c.memoryLimitMiB) << 20)
	}
	stopProfile, err := cpuprofile.Start(c.cpuProfile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "matcher: %v\n", err)
		os.Exit(1)
	}
	err = run(ctx, c, logger)
	stopProfile()
	if err != nil {
		fmt.Fprintf(os.Stderr, "matcher: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, logger *slog.Logger) error {
	for _, req := range []struct{ name, val string }{{"data", c.dataDir}, {"cert", c.cert}, {"key", c.key}, {"ca", c.ca}, {"isa", c.isa}} {
		if req.val == "" {
			return fmt.Errorf("-%s is required", req.name)
		}
	}
	tlsCfg, err := pki.ServerConfig(c.cert, c.key, c.ca)
	if err != nil {
		return err
	}
	policy, err := loadAgreement(c, tlsCfg, logger)
	if err != nil {
		return err
	}
	isaHash := policy.Agreement().Hash()
	rs := rules.Phase1()
	if c.rulesFile != "" {
		if rs, err = rules.Load(c.rulesFile); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if c.epoch < 1 || c.epoch > 1<<32-1 {
		return fmt.Errorf("-epoch %d: want 1 to %d", c.epoch, uint32(1<<32-1))
	}
	if c.sweepInterval <= 0 {
		return fmt.Errorf("-sweep-interval %v: want a positive duration", c.sweepInterval)
	}
	epoch := uint32(c.epoch)
	blinding, err := loadOrCreateBlindingKey(blindingKeyPath(c.dataDir, epoch), logger)
	if err != nil {
		return err
	}
	if c.memtableMiB < 1 || c.memtables < 1 || c.blockCacheMiB < 0 || c.l0Tables < 1 {
		return fmt.Errorf("-store-memtable-mib %d, -store-memtables %d, -store-block-cache-mib %d, -store-l0-tables %d: want at least 1, 1, 0 and 1",
			c.memtableMiB, c.memtables, c.blockCacheMiB, c.l0Tables)
	}
	st, err := store.Open(filepath.Join(c.dataDir, "store"), store.Options{Logger: logger, Epoch: epoch, Retention: policy.Retention(),
		MemTableSize: int64(c.memtableMiB) << 20, NumMemtables: c.memtables, BlockCacheSize: int64(c.blockCacheMiB) << 20, LevelZeroTables: c.l0Tables})
	if err != nil {
		return err
	}
	defer st.Close()
	auditLog, _, err := nodeaudit.Open(c.dataDir, nodeaudit.Config{Name: c.auditName, Logger: logger})
	if err != nil {
		return err
	}
	defer auditLog.Close()

	srv, err := server.New(server.Config{
		Store: st,
		Ingester: &ingest.Ingester{
			Store: st, Blinding: blinding, ISAHash: isaHash, Epoch: epoch,
		},
		Rules:  rs,
		Policy: policy,
		Audit:  auditLog,
		Party:  policy.PartyFromContext,
		Logger: logger,
		// A purged epoch's blinding key is never needed again: deleting
		// it makes whatever badger has not yet reclaimed of the epoch
		// useless even to someone who also holds its programme secret.
		EpochPurged: func(e uint32) error { return removeBlindingKey(blindingKeyPath(c.dataDir, e), logger) },
	})
	if err != nil {
		return err
	}
	if _, err := srv.CutOver(ctx); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	if _, err := srv.Sweep(ctx); err != nil {
		return err
	}
	if err := logHoldings(ctx, st, logger); err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		srv.RunSweeper(sweepCtx, c.sweepInterval)
	}()
	// The sweeper stops before the store and the log close.
	defer func() {
		stopSweep()
		<-sweeperDone
	}()
	opts, stopMetrics, err := metrics.ForNode("matcher", c.metricsAddr, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()
	return grpcserve.Serve(ctx, grpcserve.Config{
		Listen:   c.listen,
		TLS:      tlsCfg,
		AddrFile: c.addrFile,
		Options:  append(opts, server.ServerOptions()...),
		Register: func(s *grpc.Server) {
			pb.RegisterSubmissionServer(s, srv)
			pb.RegisterLeadServer(s, srv)
			pb.RegisterAuditServer(s, srv.AuditServer())
		},
		Services: []string{pb.Submission_ServiceDesc.ServiceName, pb.Lead_ServiceDesc.ServiceName, pb.Audit_ServiceDesc.ServiceName},
		Logger:   logger,
	})
}

// loadAgreement loads the signed agreement and checks that the matcher
// may serve under it: every party has signed (with the matcher's own key
// pinned when -signing-key is given), the matcher's certificate is the one
// the agreement names for a party with the matcher role, and the agreement
// has not expired. One not yet in force is served, refusing every request
// until it is.
func loadAgreement(c config, tlsCfg *tls.Config, logger *slog.Logger) (*isa.Policy, error) {
	var pinned map[string]ed25519.PublicKey
	if c.signingKey != "" {
		k, err := isa.ParseSigningKey(c.signingKey)
		if err != nil {
			return nil, fmt.Errorf("-signing-key: %w", err)
		}
		pinned = map[string]ed25519.PublicKey{}
		// Pinned for the agreement's matcher party; IdentifySelf below
		// checks that this node's certificate speaks for that party.
		a, err := isa.ReadFile(c.isa)
		if err != nil {
			return nil, err
		}
		pinned[a.Matcher()] = k
	}
	a, err := isa.Load(c.isa, pinned)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	policy, err := isa.NewPolicy(a, isa.PolicyConfig{Pinned: pinned})
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	if len(tlsCfg.Certificates) != 1 {
		return nil, errors.New("refusing to start: want one server certificate")
	}
	self, err := policy.IdentifySelf(tlsCfg.Certificates[0], tlsCfg.ClientCAs)
	if err != nil {
		return nil, fmt.Errorf("refusing to start: the matcher's certificate: %w", err)
	}
	h := a.Hash()
	switch err := policy.MayDo(self, isa.ActionServe); {
	case errors.Is(err, isa.ErrNotYetValid):
		logger.Warn("the agreement is not yet in force: every request is refused until it is", "valid_from", a.ValidFrom)
	case err != nil:
		return nil, fmt.Errorf("refusing to start under agreement %s v%d: %w", a.ID, a.Version, err)
	}
	logger.Info("agreement loaded", "isa", a.ID, "version", a.Version, "hash", hex.EncodeToString(h[:]), "party", self,
		"valid_until", a.ValidUntil, "signed_by", len(a.Signatures))
	return policy, nil
}

// logHoldings logs what the store holds of each key epoch, so that the
// operator and the lead can see when every agency has resubmitted after a
// rotation, and that the old epoch is still to be purged.
func logHoldings(ctx context.Context, st *store.Store, logger *slog.Logger) error {
	held, err := st.Epochs(ctx)
	if err != nil {
		return err
	}
	for _, h := range held {
		srcs := make([]string, 0, len(h.RecordsBySource))
		for src, n := range h.RecordsBySource {
			srcs = append(srcs, fmt.Sprintf("%s=%d", src, n))
		}
		sort.Strings(srcs)
		logger.Info("store holds", "epoch", h.Epoch, "in_force", h.Epoch == st.Epoch(), "records", h.Records,
			"by_agency", strings.Join(srcs, " "), "batches", h.Batches, "runs", h.Runs)
	}
	for _, h := range held {
		if h.Epoch < st.Epoch() {
			logger.Warn("the store still holds a retired key epoch: purge it once every agency has resubmitted (matchctl purge-epoch)", "epoch", h.Epoch)
		}
	}
	return nil
}

// blindingKeyPath is where the blinding key of a key epoch is kept. Each
// epoch has its own, made when the matcher first serves the epoch.
func blindingKeyPath(dataDir string, epoch uint32) string {
	return filepath.Join(dataDir, fmt.Sprintf("blinding-%d.key", epoch))
}

// removeBlindingKey deletes a purged epoch's blinding key.
func removeBlindingKey(path string, logger *slog.Logger) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting the epoch's blinding key: %w", err)
	}
	logger.Info("deleted blinding key", "path", path)
	return nil
}

// loadOrCreateBlindingKey reads the matcher's blinding key of an epoch,
// making one when the matcher first serves the epoch. The key never
// leaves the matcher.
func loadOrCreateBlindingKey(path string, logger *slog.Logger) (keys.BlindingKey, error) {
	var k keys.BlindingKey
	err := keys.ReadFile(path, &k)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if k, err = keys.NewBlindingKey(); err != nil {
		return k, err
	}
	if err := keys.WriteFile(path, k); err != nil {
		return k, err
	}
	logger.Info("created blinding key", "path", path)
	return k, nil
}
