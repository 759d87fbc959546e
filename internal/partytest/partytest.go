// Package partytest lets tests of tfmatch's gRPC services name the calling
// party without certificates: the party travels in a metadata header,
// which FromContext reads where the real nodes read the client
// certificate. It is for tests only; no node imports it.
package partytest

import (
	"context"
	"errors"

	"google.golang.org/grpc/metadata"
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
