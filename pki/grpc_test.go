package pki

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCPartyIdentity runs a gRPC server with ServerConfig credentials, a
// health service and a unary interceptor that names the caller with
// PartyFromContext, and dials it with clients from two PKIs.
func TestGRPCPartyIdentity(t *testing.T) {
	dir, otherDir := t.TempDir(), t.TempDir()
	servers := map[string][]string{"matcher": {"localhost", "127.0.0.1"}}
	for _, d := range []string{dir, otherDir} {
		if _, err := WriteDevPKI(d, []string{"police", "council"}, servers, DevOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srvCfg, err := ServerConfig(filepath.Join(dir, "matcher.crt"), filepath.Join(dir, "matcher.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var callers []string
	interceptor := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		party, err := PartyFromContext(ctx)
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "no verified party")
		}
		mu.Lock()
		callers = append(callers, party)
		mu.Unlock()
		return handler(ctx, req)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(srvCfg)), grpc.UnaryInterceptor(interceptor))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	tests := []struct {
		name     string
		dir      string
		party    string
		wantCode codes.Code
	}{
		{"police from the programme CA", dir, "police", codes.OK},
		{"council from the programme CA", dir, "council", codes.OK},
		{"police from another CA", otherDir, "police", codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The client trusts the server's CA in every case; only its
			// own certificate differs.
			cliCfg, err := ClientConfig(filepath.Join(tt.dir, tt.party+".crt"), filepath.Join(tt.dir, tt.party+".key"), filepath.Join(tt.dir, "ca.crt"))
			if err != nil {
				t.Fatal(err)
			}
			cliCfg.RootCAs = srvCfg.ClientCAs
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cliCfg)))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			mu.Lock()
			before := len(callers)
			mu.Unlock()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("Check: code %v (%v), want %v", got, err, tt.wantCode)
			}
			mu.Lock()
			seen := callers[before:]
			mu.Unlock()
			if tt.wantCode != codes.OK {
				if len(seen) != 0 {
					t.Fatalf("interceptor ran for a refused client: %v", seen)
				}
				return
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("status %v", resp.GetStatus())
			}
			if len(seen) != 1 || seen[0] != tt.party {
				t.Fatalf("interceptor saw %v, want [%s]", seen, tt.party)
			}
		})
	}
}
