package auditrpc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/audit/audittest"
	"tfmatch/internal/partytest"
	pb "tfmatch/proto/tfmatch/v1"
)

func as(party string) context.Context {
	return partytest.As(context.Background(), party)
}

// newLog returns an in-memory log holding n query entries.
func newLog(t *testing.T, n int) (*audit.Log, string) {
	t.Helper()
	l, vkey := audittest.NewLog(t, "audit.test", 7)
	for i := range n {
		e := audit.Entry{Kind: audit.KindQuery, Party: "lead", Purpose: fmt.Sprintf("query %d", i), RecordCount: uint64(i)}
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return l, vkey
}

func serve(t *testing.T, srv *Server) pb.AuditClient {
	t.Helper()
	conn, _ := partytest.Serve(t, func(s *grpc.Server) { pb.RegisterAuditServer(s, srv) })
	return pb.NewAuditClient(conn)
}

func TestFetchVerifies(t *testing.T) {
	for _, n := range []int{0, 1, 7, 30} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l, vkey := newLog(t, n)
			// A tiny response bound makes Fetch page one entry at a time.
			c := serve(t, &Server{Log: l, Auditors: []string{"auditor"}, Party: partytest.FromContext, MaxResponseBytes: 1})
			ev, err := Fetch(as("auditor"), c, vkey)
			if err != nil {
				t.Fatal(err)
			}
			if len(ev.Entries) != n {
				t.Fatalf("fetched %d entries, want %d", len(ev.Entries), n)
			}
			v, err := audit.NewVerifier(vkey)
			if err != nil {
				t.Fatal(err)
			}
			if p := audit.Verify(ev.Entries, ev.Checkpoints, nil, v); p != nil {
				t.Fatalf("problems: %v", p)
			}
		})
	}
}

func TestProofs(t *testing.T) {
	l, vkey := newLog(t, 10)
	c := serve(t, &Server{Log: l, Auditors: []string{"auditor"}, Party: partytest.FromContext})
	ctx := as("auditor")
	r, err := l.Receipt(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.GetInclusionProof(ctx, &pb.GetInclusionProofRequest{Index: 3, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	r.Proof = p.GetHashes()
	v, _ := audit.NewVerifier(vkey)
	if err := audit.VerifyReceipt(r, v); err != nil {
		t.Fatalf("served inclusion proof does not verify: %v", err)
	}
	want, err := l.ConsistencyProof(4, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{OldSize: 4, NewSize: 10})
	if err != nil || len(got.GetHashes()) != len(want) {
		t.Fatalf("consistency proof: %d hashes, %v; want %d", len(got.GetHashes()), err, len(want))
	}
}

func TestRefusals(t *testing.T) {
	l, _ := newLog(t, 3)
	c := serve(t, &Server{Log: l, Auditors: []string{"auditor"}, Party: partytest.FromContext})
	tests := []struct {
		name  string
		ctx   context.Context
		call  func(context.Context) error
		want  codes.Code
		party string
	}{
		{"lead may not read entries", as("lead"), func(ctx context.Context) error {
			_, err := c.ListEntries(ctx, &pb.ListEntriesRequest{})
			return err
		}, codes.PermissionDenied, "lead"},
		{"agency may not read checkpoints", as("police"), func(ctx context.Context) error {
			_, err := c.GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
			return err
		}, codes.PermissionDenied, "police"},
		{"no party", context.Background(), func(ctx context.Context) error {
			_, err := c.GetInclusionProof(ctx, &pb.GetInclusionProofRequest{Index: 0, Size: 1})
			return err
		}, codes.Unauthenticated, "(unauthenticated)"},
		{"entries beyond the log", as("auditor"), func(ctx context.Context) error {
			_, err := c.ListEntries(ctx, &pb.ListEntriesRequest{From: 2, To: 99})
			return err
		}, codes.InvalidArgument, "auditor"},
		{"proof beyond the log", as("auditor"), func(ctx context.Context) error {
			_, err := c.GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{OldSize: 2, NewSize: 99})
			return err
		}, codes.InvalidArgument, "auditor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.Size()
			ctx, cancel := context.WithTimeout(tt.ctx, 10*time.Second)
			defer cancel()
			if got := status.Code(tt.call(ctx)); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			// The refusal is in the log.
			if l.Size() != before+1 {
				t.Fatalf("log has %d entries, want %d", l.Size(), before+1)
			}
			b, err := l.Entries(context.Background(), before, before+1)
			if err != nil {
				t.Fatal(err)
			}
			e, err := audit.DecodeEntry(b[0])
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != audit.KindRefusal || e.Party != tt.party || e.Refusal.Code != tt.want.String() {
				t.Fatalf("recorded %v by %q code %q; want a refusal by %q code %v", e.Kind, e.Party, e.Refusal.Code, tt.party, tt.want)
			}
		})
	}
}
