package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/audit/audittest"
	"tfmatch/internal/isatest"
	"tfmatch/internal/partytest"
	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

var testISA = keys.Context{ISAHash: keys.HashISA([]byte("server test agreement")), Epoch: 1}

// testParties are the parties of the test agreement. The agencies'
// indicators are those of the synthetic district, and every agency may
// also send work, which the batch helper sets.
func testParties() []isatest.Party {
	return []isatest.Party{
		{ID: "council", Role: isa.RoleAgency, Indicators: []string{"crime_asb", "local_concern", "work"}},
		{ID: "education", Role: isa.RoleAgency, Indicators: []string{"education", "work"}},
		{ID: "police", Role: isa.RoleAgency, Indicators: []string{"crime_asb", "work"}},
		{ID: "dwp", Role: isa.RoleAgency, Indicators: []string{"work"}},
		{ID: "lead", Role: isa.RoleLead},
		{ID: "auditor", Role: isa.RoleAuditor},
		{ID: "matcher", Role: isa.RoleMatcher},
	}
}

// serverNow is the server's clock in these tests.
var serverNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testEnv struct {
	conn     *grpc.ClientConn
	sub      pb.SubmissionClient
	lead     pb.LeadClient
	auditor  pb.AuditClient
	store    *store.Store
	server   *Server
	log      *audit.Log
	verifier string // the log's verifier key
	stop     func() // stops the server and closes the store
}

// newAuditLog returns an in-memory audit log and its verifier key.
func newAuditLog(t testing.TB) (*audit.Log, string) {
	return audittest.NewLog(t, "audit.server.test", 0)
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvWith(t, store.Options{MemTableSize: 4 << 20, NoSync: true})
}

// newEnvWith starts a server on a store opened with opts, over an
// in-memory listener, with the caller's party taken from metadata, under
// an agreement in force.
func newEnvWith(t testing.TB, opts store.Options) *testEnv {
	t.Helper()
	return newEnvPolicy(t, opts, isatest.Policy(t, isatest.Config{Parties: testParties(), Now: func() time.Time { return serverNow }}))
}

// newEnvPolicy is newEnvWith under the given agreement policy.
func newEnvPolicy(t testing.TB, opts store.Options, policy *isa.Policy) *testEnv {
	t.Helper()
	log, vkey := newAuditLog(t)
	return startEnv(t, envConfig{dir: t.TempDir(), opts: opts, policy: policy, log: log, verifier: vkey, isaHash: testISA.ISAHash})
}

// envConfig says how startEnv builds a server.
type envConfig struct {
	dir      string
	opts     store.Options // opts.Epoch is the epoch served (zero: 1)
	policy   *isa.Policy
	log      *audit.Log
	verifier string
	isaHash  [32]byte
	purged   func(uint32) error
	now      time.Time // the server's clock (default serverNow)
}

// startEnv starts a server on the store in cfg.dir over an in-memory
// listener, with the caller's party taken from metadata. The server and
// the store are stopped at cleanup or by the returned env's stop.
func startEnv(t testing.TB, cfg envConfig) *testEnv {
	t.Helper()
	st, err := store.Open(cfg.dir, cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	log, vkey := cfg.log, cfg.verifier
	now := cfg.now
	if now.IsZero() {
		now = serverNow
	}
	srv, err := New(Config{
		Store:       st,
		Ingester:    &ingest.Ingester{Store: st, Blinding: bk, ISAHash: cfg.isaHash, Epoch: st.Epoch()},
		Rules:       rules.Phase1(),
		Policy:      cfg.policy,
		Audit:       log,
		Party:       partytest.FromContext,
		Now:         func() time.Time { return now },
		EpochPurged: cfg.purged,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, stopServer := partytest.Serve(t, func(s *grpc.Server) {
		pb.RegisterSubmissionServer(s, srv)
		pb.RegisterLeadServer(s, srv)
		pb.RegisterAuditServer(s, srv.AuditServer())
	}, ServerOptions()...)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopServer()
			st.Close()
		})
	}
	t.Cleanup(stop)
	return &testEnv{conn: conn, sub: pb.NewSubmissionClient(conn), lead: pb.NewLeadClient(conn), auditor: pb.NewAuditClient(conn),
		store: st, server: srv, log: log, verifier: vkey, stop: stop}
}

// as returns a context whose calls are made as party ("" for none).
func as(t testing.TB, party string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if party == "" {
		return ctx
	}
	return partytest.As(ctx, party)
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

// roleCalls are the calls of TestRoles, one per action the matcher
// enforces.
type roleCall struct {
	action isa.Action
	name   string
	call   func(context.Context) error
}

func roleCalls(env *testEnv) []roleCall {
	return []roleCall{
		{isa.ActionSubmit, "submit", func(ctx context.Context) error {
			_, err := submit(ctx, env.sub, batch("roles", 1))
			return err
		}},
		{isa.ActionStartRun, "start run", func(ctx context.Context) error {
			_, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "monthly identification"})
			return err
		}},
		{isa.ActionReadResults, "list", func(ctx context.Context) error {
			_, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "case allocation"})
			return err
		}},
		{isa.ActionPurge, "purge", func(ctx context.Context) error {
			_, err := env.lead.PurgeEpoch(ctx, &pb.PurgeEpochRequest{KeyEpoch: 9, Purpose: "key epoch retired"})
			return err
		}},
		{isa.ActionAuditRead, "read entries", func(ctx context.Context) error {
			_, err := env.auditor.ListEntries(ctx, &pb.ListEntriesRequest{})
			return err
		}},
		{isa.ActionAuditRead, "read checkpoints", func(ctx context.Context) error {
			_, err := env.auditor.GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
			return err
		}},
		{isa.ActionAuditRead, "consistency proof", func(ctx context.Context) error {
			_, err := env.auditor.GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{OldSize: 0, NewSize: 1})
			return err
		}},
	}
}

// TestRoles runs every party of the agreement, a stranger and a caller
// with no identity against every action: a caller that is no party is
// Unauthenticated, a party outside its role PermissionDenied (naming the
// party), and each refusal is in the audit log and changes nothing.
func TestRoles(t *testing.T) {
	env := newEnv(t)
	type tcase struct {
		name  string
		call  func(context.Context) error
		party string
		want  codes.Code
	}
	var refusals, allowed []tcase
	callers := []string{"", "health", "Police"}
	for _, p := range testParties() {
		callers = append(callers, p.ID)
	}
	for _, rc := range roleCalls(env) {
		for _, party := range callers {
			tc := tcase{name: rc.name + " as " + party, call: rc.call, party: party}
			role, known := env.server.cfg.Policy.RoleOf(party)
			want, _ := isa.RoleFor(rc.action)
			switch {
			case !known:
				tc.want = codes.Unauthenticated
			case role != want:
				tc.want = codes.PermissionDenied
			default:
				allowed = append(allowed, tc)
				continue
			}
			refusals = append(refusals, tc)
		}
	}
	// Allowed calls last: they change the store. Reading results before
	// any run finds none; purging an epoch never held finds none.
	var list, run []tcase
	for _, tc := range allowed {
		switch {
		case strings.HasPrefix(tc.name, "list"):
			list = append(list, tc)
		case strings.HasPrefix(tc.name, "purge"):
			tc.want = codes.NotFound
			refusals = append(refusals, tc)
		case strings.HasPrefix(tc.name, "start run"):
			run = append(run, tc)
		default:
			tc.want = codes.OK
			refusals = append(refusals, tc)
		}
	}
	for _, tc := range list {
		tc.want = codes.NotFound
		refusals = append(refusals, tc)
	}
	for _, tc := range append(run, list...) {
		tc.want = codes.OK
		refusals = append(refusals, tc)
	}
	if len(allowed) != 10 {
		t.Fatalf("%d allowed calls in the matrix, want 10 (four agencies submit, the lead runs, lists and purges, the auditor reads three ways)", len(allowed))
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before, err := env.store.Counts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			logBefore := env.log.Size()
			err = tc.call(as(t, tc.party))
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code %v (%v), want %v", got, err, tc.want)
			}
			if tc.want == codes.OK {
				return
			}
			// Every refusal is in the audit log, with who and what.
			e := lastEntry(t, env.log)
			wantParty := tc.party
			if tc.want == codes.Unauthenticated {
				wantParty = "(unauthenticated)" // a name no party has is no identity
			}
			if env.log.Size() != logBefore+1 || e.Kind != audit.KindRefusal || e.Party != wantParty || e.Refusal.Code != tc.want.String() || e.Refusal.Action == "" {
				t.Errorf("log grew %d -> %d, last entry %v by %q %+v; want one refusal by %q code %v",
					logBefore, env.log.Size(), e.Kind, e.Party, e.Refusal, wantParty, tc.want)
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

// TestAgreementNotInForce: before the agreement's first day and from its
// end, every party's every call is refused with FailedPrecondition,
// recorded, and changes nothing. The audit log stays readable to
// auditors: it must be checkable after the agreement ends.
func TestAgreementNotInForce(t *testing.T) {
	from, until := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		now  time.Time
		msg  string
	}{
		{"not yet in force", from.Add(-time.Second), "not yet in force"},
		{"expired", until, "expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			policy := isatest.Policy(t, isatest.Config{Parties: testParties(), ValidFrom: from, ValidUntil: until, Now: func() time.Time { return tt.now }})
			env := newEnvPolicy(t, store.Options{MemTableSize: 4 << 20, NoSync: true}, policy)
			callers := map[isa.Action]string{isa.ActionSubmit: "police", isa.ActionStartRun: "lead", isa.ActionReadResults: "lead", isa.ActionPurge: "lead", isa.ActionAuditRead: "auditor"}
			for _, rc := range roleCalls(env) {
				logBefore := env.log.Size()
				err := rc.call(as(t, callers[rc.action]))
				if rc.action == isa.ActionAuditRead {
					if err != nil {
						t.Errorf("%s: %v, want the audit log readable", rc.name, err)
					}
					continue
				}
				if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), tt.msg) {
					t.Errorf("%s: %v, want FailedPrecondition saying %q", rc.name, err, tt.msg)
				}
				if e := lastEntry(t, env.log); env.log.Size() != logBefore+1 || e.Kind != audit.KindRefusal || e.Refusal.Code != codes.FailedPrecondition.String() {
					t.Errorf("%s: refusal not recorded: %+v", rc.name, e)
				}
			}
			if c, err := env.store.Counts(context.Background()); err != nil || c.Records != 0 || c.Batches != 0 || c.Runs != 0 {
				t.Errorf("store %+v (%v), want empty", c, err)
			}
		})
	}
}

// TestIndicatorNotAllowed: a batch carrying an indicator the agreement
// does not let the agency share is refused with InvalidArgument naming
// the indicator, recorded, and nothing of it is stored; batches before it
// on the stream stay stored.
func TestIndicatorNotAllowed(t *testing.T) {
	env := newEnv(t)
	bad := batch("bad", 3)
	bad.Records[2].Indicators["education"] = true
	receipts, err := submit(as(t, "police"), env.sub, batch("good", 2), bad, batch("never", 1))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), `"education"`) {
		t.Fatalf("%v, want InvalidArgument naming the indicator", err)
	}
	if len(receipts) != 1 {
		t.Errorf("%d receipts, want 1 (the batch before the refused one)", len(receipts))
	}
	c, err := env.store.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 2 || c.Batches != 1 {
		t.Errorf("store %+v, want only the first batch", c)
	}
	e := lastEntry(t, env.log)
	if e.Kind != audit.KindRefusal || e.Party != "police" || e.Refusal.Code != codes.InvalidArgument.String() || !strings.Contains(e.Refusal.Reason, "education") {
		t.Errorf("last entry %+v, want police's refusal naming the indicator", e)
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

// lastEntry returns the newest entry of l.
func lastEntry(t testing.TB, l *audit.Log) audit.Entry {
	t.Helper()
	n := l.Size()
	if n == 0 {
		t.Fatal("the audit log is empty")
	}
	b, err := l.Entries(context.Background(), n-1, n)
	if err != nil {
		t.Fatal(err)
	}
	e, err := audit.DecodeEntry(b[0])
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// receiptOf converts the audit part of a wire receipt.
func receiptOf(r *pb.Receipt) audit.Receipt {
	return audit.Receipt{Checkpoint: r.GetCheckpoint(), Index: r.GetLogIndex(), Proof: r.GetInclusionProof(), Entry: r.GetLogEntry()}
}

// TestAuditTrail checks what a session leaves in the audit log: one
// submission entry per batch with a receipt that verifies (the same one
// for a batch sent again), the link run and the query with their
// purposes, and that the whole log verifies with the receipts.
func TestAuditTrail(t *testing.T) {
	env := newEnv(t)
	b1 := batch("b1", 3)
	b1.Records[0].Indicators["crime_asb"] = true
	b1.Records[1].Indicators["crime_asb"] = false
	receipts, err := submit(as(t, "police"), env.sub, b1, batch("b2", 2), batch("b1", 3))
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(env.verifier)
	if err != nil {
		t.Fatal(err)
	}
	var rs []audit.Receipt
	for i, r := range receipts {
		rc := receiptOf(r)
		if err := audit.VerifyReceipt(rc, v); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		rs = append(rs, rc)
	}
	if rs[2].Index != rs[0].Index || string(rs[2].Entry) != string(rs[0].Entry) {
		t.Errorf("the batch sent again got entry %d, want its first entry %d", rs[2].Index, rs[0].Index)
	}
	e, err := audit.DecodeEntry(rs[0].Entry)
	if err != nil {
		t.Fatal(err)
	}
	want := audit.Entry{
		Kind: audit.KindSubmission, Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Party: "police",
		ISAHash: testISA.ISAHash, KeyEpoch: 1, BatchID: "b1", BatchDigest: [32]byte(receipts[0].GetDigest()),
		RecordCount: 3, IndicatorCounts: map[string]uint64{"work": 3, "crime_asb": 1},
	}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("submission entry\n%+v\nwant\n%+v", e, want)
	}

	ctx := as(t, "lead")
	if _, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "monthly identification"}); err != nil {
		t.Fatal(err)
	}
	if e := lastEntry(t, env.log); e.Kind != audit.KindLinkRun || e.Purpose != "monthly identification" || e.RecordCount != 5 || e.RunID == "" {
		t.Errorf("after a link run the last entry is %+v", e)
	}
	if _, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "case allocation"}); err != nil {
		t.Fatal(err)
	}
	if e := lastEntry(t, env.log); e.Kind != audit.KindQuery || e.Purpose != "case allocation" || e.Party != "lead" || e.RunID == "" {
		t.Errorf("after a query the last entry is %+v", e)
	}
	if n := env.log.Size(); n != 4 {
		t.Errorf("the log has %d entries, want 4 (two batches, a run, a query)", n)
	}
	entries, err := env.log.Entries(context.Background(), 0, env.log.Size())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	cps, err := env.log.Checkpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := audit.Verify(entries, cps, rs, v); p != nil {
		t.Errorf("the log does not verify: %v", p)
	}
}

// TestSubmissionEntryRecovered checks that a batch stored without its
// entry (the matcher stopped in between) gets one when it is sent again.
func TestSubmissionEntryRecovered(t *testing.T) {
	env := newEnv(t)
	b := batch("lost", 2)
	in := batchFromProto("police", b)
	if _, err := env.server.cfg.Ingester.Accept(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	receipts, err := submit(as(t, "police"), env.sub, b, b)
	if err != nil {
		t.Fatal(err)
	}
	if !receipts[0].GetDuplicate() || receipts[0].GetLogIndex() != receipts[1].GetLogIndex() || len(receipts[0].GetLogEntry()) == 0 {
		t.Fatalf("receipts %v", receipts)
	}
	if n := env.log.Size(); n != 1 {
		t.Errorf("the log has %d entries, want 1", n)
	}
	if e := lastEntry(t, env.log); e.Kind != audit.KindSubmission || e.BatchID != "lost" || e.RecordCount != 2 {
		t.Errorf("recovered entry %+v", e)
	}
}
