package partytest

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/metadata"
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
