// Package auditrpc serves an audit log to auditors over gRPC (the Audit
// service of tfmatch.v1) and fetches one as an auditor. The matcher serves
// its log with it, and an agency node its local log. The service only
// reads: entries, checkpoints, inclusion and consistency proofs. It is the
// network edge of package audit; no protobuf type goes further in.
package auditrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	pb "tfmatch/proto/tfmatch/v1"
)

// DefaultMaxResponseBytes bounds the entries of one ListEntries answer.
const DefaultMaxResponseBytes = 4 << 20

// Server serves a log to the parties with the auditor role, and records
// every refused call in the log it serves.
type Server struct {
	pb.UnimplementedAuditServer
	// Log is the log served (required).
	Log *audit.Log
	// Auditors lists the party ids that may read the log.
	Auditors []string
	// Party returns the authenticated caller of ctx (required).
	Party func(ctx context.Context) (string, error)
	// Logger receives refusals and failures (nil: discard).
	Logger *slog.Logger
	// MaxResponseBytes bounds the entries of one ListEntries answer;
	// zero means DefaultMaxResponseBytes. One entry is always sent.
	MaxResponseBytes int
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// refuse records a refusal of action to party in the log and returns st.
func (s *Server) refuse(ctx context.Context, party, action string, st error) error {
	if party == "" {
		party = "(unauthenticated)"
	}
	e := audit.Entry{Kind: audit.KindRefusal, Party: party, Refusal: audit.Refusal{
		Action: action, Code: status.Code(st).String(), Reason: status.Convert(st).Message(),
	}}
	// A refusal is recorded even when the caller has gone away.
	if _, err := s.Log.Append(context.WithoutCancel(ctx), e); err != nil {
		s.logger().Error("audit: recording a refusal failed", "action", action, "err", err)
	}
	return st
}

// authorize returns the caller if it is an auditor.
func (s *Server) authorize(ctx context.Context, action string) (string, error) {
	party, err := s.Party(ctx)
	if err != nil {
		return "", s.refuse(ctx, "", action, status.Error(codes.Unauthenticated, "no verified client certificate"))
	}
	if !slices.Contains(s.Auditors, party) {
		s.logger().Warn("refused", "party", party, "action", action, "reason", "role")
		return "", s.refuse(ctx, party, action, status.Errorf(codes.PermissionDenied, "party %q may not read the audit log", party))
	}
	return party, nil
}

// errStatus maps a log error to a status; detail stays in the server log.
func (s *Server) errStatus(ctx context.Context, party, action string, err error) error {
	switch {
	case errors.Is(err, audit.ErrInvalid):
		return s.refuse(ctx, party, action, status.Error(codes.InvalidArgument, err.Error()))
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, action+": canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, action+": deadline exceeded")
	}
	s.logger().Error("audit: "+action+" failed", "err", err)
	return s.refuse(ctx, party, action, status.Errorf(codes.Internal, "%s failed; see the server's log", action))
}

// ListEntries returns encoded entries from req.From, up to req.To (0: the
// end of the log) or the response size bound.
func (s *Server) ListEntries(ctx context.Context, req *pb.ListEntriesRequest) (*pb.ListEntriesResponse, error) {
	const action = "ListEntries"
	party, err := s.authorize(ctx, action)
	if err != nil {
		return nil, err
	}
	size := s.Log.Size()
	from, to := req.GetFrom(), req.GetTo()
	if to == 0 {
		to = size
	}
	if from > to || to > size {
		return nil, s.refuse(ctx, party, action, status.Errorf(codes.InvalidArgument, "entries %d to %d: the log has %d entries", from, to, size))
	}
	maxBytes := s.MaxResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	// Read in chunks until the size bound; entries are at most
	// audit.MaxEntrySize each.
	resp := &pb.ListEntriesResponse{Next: from, Size: size}
	total := 0
	for resp.Next < to && (total < maxBytes || len(resp.Entries) == 0) {
		end := min(to, resp.Next+256)
		entries, err := s.Log.Entries(ctx, resp.Next, end)
		if err != nil {
			return nil, s.errStatus(ctx, party, action, err)
		}
		for _, e := range entries {
			if total+len(e) > maxBytes && len(resp.Entries) > 0 {
				return resp, nil
			}
			resp.Entries = append(resp.Entries, e)
			total += len(e)
			resp.Next++
		}
	}
	return resp, nil
}

// GetCheckpoints returns every checkpoint, publishing one first if the
// newest does not cover every entry.
func (s *Server) GetCheckpoints(ctx context.Context, _ *pb.GetCheckpointsRequest) (*pb.GetCheckpointsResponse, error) {
	const action = "GetCheckpoints"
	party, err := s.authorize(ctx, action)
	if err != nil {
		return nil, err
	}
	if _, err := s.Log.Checkpoint(ctx); err != nil {
		return nil, s.errStatus(ctx, party, action, err)
	}
	cps, err := s.Log.Checkpoints(ctx)
	if err != nil {
		return nil, s.errStatus(ctx, party, action, err)
	}
	return &pb.GetCheckpointsResponse{Checkpoints: cps}, nil
}

// GetInclusionProof proves entry req.Index is in the tree of req.Size.
func (s *Server) GetInclusionProof(ctx context.Context, req *pb.GetInclusionProofRequest) (*pb.ProofResponse, error) {
	const action = "GetInclusionProof"
	party, err := s.authorize(ctx, action)
	if err != nil {
		return nil, err
	}
	p, err := s.Log.InclusionProof(req.GetIndex(), req.GetSize())
	if err != nil {
		return nil, s.errStatus(ctx, party, action, err)
	}
	return &pb.ProofResponse{Hashes: p}, nil
}

// GetConsistencyProof proves the tree of req.OldSize is a prefix of the
// tree of req.NewSize.
func (s *Server) GetConsistencyProof(ctx context.Context, req *pb.GetConsistencyProofRequest) (*pb.ProofResponse, error) {
	const action = "GetConsistencyProof"
	party, err := s.authorize(ctx, action)
	if err != nil {
		return nil, err
	}
	p, err := s.Log.ConsistencyProof(req.GetOldSize(), req.GetNewSize())
	if err != nil {
		return nil, s.errStatus(ctx, party, action, err)
	}
	return &pb.ProofResponse{Hashes: p}, nil
}

// Fetch reads a whole log as an auditor: every checkpoint, then every
// entry the newest checkpoint covers (entries appended meanwhile are left
// for the next fetch, so every entry fetched is covered). vkey is the log's
// verifier key from a trusted source; it goes into the evidence as is.
// Fetch checks only the form of what it gets: audit.Verify checks the
// content.
func Fetch(ctx context.Context, c pb.AuditClient, vkey string) (audit.Evidence, error) {
	ev := audit.Evidence{VerifierKey: vkey}
	cr, err := c.GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
	if err != nil {
		return audit.Evidence{}, fmt.Errorf("fetching checkpoints: %w", err)
	}
	ev.Checkpoints = cr.GetCheckpoints()
	if len(ev.Checkpoints) == 0 {
		return audit.Evidence{}, errors.New("fetching checkpoints: the log sent none")
	}
	last := ev.Checkpoints[len(ev.Checkpoints)-1]
	// The text of a signed note ends at the blank line before the
	// signatures.
	text := last
	if i := bytes.LastIndex(last, []byte("\n\n")); i >= 0 {
		text = last[:i+1]
	}
	cp, err := audit.ParseCheckpoint(text)
	if err != nil {
		return audit.Evidence{}, fmt.Errorf("newest checkpoint: %w", err)
	}
	for next := uint64(0); next < cp.Size; {
		r, err := c.ListEntries(ctx, &pb.ListEntriesRequest{From: next, To: cp.Size})
		if err != nil {
			return audit.Evidence{}, fmt.Errorf("fetching entries from %d: %w", next, err)
		}
		if r.GetNext() != next+uint64(len(r.GetEntries())) || len(r.GetEntries()) == 0 {
			return audit.Evidence{}, fmt.Errorf("fetching entries from %d: the log answered entries up to %d with %d entries", next, r.GetNext(), len(r.GetEntries()))
		}
		ev.Entries = append(ev.Entries, r.GetEntries()...)
		next = r.GetNext()
	}
	return ev, nil
}
