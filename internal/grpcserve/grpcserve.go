// Package grpcserve runs a tfmatch gRPC server the same way in every
// binary: mutual TLS, grpc health and reflection, the listen address
// written to a file for supervisors and tests, and a graceful stop when the
// context ends.
package grpcserve

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Config configures Serve.
type Config struct {
	// Listen is the TCP address (host:port; port 0 picks one).
	Listen string
	// TLS must require and verify client certificates.
	TLS *tls.Config
	// AddrFile, when set, receives the address actually listened on.
	AddrFile string
	// Register adds the node's services.
	Register func(*grpc.Server)
	// Services are marked SERVING in the health service.
	Services []string
	Logger   *slog.Logger
	// Options are extra server options (interceptors, codecs).
	Options []grpc.ServerOption
}

// Serve listens and serves until ctx ends, then stops gracefully (waiting
// at most ten seconds for calls in flight).
func Serve(ctx context.Context, cfg Config) error {
	if cfg.TLS == nil || cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return fmt.Errorf("serve: mutual TLS is required")
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg.TLS)), grpc.MaxRecvMsgSize(64 << 20)}, cfg.Options...)
	srv := grpc.NewServer(opts...)
	cfg.Register(srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	for _, s := range cfg.Services {
		hs.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	reflection.Register(srv)

	addr := lis.Addr().String()
	if cfg.AddrFile != "" {
		tmp := cfg.AddrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
			lis.Close()
			return fmt.Errorf("writing address file: %w", err)
		}
		if err := os.Rename(tmp, cfg.AddrFile); err != nil {
			lis.Close()
			return fmt.Errorf("writing address file: %w", err)
		}
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("serving", "addr", addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		srv.Stop()
	}
	return nil
}
