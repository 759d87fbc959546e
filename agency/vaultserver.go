package agency

import (
	"context"
	"log/slog"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/keys"
	pb "tfmatch/proto/tfmatch/v1"
)

// maxResolve bounds one Resolve request.
const maxResolve = 10000

// VaultServer serves the vault to the parties allowed to re-identify the
// agency's own records (the programme lead). Every re-identification and
// every refusal is recorded in the node's own audit log, which the node
// serves to auditors (the matcher never sees a re-identification).
type VaultServer struct {
	pb.UnimplementedVaultServer
	Vault *Vault
	// Source is this agency's party id, recorded as the counterparty of
	// each re-identification.
	Source string
	// Audit is the node's audit log. Without one every request is
	// refused: no re-identification goes unrecorded.
	Audit *audit.Log
	// Allowed lists the party ids that may resolve references.
	Allowed []string
	// Party returns the authenticated caller of ctx.
	Party func(ctx context.Context) (string, error)
	// Logger receives refusals and resolutions (nil: discard).
	Logger *slog.Logger
}

// resolveAction names Resolve in refusal entries.
const resolveAction = "Resolve"

// refuse records the refusal st of a Resolve by party and returns st.
func (s *VaultServer) refuse(ctx context.Context, logger *slog.Logger, party string, st error) error {
	if s.Audit == nil {
		return st
	}
	if party == "" {
		party = "(unauthenticated)"
	}
	e := audit.Entry{Kind: audit.KindRefusal, Party: party, Counterparty: s.Source, Refusal: audit.Refusal{
		Action: resolveAction, Code: status.Code(st).String(), Reason: status.Convert(st).Message(),
	}}
	if _, err := s.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		logger.Error("audit: recording a refusal failed", "err", err)
	}
	return st
}

// Resolve returns the agency's own records for the given references.
func (s *VaultServer) Resolve(ctx context.Context, req *pb.ResolveRequest) (*pb.ResolveResponse, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if s.Audit == nil {
		logger.Error("refused resolve: the node has no audit log")
		return nil, status.Error(codes.FailedPrecondition, "this node keeps no audit log; re-identification is refused")
	}
	party, err := s.Party(ctx)
	if err != nil {
		return nil, s.refuse(ctx, logger, "", status.Error(codes.Unauthenticated, "no verified client certificate"))
	}
	if !slices.Contains(s.Allowed, party) {
		logger.Warn("refused resolve", "party", party, "reason", "role")
		return nil, s.refuse(ctx, logger, party, status.Errorf(codes.PermissionDenied, "party %q may not resolve references on this node", party))
	}
	if req.GetPurpose() == "" {
		return nil, s.refuse(ctx, logger, party, status.Error(codes.InvalidArgument, "purpose is required: say why these people are being re-identified"))
	}
	if n := len(req.GetRefs()); n > maxResolve {
		return nil, s.refuse(ctx, logger, party, status.Errorf(codes.InvalidArgument, "%d references in one request; at most %d", n, maxResolve))
	}
	refs := make([]keys.Ref, len(req.GetRefs()))
	for i, b := range req.GetRefs() {
		if len(b) != len(keys.Ref{}) {
			return nil, s.refuse(ctx, logger, party, status.Errorf(codes.InvalidArgument, "reference %d is %d bytes, want %d", i, len(b), len(keys.Ref{})))
		}
		copy(refs[i][:], b)
	}
	found, unknown, err := s.Vault.Resolve(ctx, refs)
	if err != nil {
		logger.Error("resolve failed", "err", err)
		return nil, s.refuse(ctx, logger, party, status.Error(codes.Internal, "vault read failed; see the agency node's log"))
	}
	// Recorded before anyone is revealed.
	_, err = s.Audit.Append(ctx, audit.Entry{
		Kind: audit.KindReidentification, Party: party, Counterparty: s.Source,
		Purpose: req.GetPurpose(), RecordCount: uint64(len(found)),
	})
	if err != nil {
		logger.Error("audit: recording a re-identification failed", "err", err)
		return nil, status.Error(codes.Internal, "recording the re-identification failed; see the agency node's log")
	}
	resp := &pb.ResolveResponse{}
	for _, ref := range refs {
		p, ok := found[ref]
		if !ok {
			continue
		}
		resp.People = append(resp.People, &pb.Person{
			Ref: append([]byte(nil), ref[:]...), RecordId: p.RecordID, GivenName: p.GivenName,
			FamilyName: p.FamilyName, Dob: p.DOB, Address: p.Address, Postcode: p.Postcode,
		})
	}
	for _, ref := range unknown {
		resp.Unknown = append(resp.Unknown, append([]byte(nil), ref[:]...))
	}
	logger.Info("resolved references", "party", party, "requested", len(refs), "found", len(found), "purpose", req.GetPurpose())
	return resp, nil
}
