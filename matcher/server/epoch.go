package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"tfmatch/audit"
	"tfmatch/isa"
	"tfmatch/matcher/store"
	pb "tfmatch/proto/tfmatch/v1"
)

// errNoEpoch is wrapped by the refusal of a purge that names no epoch.
var errNoEpoch = errors.New("key_epoch is required: the retired key epoch to purge, 1 or more")

// Purposes recorded for the matcher's own key and retention events.
const (
	purposeRotation  = "key rotation: the matcher serves a new key epoch; agencies resubmit under it"
	purposeRetention = "retention period of the agreement ended"
)

// CutOver records, once the matcher starts, the key epoch it serves. A
// store last served under an older epoch means a rotation: the matcher
// records it in the audit log (KindKeyRotation, with the previous epoch
// in Counts["previous_epoch"]) and from then on reads and writes only the
// new epoch; the old epoch's data stays, unread, until PurgeEpoch or its
// expiry. A restart under the same epoch records nothing. Epochs only go
// up: a store last served under a later epoch, or under the same epoch of
// another agreement, is an error saying what to do.
func (s *Server) CutOver(ctx context.Context) (rotated bool, err error) {
	st := s.cfg.Store
	epoch, isaHash := st.Epoch(), s.cfg.Ingester.ISAHash
	last, ok, err := st.InForce(ctx)
	if err != nil {
		return false, err
	}
	switch {
	case ok && last.Epoch == epoch && last.ISAHash == isaHash:
		return false, nil
	case ok && last.Epoch > epoch:
		return false, fmt.Errorf("the store was last served under key epoch %d; epochs only go up: start with -epoch %d (or later, after a new key ceremony)", last.Epoch, last.Epoch)
	case ok && last.Epoch == epoch:
		return false, fmt.Errorf("the store holds key epoch %d of another agreement (hash %x...): a revised agreement needs a new key ceremony with the next epoch; run it with -epoch %d and start the matcher with that epoch",
			epoch, last.ISAHash[:6], epoch+1)
	case ok:
		e := audit.Entry{
			Kind: audit.KindKeyRotation, Time: s.cfg.Now(), Party: s.cfg.Policy.Agreement().Matcher(),
			ISAHash: isaHash, KeyEpoch: epoch, Purpose: purposeRotation,
			Counts: map[string]uint64{"previous_epoch": uint64(last.Epoch)},
		}
		if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
			return false, fmt.Errorf("recording the key rotation: %w", err)
		}
		rotated = true
		s.cfg.Logger.Info("key rotation: now serving a new key epoch", "previous_epoch", last.Epoch, "epoch", epoch)
	}
	if err := st.MarkInForce(ctx, isaHash); err != nil {
		return rotated, err
	}
	return rotated, nil
}

// Sweep deletes everything in the store whose retention period has ended,
// and every link run computed from a record that has expired, and records
// what it deleted in the audit log (KindPurge: counts only). It sweeps by
// the wall clock, which badger's expiry also follows, not by Config.Now.
func (s *Server) Sweep(ctx context.Context) (store.Swept, error) {
	w, err := s.cfg.Store.Sweep(ctx, time.Now())
	if err != nil {
		return w, err
	}
	if w.Total() == 0 {
		return w, nil
	}
	counts := map[string]uint64{"batches": uint64(w.Batches), "runs": uint64(w.Runs)}
	for src, n := range w.RecordsBySource {
		counts["records:"+src] = uint64(n)
	}
	e := audit.Entry{
		Kind: audit.KindPurge, Time: s.cfg.Now(), Party: s.cfg.Policy.Agreement().Matcher(),
		RecordCount: uint64(w.Records), Counts: counts, Purpose: purposeRetention,
	}
	if _, err := s.cfg.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		return w, fmt.Errorf("recording the retention sweep: %w", err)
	}
	s.cfg.Logger.Info("retention sweep", "records", w.Records, "batches", w.Batches, "runs", w.Runs)
	return w, nil
}

// RunSweeper sweeps (see Sweep) every interval until ctx ends. Errors are
// logged, and the next sweep tries again.
func (s *Server) RunSweeper(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("retention sweep failed", "err", err)
			}
		}
	}
}

// PurgeEpoch deletes a retired key epoch's records, batch receipts and
// runs, records the purge (KindPurge, with the epoch and counts) and
// answers with what it deleted and what the store still holds.
func (s *Server) PurgeEpoch(ctx context.Context, req *pb.PurgeEpochRequest) (*pb.PurgeEpochResponse, error) {
	party, err := s.authorize(ctx, actionPurge, isa.ActionPurge)
	if err != nil {
		return nil, err
	}
	if req.GetPurpose() == "" {
		return nil, s.errStatus(ctx, party, actionPurge, fmt.Errorf("%w: say why the epoch is purged", errNoPurpose))
	}
	epoch := req.GetKeyEpoch()
	if req.GetDryRun() {
		held, err := s.cfg.Store.Epochs(ctx)
		if err != nil {
			return nil, s.errStatus(ctx, party, actionPurge, err)
		}
		resp := s.holdingsResponse(held)
		for _, c := range held {
			if c.Epoch == epoch {
				resp.Purged = s.holdings(c)
			}
		}
		return resp, nil
	}
	if epoch == 0 {
		return nil, s.errStatus(ctx, party, actionPurge, errNoEpoch)
	}
	c, err := s.cfg.Store.PurgeEpoch(ctx, epoch)
	if err != nil {
		return nil, s.errStatus(ctx, party, actionPurge, err)
	}
	counts := map[string]uint64{"batches": uint64(c.Batches), "runs": uint64(c.Runs)}
	for src, n := range c.RecordsBySource {
		counts["records:"+src] = uint64(n)
	}
	_, err = s.cfg.Audit.Append(context.WithoutCancel(ctx), audit.Entry{
		Kind: audit.KindPurge, Time: s.cfg.Now(), Party: party, ISAHash: s.cfg.Ingester.ISAHash, KeyEpoch: epoch,
		RecordCount: uint64(c.Records), Counts: counts, Purpose: req.GetPurpose(),
	})
	if err != nil {
		return nil, s.errStatus(ctx, party, actionPurge, fmt.Errorf("key epoch %d purged, but recording the purge failed: %w", epoch, err))
	}
	s.cfg.Logger.Info("key epoch purged", "party", party, "epoch", epoch, "records", c.Records, "batches", c.Batches, "runs", c.Runs, "purpose", req.GetPurpose())
	if s.cfg.EpochPurged != nil {
		if err := s.cfg.EpochPurged(epoch); err != nil {
			return nil, s.errStatus(ctx, party, actionPurge, fmt.Errorf("key epoch %d purged and recorded, but: %w", epoch, err))
		}
	}
	held, err := s.cfg.Store.Epochs(ctx)
	if err != nil {
		return nil, s.errStatus(ctx, party, actionPurge, err)
	}
	resp := s.holdingsResponse(held)
	resp.Purged = s.holdings(c)
	return resp, nil
}

func (s *Server) holdingsResponse(held []store.Counts) *pb.PurgeEpochResponse {
	resp := &pb.PurgeEpochResponse{EpochInForce: s.cfg.Store.Epoch(), SmallNumberThreshold: uint32(s.cfg.Policy.SmallNumberThreshold())}
	for _, c := range held {
		resp.Epochs = append(resp.Epochs, s.holdings(c))
	}
	return resp
}

// holdings converts one epoch's counts, withholding small record counts.
func (s *Server) holdings(c store.Counts) *pb.EpochHoldings {
	t := s.cfg.Policy.SmallNumberThreshold()
	h := &pb.EpochHoldings{KeyEpoch: c.Epoch, Batches: uint64(c.Batches), Runs: uint64(c.Runs), RecordsByAgency: map[string]uint64{}}
	var withheld bool
	if h.Records, withheld = isa.Suppress(uint64(c.Records), t); withheld {
		h.Suppressed = append(h.Suppressed, "records")
	}
	srcs := make([]string, 0, len(c.RecordsBySource))
	for src := range c.RecordsBySource {
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	for _, src := range srcs {
		if h.RecordsByAgency[src], withheld = isa.Suppress(uint64(c.RecordsBySource[src]), t); withheld {
			h.Suppressed = append(h.Suppressed, "records_by_agency/"+src)
		}
	}
	return h
}
