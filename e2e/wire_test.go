package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"tfmatch/agency"
	"tfmatch/agency/mapping"
	"tfmatch/internal/devnet"
	"tfmatch/internal/grpcserve"
	"tfmatch/internal/nodeaudit"
	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/server"
	"tfmatch/matcher/store"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
	"tfmatch/synth"
)

// recordingCodec keeps a copy of every message the server receives, as
// bytes, before decoding it.
type recordingCodec struct {
	encoding.CodecV2
	mu       sync.Mutex
	received [][]byte
}

func (c *recordingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c.mu.Lock()
	c.received = append(c.received, data.Materialize())
	c.mu.Unlock()
	return c.CodecV2.Unmarshal(data, v)
}

// TestWireHoldsNoIdentity runs the four agencies' real pipelines against a
// matcher server in this process, over loopback mutual TLS, and checks every
// byte the server received for identities from the extracts.
func TestWireHoldsNoIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole ingest")
	}
	dir := t.TempDir()
	district := filepath.Join(dir, "district")
	d, err := synth.Generate(synth.Config{Seed: 11, Households: 600})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(district); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(dir, "pki")
	if _, err := pki.WriteDevPKI(pkiDir, append(synth.Agencies(), devnet.LeadParty, devnet.AuditorParty), map[string][]string{"matcher": {"localhost", "127.0.0.1"}}, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	policy := signedPolicy(t, filepath.Join(dir, "isa"), pkiDir, devnet.AgreementConfig{})
	isaHash := policy.Agreement().Hash()
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blinding, _ := keys.NewBlindingKey()
	auditLog, _, err := nodeaudit.Open(dir, nodeaudit.Config{Name: "wire-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer auditLog.Close()
	srv, err := server.New(server.Config{
		Store:    st,
		Ingester: &ingest.Ingester{Store: st, Blinding: blinding, ISAHash: isaHash, Epoch: 1},
		Rules:    rules.Phase1(),
		Policy:   policy,
		Audit:    auditLog,
		Party:    policy.PartyFromContext,
	})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := pki.ServerConfig(filepath.Join(pkiDir, "matcher.crt"), filepath.Join(pkiDir, "matcher.key"), filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	codec := &recordingCodec{CodecV2: server.Codec()}
	addrFile := filepath.Join(dir, "addr")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srvCtx, stopSrv := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- grpcserve.Serve(srvCtx, grpcserve.Config{
			Listen: "127.0.0.1:0", TLS: tlsCfg, AddrFile: addrFile,
			Register: func(s *grpc.Server) { pb.RegisterSubmissionServer(s, srv) },
			Options:  []grpc.ServerOption{grpc.ForceServerCodecV2(codec)},
		})
	}()
	var addr string
	for addr == "" {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = strings.TrimSpace(string(b))
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	secret, _ := keys.NewProgrammeSecret()
	asof, err := synth.AsOf(district)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range synth.Agencies() {
		m, err := mapping.Load(filepath.Join(district, "mappings", a+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pki.ClientConfig(filepath.Join(pkiDir, a+".crt"), filepath.Join(pkiDir, a+".key"), filepath.Join(pkiDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		sink, err := agency.NewMatcherSink(ctx, conn, agency.SinkConfig{})
		if err != nil {
			t.Fatal(err)
		}
		local, _ := keys.NewLocalKey()
		vault, err := agency.OpenVault(filepath.Join(dir, "vault-"+a), agency.VaultOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := agency.Run(ctx, agency.Config{
			Source: a, Mapping: m, Extract: filepath.Join(district, a+".csv"), AsOf: asof,
			Keys: agency.Keys{Secret: secret, Context: keys.Context{ISAHash: isaHash, Epoch: 1}, Local: local},
		}, vault, sink)
		vault.Close()
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if sum.Sent == 0 {
			t.Fatalf("%s sent nothing: %s", a, sum)
		}
	}
	stopSrv()
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	nd := collectNeedles(t, district, synth.Agencies())
	codec.mu.Lock()
	defer codec.mu.Unlock()
	if len(codec.received) == 0 {
		t.Fatal("the server received nothing")
	}
	total := 0
	for i, msg := range codec.received {
		total += len(msg)
		if n, what := nd.find(msg); n != "" {
			t.Fatalf("message %d received by the matcher holds %s %q", i, what, n)
		}
	}
	t.Logf("%d messages, %d bytes received by the matcher; none holds any of %d identity strings", len(codec.received), total, nd.count)
}
