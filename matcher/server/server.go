// Package server is the matcher's gRPC edge: it authenticates each caller
// by its client certificate, checks the caller's role, converts wire
// messages to domain types at once and maps domain errors to gRPC status
// codes in one place. No protobuf type goes further in than this package.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"tfmatch/matcher"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// Roles names the parties allowed each role.
type Roles struct {
	Agencies []string
	Leads    []string
}

// Config configures a Server.
type Config struct {
	Store    *store.Store
	Ingester *ingest.Ingester
	Rules    *rules.RuleSet
	Linkage  linkage.Config
	Roles    Roles
	// Party returns the authenticated caller of ctx.
	Party  func(ctx context.Context) (string, error)
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server implements the Submission and Lead services.
type Server struct {
	pb.UnimplementedSubmissionServer
	pb.UnimplementedLeadServer
	cfg   Config
	runMu sync.Mutex
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg}
}

// authorize returns the caller's party id if it holds one of the allowed
// parties, and a status error otherwise.
func (s *Server) authorize(ctx context.Context, action string, allowed []string) (string, error) {
	party, err := s.cfg.Party(ctx)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	if !slices.Contains(allowed, party) {
		s.cfg.Logger.Warn("refused", "party", party, "action", action, "reason", "role")
		return "", status.Errorf(codes.PermissionDenied, "party %q may not %s", party, action)
	}
	return party, nil
}

// errStatus maps a domain error to a status the caller can act on. Detail
// that could carry data stays in the server log.
func (s *Server) errStatus(op string, err error) error {
	switch {
	case errors.Is(err, ingest.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ingest.ErrWrongAgreement):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrNoRun):
		return status.Error(codes.NotFound, "no link run yet: start one with StartLinkRun")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, op+": canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, op+": deadline exceeded")
	}
	s.cfg.Logger.Error(op+" failed", "err", err)
	return status.Errorf(codes.Internal, "%s failed; see the matcher's log", op)
}

// Submit receives batches from an agency and answers each with a receipt.
func (s *Server) Submit(stream pb.Submission_SubmitServer) error {
	ctx := stream.Context()
	party, err := s.authorize(ctx, "submit records", s.cfg.Roles.Agencies)
	if err != nil {
		return err
	}
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b := batchFromProto(party, in)
		res, err := s.cfg.Ingester.Accept(ctx, b)
		if err != nil {
			s.cfg.Logger.Warn("batch refused", "party", party, "batch", in.GetBatchId(), "err", err)
			return s.errStatus("submit", err)
		}
		s.cfg.Logger.Info("batch stored", "party", party, "batch", res.BatchID, "records", res.Records, "duplicate", res.Duplicate)
		if err := stream.Send(&pb.Receipt{
			BatchId:   res.BatchID,
			Records:   uint32(res.Records),
			Duplicate: res.Duplicate,
			Digest:    res.Digest[:],
			Received:  timestamppb.New(s.cfg.Now()),
		}); err != nil {
			return err
		}
	}
}

func batchFromProto(party string, in *pb.Batch) ingest.Batch {
	b := ingest.Batch{
		Source:  party,
		ID:      in.GetBatchId(),
		ISAHash: in.GetIsaHash(),
		Epoch:   in.GetKeyEpoch(),
		Records: make([]ingest.Record, len(in.GetRecords())),
	}
	for i, r := range in.GetRecords() {
		rec := ingest.Record{Ref: r.GetRef(), Tokens: make([]ingest.Token, len(r.GetTokens())), Indicators: r.GetIndicators(), Filter: r.GetFilter()}
		for j, t := range r.GetTokens() {
			rec.Tokens[j] = ingest.Token{Kind: matchkey.Kind(t.GetKind()), Value: t.GetValue()}
		}
		b.Records[i] = rec
	}
	return b
}

// StartLinkRun links every stored record and evaluates the rules.
func (s *Server) StartLinkRun(ctx context.Context, req *pb.StartLinkRunRequest) (*pb.LinkRun, error) {
	party, err := s.authorize(ctx, "start link runs", s.cfg.Roles.Leads)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == "" {
		return nil, status.Error(codes.InvalidArgument, "purpose is required: say why this link run is made")
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	run, err := matcher.LinkRun(ctx, s.cfg.Store, s.cfg.Rules, s.cfg.Linkage, s.cfg.Now())
	if err != nil {
		return nil, s.errStatus("link run", err)
	}
	s.cfg.Logger.Info("link run finished", "party", party, "run", run.ID, "records", run.Records,
		"persons", run.Persons, "households", run.Households, "flagged", len(run.Flagged), "purpose", req.GetPurpose())
	return runToProto(run), nil
}

// ListFlaggedHouseholds lists the households a run flagged.
func (s *Server) ListFlaggedHouseholds(ctx context.Context, req *pb.ListFlaggedHouseholdsRequest) (*pb.ListFlaggedHouseholdsResponse, error) {
	party, err := s.authorize(ctx, "read results", s.cfg.Roles.Leads)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == "" {
		return nil, status.Error(codes.InvalidArgument, "purpose is required: say why the results are read")
	}
	var run store.Run
	if req.GetRunId() == "" {
		run, err = s.cfg.Store.LatestRun(ctx)
	} else {
		run, err = s.cfg.Store.Run(ctx, req.GetRunId())
	}
	if err != nil {
		return nil, s.errStatus("list flagged households", err)
	}
	s.cfg.Logger.Info("results read", "party", party, "run", run.ID, "purpose", req.GetPurpose())
	resp := &pb.ListFlaggedHouseholdsResponse{Run: runToProto(run)}
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

func runToProto(r store.Run) *pb.LinkRun {
	out := &pb.LinkRun{
		RunId:          r.ID,
		Started:        timestamppb.New(r.Started),
		Finished:       timestamppb.New(r.Finished),
		RuleSetVersion: r.RuleSetVersion,
		Records:        uint64(r.Records),
		Persons:        uint64(r.Persons),
		Households:     uint64(r.Households),
		Flagged:        uint64(len(r.Flagged)),
		LinksByKind:    map[string]uint64{},
	}
	for k, n := range r.LinksByKind {
		out.LinksByKind[string(k)] = uint64(n)
	}
	for _, it := range r.Review {
		out.Review = append(out.Review, &pb.ReviewItem{Kind: string(it.Kind), Reason: it.Reason, Persons: uint64(it.Persons)})
	}
	return out
}
