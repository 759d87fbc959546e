package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// partyHeader carries the caller's party in these tests, standing in for
// the client certificate.
const partyHeader = "x-test-party"

func partyFromMetadata(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(partyHeader); len(v) == 1 {
		return v[0], nil
	}
	return "", errors.New("no party")
}

var (
	testAgencies = []string{"council", "education", "police", "dwp"}
	testISA      = keys.Context{ISAHash: keys.HashISA([]byte("server test agreement")), Epoch: 1}
)

type testEnv struct {
	conn   *grpc.ClientConn
	sub    pb.SubmissionClient
	lead   pb.LeadClient
	store  *store.Store
	server *Server
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvWith(t, store.Options{MemTableSize: 4 << 20, NoSync: true})
}

// newEnvWith starts a server on a store opened with opts, over an
// in-memory listener, with the caller's party taken from metadata.
func newEnvWith(t testing.TB, opts store.Options) *testEnv {
	t.Helper()
	st, err := store.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{
		Store:    st,
		Ingester: &ingest.Ingester{Store: st, Blinding: bk, ISAHash: testISA.ISAHash, Epoch: testISA.Epoch},
		Rules:    rules.Phase1(),
		Roles:    Roles{Agencies: testAgencies, Leads: []string{"lead"}},
		Party:    partyFromMetadata,
		Now:      func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	})
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	pb.RegisterSubmissionServer(gs, srv)
	pb.RegisterLeadServer(gs, srv)
	go gs.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		st.Close()
	})
	return &testEnv{conn: conn, sub: pb.NewSubmissionClient(conn), lead: pb.NewLeadClient(conn), store: st, server: srv}
}

// as returns a context whose calls are made as party ("" for none).
func as(t testing.TB, party string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if party == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, partyHeader, party)
}

func tok(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

func ref(label string) []byte {
	h := sha256.Sum256([]byte("ref:" + label))
	return h[:16]
}

func batch(id string, n int) *pb.Batch {
	b := &pb.Batch{BatchId: id, IsaHash: testISA.ISAHash[:], KeyEpoch: testISA.Epoch}
	for i := range n {
		l := fmt.Sprintf("%s/%d", id, i)
		b.Records = append(b.Records, &pb.Record{
			Ref:        ref(l),
			Tokens:     []*pb.Token{{Kind: string(matchkey.NameDOB), Value: tok(l)}},
			Indicators: map[string]bool{"work": true},
		})
	}
	return b
}

// submit sends batches on one stream and returns the receipts and the
// error that ended the stream (nil after a clean close).
func submit(ctx context.Context, c pb.SubmissionClient, batches ...*pb.Batch) ([]*pb.Receipt, error) {
	stream, err := c.Submit(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		if err := stream.Send(b); err != nil {
			break // the reason arrives on Recv
		}
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var out []*pb.Receipt
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func TestRoles(t *testing.T) {
	env := newEnv(t)
	startRun := func(ctx context.Context) error {
		_, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "monthly identification"})
		return err
	}
	list := func(ctx context.Context) error {
		_, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "case allocation"})
		return err
	}
	sub := func(ctx context.Context) error {
		_, err := submit(ctx, env.sub, batch("roles", 1))
		return err
	}
	for _, tc := range []struct {
		name  string
		call  func(context.Context) error
		party string
		want  codes.Code
	}{
		{"submit as lead", sub, "lead", codes.PermissionDenied},
		{"submit as stranger", sub, "health", codes.PermissionDenied},
		{"submit with party differing in case", sub, "Police", codes.PermissionDenied},
		{"submit with no party", sub, "", codes.Unauthenticated},
		{"start run as agency", startRun, "police", codes.PermissionDenied},
		{"start run as stranger", startRun, "matcher", codes.PermissionDenied},
		{"start run with no party", startRun, "", codes.Unauthenticated},
		{"list as agency", list, "council", codes.PermissionDenied},
		{"list as stranger", list, "auditor", codes.PermissionDenied},
		{"list with no party", list, "", codes.Unauthenticated},
		{"list before any run", list, "lead", codes.NotFound},
		// Allowed calls last: they change the store.
		{"submit as agency", sub, "police", codes.OK},
		{"start run as lead", startRun, "lead", codes.OK},
		{"list as lead", list, "lead", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := env.store.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(as(t, tc.party))
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == codes.OK {
				return
			}
			if tc.party != "" && tc.want == codes.PermissionDenied && !strings.Contains(status.Convert(err).Message(), tc.party) {
				t.Errorf("refusal %q does not say which party was refused", status.Convert(err).Message())
			}
			after, err := env.store.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if after.Records != before.Records || after.Batches != before.Batches || after.Runs != before.Runs {
				t.Errorf("a refused call changed the store: %+v -> %+v", before, after)
			}
		})
	}
}

func TestPurposeRequired(t *testing.T) {
	env := newEnv(t)
	ctx := as(t, "lead")
	if _, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("StartLinkRun without purpose: %v, want InvalidArgument", err)
	}
	if _, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListFlaggedHouseholds without purpose: %v, want InvalidArgument", err)
	}
	if c, err := env.store.Counts(context.Background()); err != nil || c.Runs != 0 {
		t.Errorf("a refused StartLinkRun stored %d runs (%v)", c.Runs, err)
	}
	if _, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{RunId: "no-such-run", Purpose: "p"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown run id: %v, want NotFound", err)
	}
}

func TestSubmitStatus(t *testing.T) {
	wrongISA := batch("wrong-isa", 2)
	wrongISA.IsaHash = tok("another agreement")
	wrongEpoch := batch("wrong-epoch", 2)
	wrongEpoch.KeyEpoch = 7
	badRef := batch("bad-ref", 2)
	badRef.Records[1].Ref = badRef.Records[1].Ref[:15]
	badKind := batch("bad-kind", 2)
	badKind.Records[0].Tokens[0].Kind = "favourite_colour"
	badIndicator := batch("bad-indicator", 2)
	badIndicator.Records[1].Indicators["crime-asb"] = true
	addressOnly := batch("address-only", 1)
	addressOnly.Records[0].Tokens[0].Kind = string(matchkey.UPRN)
	for _, tc := range []struct {
		name     string
		batches  []*pb.Batch
		code     codes.Code
		receipts int // receipts before the stream ends
		stored   int // records stored
	}{
		{"good", []*pb.Batch{batch("a", 2), batch("b", 3)}, codes.OK, 2, 5},
		{"duplicate", []*pb.Batch{batch("a", 2), batch("a", 2)}, codes.OK, 2, 2},
		{"empty stream", nil, codes.OK, 0, 0},
		{"wrong ISA", []*pb.Batch{wrongISA}, codes.FailedPrecondition, 0, 0},
		{"wrong epoch", []*pb.Batch{batch("ok", 1), wrongEpoch, batch("never", 1)}, codes.FailedPrecondition, 1, 1},
		{"bad ref", []*pb.Batch{badRef}, codes.InvalidArgument, 0, 0},
		{"bad kind", []*pb.Batch{batch("ok", 2), badKind}, codes.InvalidArgument, 1, 2},
		{"no batch id", []*pb.Batch{{IsaHash: testISA.ISAHash[:], KeyEpoch: 1, Records: batch("x", 1).Records}}, codes.InvalidArgument, 0, 0},
		{"address tokens only", []*pb.Batch{addressOnly}, codes.InvalidArgument, 0, 0},
		{"bad indicator name", []*pb.Batch{badIndicator}, codes.InvalidArgument, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			receipts, err := submit(as(t, "police"), env.sub, tc.batches...)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code %v (%v), want %v", got, err, tc.code)
			}
			if len(receipts) != tc.receipts {
				t.Errorf("%d receipts, want %d", len(receipts), tc.receipts)
			}
			for i, r := range receipts {
				b := tc.batches[i]
				if r.GetBatchId() != b.GetBatchId() || int(r.GetRecords()) != len(b.GetRecords()) || len(r.GetDigest()) != 32 {
					t.Errorf("receipt %d = %v for batch %s of %d records", i, r, b.GetBatchId(), len(b.GetRecords()))
				}
				if want := i > 0 && b.GetBatchId() == tc.batches[0].GetBatchId(); r.GetDuplicate() != want {
					t.Errorf("receipt %d: duplicate %v, want %v", i, r.GetDuplicate(), want)
				}
				if !r.GetReceived().AsTime().Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
					t.Errorf("receipt %d: received %v, want the server clock", i, r.GetReceived().AsTime())
				}
			}
			c, err := env.store.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.Records != tc.stored || c.RecordsBySource["police"] != tc.stored {
				t.Errorf("store: %+v, want %d police records", c, tc.stored)
			}
		})
	}
}

// TestSubmitSourceIsCaller checks that records are stored under the
// authenticated caller, whatever else the batch says.
func TestSubmitSourceIsCaller(t *testing.T) {
	env := newEnv(t)
	for _, a := range []string{"council", "dwp"} {
		if _, err := submit(as(t, a), env.sub, batch("same-id", 2)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := env.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.RecordsBySource["council"] != 2 || c.RecordsBySource["dwp"] != 2 || c.Records != 4 {
		t.Errorf("records by source %v, want 2 council and 2 dwp", c.RecordsBySource)
	}
}

// A batch within the ingester's record limit that does not fit in one store
// transaction is the sender's to fix (send smaller batches): the status says
// so rather than report an internal failure, and nothing is stored.
func TestSubmitBatchTooLarge(t *testing.T) {
	env := newEnvWith(t, store.Options{MemTableSize: 1 << 20, NoSync: true})
	receipts, err := submit(as(t, "police"), env.sub, batch("small", 10), batch("huge", 4000))
	if got := status.Code(err); got != codes.InvalidArgument {
		t.Fatalf("code %v (%v), want InvalidArgument", got, err)
	}
	if len(receipts) != 1 {
		t.Errorf("%d receipts, want 1 (for the small batch)", len(receipts))
	}
	if c, err := env.store.Counts(context.Background()); err != nil || c.Records != 10 {
		t.Errorf("store holds %d records (%v), want only the small batch's 10", c.Records, err)
	}
}
