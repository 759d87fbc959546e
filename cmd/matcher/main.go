// Command matcher is the central matcher: it accepts pseudonymised records
// from agency nodes over mutual TLS, stores only blinded tokens and
// indicators, links them into persons and households, applies the
// programme's rules and serves the results to the programme lead.
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
	"syscall"

	"google.golang.org/grpc"

	"tfmatch/internal/cpuprofile"
	"tfmatch/internal/grpcserve"
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
	rulesFile                 string
	auditName                 string
	logLevel                  string
	cpuProfile                string
}

func main() {
	var c config
	flag.StringVar(&c.listen, "listen", "127.0.0.1:7443", "address to listen on (host:port)")
	flag.StringVar(&c.addrFile, "addr-file", "", "write the address listened on to this file")
	flag.StringVar(&c.dataDir, "data", "", "data directory: the token store, the blinding key and the audit log (required)")
	flag.StringVar(&c.cert, "cert", "", "server certificate (PEM)")
	flag.StringVar(&c.key, "key", "", "server private key (PEM)")
	flag.StringVar(&c.ca, "ca", "", "CA certificate that issues every party's certificate (PEM)")
	flag.StringVar(&c.isa, "isa", "", "the information-sharing agreement in force, signed by every party: it names who may do what, and its hash binds every submission (required)")
	flag.StringVar(&c.signingKey, "signing-key", "", "the matcher's own ISA signing key (ed25519:...), pinned: the agreement must list exactly this key for the matcher")
	flag.UintVar(&c.epoch, "epoch", 1, "key epoch in force")
	flag.StringVar(&c.rulesFile, "rules", "", "rule set file (default: the embedded phase-1 rules)")
	flag.StringVar(&c.auditName, "audit-name", "tfmatch-matcher", "name of a new audit log (its signing key's name)")
	flag.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "matcher: -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", "matcher")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	blinding, err := loadOrCreateBlindingKey(filepath.Join(c.dataDir, "blinding.key"), logger)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(c.dataDir, "store"), store.Options{Logger: logger})
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
			Store: st, Blinding: blinding, ISAHash: isaHash, Epoch: uint32(c.epoch),
		},
		Rules:  rs,
		Policy: policy,
		Audit:  auditLog,
		Party:  policy.PartyFromContext,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	return grpcserve.Serve(ctx, grpcserve.Config{
		Listen:   c.listen,
		TLS:      tlsCfg,
		AddrFile: c.addrFile,
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

// loadOrCreateBlindingKey reads the matcher's blinding key, making one on
// first start. The key never leaves the matcher.
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
