package partytest

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestFromContext(t *testing.T) {
	incoming := func(ctx context.Context) context.Context {
		md, _ := metadata.FromOutgoingContext(ctx)
		return metadata.NewIncomingContext(context.Background(), md)
	}
	tests := []struct {
		name string
		ctx  context.Context
		want string
		err  error
	}{
		{"one party", incoming(As(context.Background(), "police")), "police", nil},
		{"none", context.Background(), "", ErrNoParty},
		{"two", incoming(As(As(context.Background(), "police"), "lead")), "", ErrNoParty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromContext(tt.ctx)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("FromContext = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// partyHealth answers a health check with the calling party as the
// status's message, so the test can see FromContext work through Serve.
type partyHealth struct {
	healthpb.UnimplementedHealthServer
}

func (partyHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	p, err := FromContext(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return nil, status.Error(codes.FailedPrecondition, p)
}

func TestServe(t *testing.T) {
	conn, stop := Serve(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, partyHealth{}) })
	c := healthpb.NewHealthClient(conn)
	_, err := c.Check(As(context.Background(), "lead"), &healthpb.HealthCheckRequest{})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "lead" {
		t.Errorf("check as lead: %v, want the party named back", err)
	}
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("check naming no party: %v, want Unauthenticated", err)
	}
	stop()
	stop() // harmless twice
	if _, err := c.Check(As(context.Background(), "lead"), &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a call after stop succeeded")
	}
}
