// Package server is the matcher's gRPC edge: it authenticates each caller
// by its client certificate, checks every call and batch against the
// signed information-sharing agreement (the caller's role, the indicators
// it may send, the agreement's dates), converts wire
// messages to domain types at once and maps domain errors to gRPC status
// codes in one place. It records every accepted batch, link run, query,
// key rotation, purge and refusal in the audit log, and answers each batch
// with the audit receipt of its entry. It also runs the matcher's side of
// a key rotation (CutOver, PurgeEpoch) and of retention (Sweep), and
// applies the agreement's small-number rule to every aggregate count it
// reports. No protobuf type goes further in than this package.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"tfmatch/audit"
	"tfmatch/audit/auditrpc"
	"tfmatch/isa"
	"tfmatch/matcher"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	pb "tfmatch/proto/tfmatch/v1"
)

// Config configures a Server. Store, Ingester, Rules, Policy, Party and
// Audit are required; other zero fields mean defaults.
type Config struct {
	Store    *store.Store
	Ingester *ingest.Ingester
	Rules    *rules.RuleSet
	Linkage  linkage.Config
	// Policy is the signed agreement in force: the role of every party,
	// the indicators each agency may send and the dates it is in force.
	Policy *isa.Policy
	// Audit is the audit log every accepted batch, link run, query and
	// refusal is recorded in.
	Audit *audit.Log
	// Party returns the authenticated caller of ctx: in production
	// Policy.PartyFromContext, which checks the client certificate against
	// the party's entry in the agreement.
	Party  func(ctx context.Context) (string, error)
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// EpochPurged, if set, is called after a key epoch's data has been
	// purged and the purge recorded: the matcher deletes the epoch's
	// blinding key there.
	EpochPurged func(epoch uint32) error
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("server: config: no store")
	case c.Ingester == nil:
		return errors.New("server: config: no ingester")
	case c.Rules == nil:
		return errors.New("server: config: no rules")
	case c.Audit == nil:
		return errors.New("server: config: no audit log")
	case c.Party == nil:
		return errors.New("server: config: no party function")
	case c.Policy == nil:
		return errors.New("server: config: no agreement policy")
	case c.Ingester.Store != c.Store:
		return errors.New("server: config: the ingester writes to another store")
	}
	return nil
}

// Server implements the Submission and Lead services, and gives the Audit
// service (AuditServer).
type Server struct {
	pb.UnimplementedSubmissionServer
	pb.UnimplementedLeadServer
	cfg   Config
	runMu sync.Mutex
	// auditMu serialises the lookup and recording of submission
	// entries, so that a batch has one entry however often it is sent.
	auditMu sync.Mutex
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg}, nil
}

// AuditServer returns the Audit service over the server's audit log, for
// the parties with the auditor role.
func (s *Server) AuditServer() pb.AuditServer {
	auditors := s.cfg.Policy.Agreement().PartiesWithRole(isa.RoleAuditor)
	return &auditrpc.Server{Log: s.cfg.Audit, Auditors: auditors, Party: s.party, Logger: s.cfg.Logger}
}

// party returns the authenticated caller of ctx, which must be a party to
// the agreement.
func (s *Server) party(ctx context.Context) (string, error) {
	party, err := s.cfg.Party(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := s.cfg.Policy.RoleOf(party); !ok {
		return "", fmt.Errorf("%w: %q", isa.ErrUnknownParty, party)
	}
	return party, nil
}

// Actions, as recorded in refusal entries: the method refused.
const (
	actionSubmit = "Submit"
	actionLink   = "StartLinkRun"
	actionList   = "ListFlaggedHouseholds"
	actionPurge  = "PurgeEpoch"
)

// authorize returns the caller's party id if the agreement lets it do
// act now, and records and returns a refusal otherwise: a caller that is
// no party is Unauthenticated, a party outside its role PermissionDenied,
// and any call outside the agreement's dates FailedPrecondition. action
// names the method, for the audit log.
func (s *Server) authorize(ctx context.Context, action string, act isa.Action) (string, error) {
	party, err := s.party(ctx)
	if err != nil {
		s.cfg.Logger.Warn("refused", "action", action, "reason", "identity", "err", err)
		return "", s.refuse(ctx, "", action, status.Error(codes.Unauthenticated, "no verified client certificate of a party to the agreement"))
	}
	if err := s.cfg.Policy.MayDo(party, act); err != nil {
		s.cfg.Logger.Warn("refused", "party", party, "action", action, "err", err)
		return "", s.errStatus(ctx, party, action, err)
	}
	return party, nil
}

// refuse records that action was refused to party with the status st, and
// returns st. The reason recorded is st's message, which is written for
// the caller and so carries no record data.
func (s *Server) refuse(ctx context.Context, party, action string, st error) error {
	if party == "" {
		party = "(unauthenticated)"
	}
	e := audit.Entry{Kind: audit.KindRefusal, Time: s.cfg.Now(), Party: party, Refusal: audit.Refusal{
		Action: action, Code: status.Code(st).String(), Reason: status.Convert(st).Message(),
	}}
	// Recorded even when the caller has gone away.
	if _, err := s.cfg.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		s.cfg.Logger.Error("audit: recording a refusal failed", "action", action, "err", err)
	}
	return st
}

// errStatus maps a domain error to a status the caller can act on, and
// records the refusal. Detail that could carry data stays in the server
// log. A call the caller cancelled or let expire is not a refusal.
func (s *Server) errStatus(ctx context.Context, party, action string, err error) error {
	var notAllowed *isa.ErrIndicatorNotAllowed
	switch {
	case errors.Is(err, isa.ErrUnknownParty):
		return s.refuse(ctx, party, action, status.Error(codes.Unauthenticated, "no verified client certificate of a party to the agreement"))
	case errors.Is(err, isa.ErrWrongRole):
		return s.refuse(ctx, party, action, status.Error(codes.PermissionDenied, err.Error()))
	case errors.As(err, &notAllowed):
		return s.refuse(ctx, party, action, status.Error(codes.InvalidArgument, notAllowed.Error()))
	case errors.Is(err, isa.ErrNotYetValid), errors.Is(err, isa.ErrExpired):
		return s.refuse(ctx, party, action, status.Error(codes.FailedPrecondition, err.Error()))
	case errors.Is(err, ingest.ErrInvalid):
		return s.refuse(ctx, party, action, status.Error(codes.InvalidArgument, err.Error()))
	case errors.Is(err, ingest.ErrWrongAgreement):
		return s.refuse(ctx, party, action, status.Error(codes.FailedPrecondition, err.Error()))
	case errors.Is(err, store.ErrNoRun):
		return s.refuse(ctx, party, action, status.Error(codes.NotFound, "no link run yet: start one with StartLinkRun"))
	case errors.Is(err, errNoPurpose), errors.Is(err, errNoEpoch):
		return s.refuse(ctx, party, action, status.Error(codes.InvalidArgument, err.Error()))
	case errors.Is(err, store.ErrEpochInForce):
		return s.refuse(ctx, party, action, status.Errorf(codes.FailedPrecondition,
			"key epoch %d is in force and cannot be purged: purge only an epoch the matcher no longer serves", s.cfg.Store.Epoch()))
	case errors.Is(err, store.ErrNoEpoch):
		return s.refuse(ctx, party, action, status.Error(codes.NotFound, "the matcher holds nothing of that key epoch (see PurgeEpoch with dry_run for what it holds)"))
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, action+": canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, action+": deadline exceeded")
	}
	s.cfg.Logger.Error(action+" failed", "err", err)
	return s.refuse(ctx, party, action, status.Errorf(codes.Internal, "%s failed; see the matcher's log", action))
}

// errNoPurpose is wrapped by the refusal of a call that states no purpose.
var errNoPurpose = errors.New("purpose is required")

// Submit receives batches from an agency and answers each with a
// receipt. Each batch is decoded from its wire bytes (batchDecoder), which
// the server's Codec hands over undecoded; the slices of a decoded batch
// point into those bytes until the batch has been handled.
func (s *Server) Submit(stream pb.Submission_SubmitServer) error {
	ctx := stream.Context()
	party, err := s.authorize(ctx, actionSubmit, isa.ActionSubmit)
	if err != nil {
		return err
	}
	dec := newBatchDecoder()
	for {
		var w wireBatch
		err := stream.RecvMsg(&w)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := dec.decode(party, w.buf.ReadOnlyData())
		if err != nil {
			w.buf.Free()
			err = fmt.Errorf("%w: %w", ingest.ErrInvalid, err)
			s.cfg.Logger.Warn("batch refused", "party", party, "err", err)
			return s.errStatus(ctx, party, actionSubmit, err)
		}
		err = s.handleBatch(ctx, party, b, stream.Send)
		w.buf.Free()
		if err != nil {
			return err
		}
	}
}

// handleBatch checks, stores and answers one batch.
func (s *Server) handleBatch(ctx context.Context, party string, b ingest.Batch, send func(*pb.Receipt) error) error {
	// The agreement is checked again for every batch, before anything
	// is stored: it may have ended since the stream opened, and each
	// batch may name only the indicators this agency may share.
	if err := s.cfg.Policy.Active(); err != nil {
		return s.errStatus(ctx, party, actionSubmit, err)
	}
	if err := s.cfg.Policy.CheckIndicators(party, indicatorNames(b)); err != nil {
		s.cfg.Logger.Warn("batch refused", "party", party, "batch", b.ID, "err", err)
		return s.errStatus(ctx, party, actionSubmit, err)
	}
	res, err := s.cfg.Ingester.Accept(ctx, b)
	if err != nil {
		s.cfg.Logger.Warn("batch refused", "party", party, "batch", b.ID, "err", err)
		return s.errStatus(ctx, party, actionSubmit, err)
	}
	rc, err := s.submissionReceipt(ctx, b, res)
	if err != nil {
		return s.errStatus(ctx, party, actionSubmit, err)
	}
	s.cfg.Logger.Info("batch stored", "party", party, "batch", res.BatchID, "records", res.Records, "duplicate", res.Duplicate, "log_index", rc.Index)
	return send(&pb.Receipt{
		BatchId:        res.BatchID,
		Records:        uint32(res.Records),
		Duplicate:      res.Duplicate,
		Digest:         res.Digest[:],
		Received:       timestamppb.New(s.cfg.Now()),
		Checkpoint:     rc.Checkpoint,
		LogIndex:       rc.Index,
		InclusionProof: rc.Proof,
		LogEntry:       rc.Entry,
	})
}

// submissionReceipt returns the audit receipt of a stored batch: that of
// its recorded entry when it has one (a batch sent again), else of a new
// submission entry. A batch stored before its entry was recorded (the
// matcher stopped in between) gets its entry when it is sent again; its
// indicator counts are then those of the batch as sent again.
func (s *Server) submissionReceipt(ctx context.Context, b ingest.Batch, res store.BatchResult) (audit.Receipt, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	index, ok, err := s.cfg.Store.BatchLogIndex(ctx, b.Source, res.BatchID)
	if err != nil {
		return audit.Receipt{}, err
	}
	if ok {
		return s.cfg.Audit.Receipt(ctx, index)
	}
	e := audit.Entry{
		Kind:            audit.KindSubmission,
		Time:            s.cfg.Now(),
		Party:           b.Source,
		KeyEpoch:        b.Epoch,
		BatchID:         res.BatchID,
		BatchDigest:     res.Digest,
		RecordCount:     uint64(res.Records),
		IndicatorCounts: indicatorCounts(b),
	}
	copy(e.ISAHash[:], b.ISAHash)
	rc, err := s.cfg.Audit.AppendWithReceipt(ctx, e)
	if err != nil {
		return audit.Receipt{}, err
	}
	if err := s.cfg.Store.SetBatchLogIndex(ctx, b.Source, res.BatchID, rc.Index); err != nil {
		return audit.Receipt{}, err
	}
	return rc, nil
}

// indicatorNames returns the indicators named anywhere in the batch,
// sorted, so that a refusal always names the same one.
func indicatorNames(b ingest.Batch) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range b.Records {
		for name := range r.Indicators {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// indicatorCounts counts, per indicator named in the batch, the records
// for which it is true.
func indicatorCounts(b ingest.Batch) map[string]uint64 {
	counts := map[string]uint64{}
	for _, r := range b.Records {
		for name, v := range r.Indicators {
			if v {
				counts[name]++
			} else if _, ok := counts[name]; !ok {
				counts[name] = 0
			}
		}
	}
	return counts
}

// StartLinkRun links every stored record and evaluates the rules.
func (s *Server) StartLinkRun(ctx context.Context, req *pb.StartLinkRunRequest) (*pb.LinkRun, error) {
	party, err := s.authorize(ctx, actionLink, isa.ActionStartRun)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == "" {
		return nil, s.errStatus(ctx, party, actionLink, fmt.Errorf("%w: say why this link run is made", errNoPurpose))
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	run, err := matcher.LinkRun(ctx, s.cfg.Store, s.cfg.Rules, s.cfg.Linkage, s.cfg.Now())
	if err != nil {
		return nil, s.errStatus(ctx, party, actionLink, err)
	}
	_, err = s.cfg.Audit.Append(ctx, audit.Entry{
		Kind: audit.KindLinkRun, Time: s.cfg.Now(), Party: party, RunID: run.ID, RuleSet: run.RuleSetVersion,
		Purpose: req.GetPurpose(), RecordCount: uint64(run.Records),
		Counts: map[string]uint64{"persons": uint64(run.Persons), "households": uint64(run.Households), "flagged": uint64(len(run.Flagged))},
	})
	if err != nil {
		return nil, s.errStatus(ctx, party, actionLink, fmt.Errorf("recording link run %s: %w", run.ID, err))
	}
	s.cfg.Logger.Info("link run finished", "party", party, "run", run.ID, "epoch", run.Epoch, "records", run.Records,
		"persons", run.Persons, "households", run.Households, "flagged", len(run.Flagged), "purpose", req.GetPurpose())
	return s.runToProto(run), nil
}

// ListFlaggedHouseholds lists the households a run flagged.
func (s *Server) ListFlaggedHouseholds(ctx context.Context, req *pb.ListFlaggedHouseholdsRequest) (*pb.ListFlaggedHouseholdsResponse, error) {
	party, err := s.authorize(ctx, actionList, isa.ActionReadResults)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == "" {
		return nil, s.errStatus(ctx, party, actionList, fmt.Errorf("%w: say why the results are read", errNoPurpose))
	}
	var run store.Run
	if req.GetRunId() == "" {
		run, err = s.cfg.Store.LatestRun(ctx)
	} else {
		run, err = s.cfg.Store.Run(ctx, req.GetRunId())
	}
	if err != nil {
		return nil, s.errStatus(ctx, party, actionList, err)
	}
	// Recorded before anything is returned: no read goes unrecorded.
	_, err = s.cfg.Audit.Append(ctx, audit.Entry{
		Kind: audit.KindQuery, Time: s.cfg.Now(), Party: party, RunID: run.ID,
		Purpose: req.GetPurpose(), RecordCount: uint64(len(run.Flagged)),
	})
	if err != nil {
		return nil, s.errStatus(ctx, party, actionList, fmt.Errorf("recording query of run %s: %w", run.ID, err))
	}
	s.cfg.Logger.Info("results read", "party", party, "run", run.ID, "purpose", req.GetPurpose())
	resp := &pb.ListFlaggedHouseholdsResponse{Run: s.runToProto(run)}
	for _, h := range run.Flagged {
		ph := &pb.FlaggedHousehold{HouseholdId: h.ID, Rule: h.Rule, Criteria: h.Criteria}
		sources := make([]string, 0, len(h.Members))
		for src := range h.Members {
			sources = append(sources, src)
		}
		sort.Strings(sources)
		for _, src := range sources {
			am := &pb.AgencyMembers{Agency: src}
			for _, ref := range h.Members[src] {
				am.Refs = append(am.Refs, append([]byte(nil), ref[:]...))
			}
			ph.Members = append(ph.Members, am)
		}
		resp.Households = append(resp.Households, ph)
	}
	return resp, nil
}

// runToProto converts a run's summary, withholding its small counts (see
// the Lead service).
func (s *Server) runToProto(r store.Run) *pb.LinkRun {
	t := s.cfg.Policy.SmallNumberThreshold()
	out := &pb.LinkRun{
		RunId:                r.ID,
		Started:              timestamppb.New(r.Started),
		Finished:             timestamppb.New(r.Finished),
		RuleSetVersion:       r.RuleSetVersion,
		KeyEpoch:             r.Epoch,
		LinksByKind:          map[string]uint64{},
		FlaggedByRule:        map[string]uint64{},
		SmallNumberThreshold: uint32(t),
	}
	count := func(name string, n int) uint64 {
		v, withheld := isa.Suppress(uint64(n), t)
		if withheld {
			out.Suppressed = append(out.Suppressed, name)
		}
		return v
	}
	out.Records = count("records", r.Records)
	out.Persons = count("persons", r.Persons)
	out.Households = count("households", r.Households)
	out.Flagged = count("flagged", len(r.Flagged))
	byRule := map[string]int{}
	for _, h := range r.Flagged {
		byRule[h.Rule]++
	}
	for _, rule := range sortedKeys(byRule) {
		out.FlaggedByRule[rule] = count("flagged_by_rule/"+rule, byRule[rule])
	}
	kinds := map[string]int{}
	for k, n := range r.LinksByKind {
		kinds[string(k)] = n
	}
	for _, k := range sortedKeys(kinds) {
		out.LinksByKind[k] = count("links_by_kind/"+k, kinds[k])
	}
	for _, it := range r.Review {
		out.Review = append(out.Review, &pb.ReviewItem{Kind: string(it.Kind), Reason: it.Reason, Persons: uint64(it.Persons)})
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
