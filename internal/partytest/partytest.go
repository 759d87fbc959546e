// Package partytest runs tfmatch's gRPC services in memory for their
// tests and lets the tests name the calling party without certificates:
// the party travels in a metadata header, which FromContext reads where
// the real nodes read the client certificate. It is for tests only; no
// node imports it (the end-to-end tests use the real binaries, TLS and
// certificates).
package partytest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
)

// Header is the metadata key that carries the party.
const Header = "x-test-party"

// ErrNoParty is returned for a call that names no party, or several.
var ErrNoParty = errors.New("partytest: no party in the call's metadata")

// FromContext returns the party an incoming call names; it has the shape
// of the nodes' Party functions.
func FromContext(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(Header); len(v) == 1 {
		return v[0], nil
	}
	return "", ErrNoParty
}

// As returns ctx with an outgoing call naming party.
func As(ctx context.Context, party string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, Header, party)
}

// Serve starts a gRPC server on an in-memory listener with the services
// register adds (made with opts), and returns a client connection to it and stop, which
// closes the connection and stops the server. stop also runs when the test
// ends; calling it again does nothing.
func Serve(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) (*grpc.ClientConn, func()) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(opts...)
	register(gs)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			conn.Close()
			gs.Stop()
		})
	}
	t.Cleanup(stop)
	return conn, stop
}
