package agency

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/audit/audittest"
	"tfmatch/internal/isatest"
	"tfmatch/internal/partytest"
	tfisa "tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/server"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// matcherConn starts a real matcher Submission service over an in-memory
// listener, agreeing to isa, and returns a client connection and its store.
func matcherConn(t *testing.T, isa keys.Context) (*grpc.ClientConn, *store.Store) {
	t.Helper()
	conn, st, _ := matcherConnAudit(t, isa)
	return conn, st
}

// matcherConnAudit is matcherConn that also returns the verifier key of
// the matcher's audit log.
func matcherConnAudit(t *testing.T, isa keys.Context) (*grpc.ClientConn, *store.Store, string) {
	t.Helper()
	auditLog, vkey := audittest.NewLog(t, "matcher.agency.test", 0)
	st, err := store.Open(t.TempDir(), store.Options{MemTableSize: 4 << 20, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Store:    st,
		Ingester: &ingest.Ingester{Store: st, Blinding: bk, ISAHash: isa.ISAHash, Epoch: isa.Epoch},
		Rules:    rules.Phase1(),
		Policy: isatest.Policy(t, isatest.Config{Parties: []isatest.Party{
			{ID: "housing", Role: tfisa.RoleAgency, Indicators: []string{"work", "crime_asb", "local_concern", "education"}},
		}}),
		Audit: auditLog,
		Party: partytest.FromContext,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server stops
	conn, _ := partytest.Serve(t, func(s *grpc.Server) { pb.RegisterSubmissionServer(s, srv) }, server.ServerOptions()...)
	return conn, st, vkey
}

func asParty(party string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	return partytest.As(ctx, party), cancel
}

func TestMatcherSinkReceipts(t *testing.T) {
	k := newKeys(t)
	conn, st := matcherConn(t, k.Context)
	ctx, cancel := asParty("housing")
	defer cancel()
	sink, err := NewMatcherSink(ctx, conn, SinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tee := &teeSink{Sink: sink}
	sum, err := Run(ctx, Config{Mapping: loadMapping(t, runMapping), Extract: runExtract, AsOf: runAsOf, Keys: k, BatchSize: 2}, openVault(t), tee)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Sent != sum.Accepted || sum.Sent != len(acceptedRun) {
		t.Errorf("summary %+v: want %d sent and acknowledged", sum, len(acceptedRun))
	}
	receipts := sink.Receipts()
	if len(receipts) != len(tee.sent) || len(receipts) < 3 {
		t.Fatalf("%d receipts for %d batches sent", len(receipts), len(tee.sent))
	}
	total := 0
	for i, r := range receipts {
		if r.BatchID != tee.sent[i].ID || r.Records != tee.sent[i].Records {
			t.Errorf("receipt %d: batch %s with %d records; sent %s with %d", i, r.BatchID, r.Records, tee.sent[i].ID, tee.sent[i].Records)
		}
		if r.Duplicate || len(r.Digest) != 32 || r.Received == nil {
			t.Errorf("receipt %d = %+v", i, r)
		}
		total += r.Records
	}
	if total != sum.Sent {
		t.Errorf("receipts acknowledge %d records, Run sent %d", total, sum.Sent)
	}
	c, err := st.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.RecordsBySource["housing"] != sum.Accepted || c.Records != sum.Accepted || c.Batches != len(receipts) {
		t.Errorf("matcher store: %+v; want %d housing records in %d batches", c, sum.Accepted, len(receipts))
	}
}

// teeSink records the id and size of every batch it passes on (not the
// batch: Run uses its memory again, see Sink).
type teeSink struct {
	Sink
	sent []teeBatch
}

type teeBatch struct {
	ID      string
	Records int
}

func (s *teeSink) Send(ctx context.Context, b Batch) error {
	s.sent = append(s.sent, teeBatch{b.ID, len(b.Records)})
	return s.Sink.Send(ctx, b)
}

func testBatch(t *testing.T, k Keys, id string, n int) Batch {
	t.Helper()
	ps, err := NewPseudonymiser(k)
	if err != nil {
		t.Fatal(err)
	}
	tk := ps.tokenKeys[matchkey.NameDOB]
	b := Batch{ID: id, ISAHash: k.Context.ISAHash, Epoch: k.Context.Epoch}
	for i := range n {
		name := id + string(rune('a'+i))
		b.Records = append(b.Records, Record{
			Ref:        k.Local.Ref(name),
			Tokens:     []Token{{Kind: matchkey.NameDOB, Value: tk.Token(name, "2001-01-01")}},
			Indicators: map[string]bool{"work": i%2 == 0},
		})
	}
	return b
}

func TestMatcherSinkDuplicateBatch(t *testing.T) {
	k := newKeys(t)
	conn, st := matcherConn(t, k.Context)
	ctx, cancel := asParty("housing")
	defer cancel()
	sink, err := NewMatcherSink(ctx, conn, SinkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b1, b2 := testBatch(t, k, "b1", 3), testBatch(t, k, "b2", 2)
	for _, b := range []Batch{b1, b2, b1} {
		if err := sink.Send(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	acked, err := sink.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if acked != 8 {
		t.Errorf("acknowledged %d, want 8 (a duplicate is acknowledged too)", acked)
	}
	rs := sink.Receipts()
	if len(rs) != 3 {
		t.Fatalf("%d receipts, want 3", len(rs))
	}
	if rs[0].BatchID != "b1" || rs[1].BatchID != "b2" || rs[2].BatchID != "b1" {
		t.Errorf("receipts out of order: %s %s %s", rs[0].BatchID, rs[1].BatchID, rs[2].BatchID)
	}
	if rs[0].Duplicate || rs[1].Duplicate || !rs[2].Duplicate {
		t.Errorf("duplicate flags %v %v %v, want false false true", rs[0].Duplicate, rs[1].Duplicate, rs[2].Duplicate)
	}
	if !bytes.Equal(rs[0].Digest, rs[2].Digest) || bytes.Equal(rs[0].Digest, rs[1].Digest) {
		t.Error("a duplicate's digest must be the first submission's, and differ from another batch's")
	}
	if c, err := st.Counts(context.Background()); err != nil || c.Records != 5 {
		t.Errorf("store holds %d records (%v), want 5", c.Records, err)
	}
}

func TestMatcherSinkRefusal(t *testing.T) {
	k := newKeys(t)
	other := k.Context
	other.ISAHash = keys.HashISA([]byte("the matcher runs another agreement"))
	for _, tc := range []struct {
		name    string
		matcher keys.Context
		party   string
		code    codes.Code
	}{
		{"wrong ISA hash", other, "housing", codes.FailedPrecondition},
		{"wrong epoch", keys.Context{ISAHash: k.Context.ISAHash, Epoch: k.Context.Epoch + 1}, "housing", codes.FailedPrecondition},
		{"not an agency", k.Context, "lead", codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, st := matcherConn(t, tc.matcher)
			ctx, cancel := asParty(tc.party)
			defer cancel()

			// Straight through the sink: the refusal surfaces from Send
			// or, at the latest, from Close.
			sink, err := NewMatcherSink(ctx, conn, SinkConfig{})
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			for _, id := range []string{"r1", "r2", "r3"} {
				if err := sink.Send(ctx, testBatch(t, k, id, 2)); err != nil {
					errs = append(errs, err)
					break
				}
			}
			acked, err := sink.Close(ctx)
			errs = append(errs, err)
			if err == nil {
				t.Fatal("Close reported no error after a refusal")
			}
			for _, err := range errs {
				if got := status.Code(err); got != tc.code {
					t.Errorf("error %v: code %v, want %v", err, got, tc.code)
				}
			}
			if acked != 0 {
				t.Errorf("%d records acknowledged", acked)
			}

			// Through Run: the error carries the code too.
			sink, err = NewMatcherSink(ctx, conn, SinkConfig{})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(ctx, Config{Mapping: loadMapping(t, runMapping), Extract: runExtract, AsOf: runAsOf, Keys: k, BatchSize: 2}, openVault(t), sink)
			if got := status.Code(err); got != tc.code {
				t.Errorf("Run error %v: code %v, want %v", err, got, tc.code)
			}
			if sum.Sent != 0 {
				t.Errorf("Run reports %d sent", sum.Sent)
			}
			if c, err := st.Counts(context.Background()); err != nil || c.Records != 0 {
				t.Errorf("matcher stored %d records (%v) after refusing", c.Records, err)
			}
		})
	}
}

func TestBatchToProto(t *testing.T) {
	k := newKeys(t)
	b := testBatch(t, k, "conv", 3)
	b.Records[1].Indicators = nil
	b.Records[2].Tokens = append(b.Records[2].Tokens, Token{Kind: matchkey.AddressLine, Value: keys.Token{9}})
	p := BatchToProto(b)
	if p.GetBatchId() != b.ID || !bytes.Equal(p.GetIsaHash(), b.ISAHash[:]) || p.GetKeyEpoch() != b.Epoch {
		t.Errorf("header = %q %x %d", p.GetBatchId(), p.GetIsaHash(), p.GetKeyEpoch())
	}
	if len(p.GetRecords()) != len(b.Records) {
		t.Fatalf("%d records, want %d", len(p.GetRecords()), len(b.Records))
	}
	for i, r := range b.Records {
		pr := p.GetRecords()[i]
		if !bytes.Equal(pr.GetRef(), r.Ref[:]) {
			t.Errorf("record %d: ref differs", i)
		}
		if len(pr.GetTokens()) != len(r.Tokens) {
			t.Fatalf("record %d: %d tokens, want %d", i, len(pr.GetTokens()), len(r.Tokens))
		}
		for j, tok := range r.Tokens {
			if pt := pr.GetTokens()[j]; pt.GetKind() != string(tok.Kind) || !bytes.Equal(pt.GetValue(), tok.Value[:]) {
				t.Errorf("record %d token %d differs", i, j)
			}
		}
		if len(pr.GetIndicators()) != len(r.Indicators) {
			t.Errorf("record %d: %d indicators, want %d", i, len(pr.GetIndicators()), len(r.Indicators))
		}
		for n, v := range r.Indicators {
			if got, ok := pr.GetIndicators()[n]; !ok || got != v {
				t.Errorf("record %d indicator %s = %v, want %v", i, n, got, v)
			}
		}
	}
	// The wire form does not alias the batch's arrays in a way that lets a
	// later change to the batch alter what was converted.
	before := append([]byte(nil), p.GetRecords()[0].GetTokens()[0].GetValue()...)
	b.Records[0].Tokens[0].Value[0] ^= 0xff
	if !bytes.Equal(before, p.GetRecords()[0].GetTokens()[0].GetValue()) {
		t.Error("converted batch changed with the batch")
	}
}

// TestMatcherSinkAuditReceipts checks that the sink keeps one verified
// audit receipt per batch, and refuses receipts that do not verify
// against the key it was given.
func TestMatcherSinkAuditReceipts(t *testing.T) {
	k := newKeys(t)
	other, err := audit.GenerateSigningKey("matcher.agency.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		wrong   bool // verify against another key
		wantErr bool
	}{
		{"right key", false, false},
		{"another key", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _, vkey := matcherConnAudit(t, k.Context)
			if tc.wrong {
				vkey = other.VerifierKey()
			}
			v, err := audit.NewVerifier(vkey)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			ctx, cancel := asParty("housing")
			defer cancel()
			sink, err := NewMatcherSink(ctx, conn, SinkConfig{Source: "housing", ReceiptsDir: dir, AuditVerifier: v})
			if err != nil {
				t.Fatal(err)
			}
			tee := &teeSink{Sink: sink}
			_, err = Run(ctx, Config{Mapping: loadMapping(t, runMapping), Extract: runExtract, AsOf: runAsOf, Keys: k, BatchSize: 2}, openVault(t), tee)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Run: %v, want error %v", err, tc.wantErr)
			}
			rs, names, err := audit.LoadReceipts(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr {
				if len(rs) != 0 {
					t.Fatalf("kept %d receipts that do not verify", len(rs))
				}
				return
			}
			if len(rs) != len(tee.sent) {
				t.Fatalf("kept %d receipts for %d batches", len(rs), len(tee.sent))
			}
			for i, r := range rs {
				if err := audit.VerifyReceipt(r, v); err != nil {
					t.Errorf("%s: %v", names[i], err)
				}
				e, err := audit.DecodeEntry(r.Entry)
				if err != nil || e.Party != "housing" || names[i] != ReceiptFileName(e.BatchID) {
					t.Errorf("%s: entry %+v (%v)", names[i], e, err)
				}
			}
		})
	}
}

func TestReceiptFileName(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"run-000001", "run-000001.json"},
		{"a.b_c", "a.b_c.json"},
		{"../etc/passwd", "_._etc_passwd.json"},
		{".hidden", "_hidden.json"},
		{"naïve", "na__ve.json"},
	} {
		if got := ReceiptFileName(tc.id); got != tc.want {
			t.Errorf("ReceiptFileName(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}
