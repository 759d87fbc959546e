package e2e

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"tfmatch/internal/devnet"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
)

// startMatcher runs the matcher binary on a fresh PKI and returns its
// address and the PKI directory.
func startMatcher(t *testing.T) (addr, pkiDir string) {
	t.Helper()
	dir := t.TempDir()
	pkiDir = filepath.Join(dir, "pki")
	if _, err := pki.WriteDevPKI(pkiDir, []string{"council", "police", "lead", "auditor"}, map[string][]string{"matcher": {"localhost", "127.0.0.1"}}, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	isa := filepath.Join(dir, "isa.yaml")
	if err := os.WriteFile(isa, []byte(devnet.DevISA), 0o644); err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(filepath.Join(binDir, "matcher"),
		"-listen", "127.0.0.1:0", "-addr-file", addrFile, "-data", filepath.Join(dir, "data"), "-isa", isa,
		"-cert", filepath.Join(pkiDir, "matcher.crt"), "-key", filepath.Join(pkiDir, "matcher.key"), "-ca", filepath.Join(pkiDir, "ca.crt"),
		"-agencies", "council,police", "-leads", "lead")
	logf, err := os.Create(filepath.Join(dir, "matcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil {
			return strings.TrimSpace(string(b)), pkiDir
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("matcher did not start")
	return "", ""
}

func clientConn(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func partyCreds(t *testing.T, pkiDir, party, caDir string) credentials.TransportCredentials {
	t.Helper()
	cfg, err := pki.ClientConfig(filepath.Join(pkiDir, party+".crt"), filepath.Join(pkiDir, party+".key"), filepath.Join(caDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(cfg)
}

// TestRefusals checks who may connect and who may do what, against the
// real matcher binary.
func TestRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	addr, pkiDir := startMatcher(t)

	rogueDir := filepath.Join(t.TempDir(), "rogue")
	if _, err := pki.WriteDevPKI(rogueDir, []string{"lead", "council"}, nil, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	// A client that trusts the real CA for the server but presents a
	// certificate from another CA.
	ca, err := pki.LoadCA(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rogueCert, err := tls.LoadX509KeyPair(filepath.Join(rogueDir, "lead.crt"), filepath.Join(rogueDir, "lead.key"))
	if err != nil {
		t.Fatal(err)
	}
	rogueCfg := &tls.Config{RootCAs: ca, Certificates: []tls.Certificate{rogueCert}, MinVersion: tls.VersionTLS13}
	noCert := &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS13}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name  string
		creds credentials.TransportCredentials
		call  func(*grpc.ClientConn) error
		want  codes.Code
	}{
		{"lead from the dev CA may query", partyCreds(t, pkiDir, "lead", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "test"})
			return err
		}, codes.NotFound},
		{"certificate from another CA", credentials.NewTLS(rogueCfg), func(c *grpc.ClientConn) error {
			_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unavailable},
		{"no client certificate", credentials.NewTLS(noCert), func(c *grpc.ClientConn) error {
			_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unavailable},
		{"plaintext", insecure.NewCredentials(), func(c *grpc.ClientConn) error {
			_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		}, codes.Unavailable},
		{"agency may not start link runs", partyCreds(t, pkiDir, "police", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "test"})
			return err
		}, codes.PermissionDenied},
		{"agency may not read results", partyCreds(t, pkiDir, "council", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "test"})
			return err
		}, codes.PermissionDenied},
		{"lead may not submit records", partyCreds(t, pkiDir, "lead", pkiDir), func(c *grpc.ClientConn) error {
			s, err := pb.NewSubmissionClient(c).Submit(ctx)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied},
		{"batch under another agreement", partyCreds(t, pkiDir, "police", pkiDir), func(c *grpc.ClientConn) error {
			s, err := pb.NewSubmissionClient(c).Submit(ctx)
			if err != nil {
				return err
			}
			rec := &pb.Record{Ref: make([]byte, 16), Tokens: []*pb.Token{{Kind: "name_dob", Value: make([]byte, 32)}}}
			if err := s.Send(&pb.Batch{BatchId: "b1", IsaHash: make([]byte, 32), KeyEpoch: 1, Records: []*pb.Record{rec}}); err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.FailedPrecondition},
		{"auditor may read the audit log", partyCreds(t, pkiDir, "auditor", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewAuditClient(c).GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
			return err
		}, codes.OK},
		{"auditor may not read results", partyCreds(t, pkiDir, "auditor", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "test"})
			return err
		}, codes.PermissionDenied},
		{"auditor may not submit records", partyCreds(t, pkiDir, "auditor", pkiDir), func(c *grpc.ClientConn) error {
			s, err := pb.NewSubmissionClient(c).Submit(ctx)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}, codes.PermissionDenied},
		{"lead may not read the audit log", partyCreds(t, pkiDir, "lead", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewAuditClient(c).ListEntries(ctx, &pb.ListEntriesRequest{})
			return err
		}, codes.PermissionDenied},
		{"agency may not read audit checkpoints", partyCreds(t, pkiDir, "police", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewAuditClient(c).GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
			return err
		}, codes.PermissionDenied},
		{"lead must state a purpose", partyCreds(t, pkiDir, "lead", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).StartLinkRun(ctx, &pb.StartLinkRunRequest{})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(clientConn(t, addr, tt.creds))
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}
