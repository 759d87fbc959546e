package server

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/internal/isatest"
	"tfmatch/keys"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

func batchEpoch(id string, n int, epoch uint32) *pb.Batch {
	b := batch(id, n)
	b.KeyEpoch = epoch
	return b
}

// TestRotation runs the matcher's side of a key rotation in one process:
// data of epoch 1, a restart under epoch 2 (recorded once), resubmission,
// a link run that sees epoch 2 only, and the purge of epoch 1 with every
// refusal a purge can meet.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	log, vkey := newAuditLog(t)
	policy := isatest.Policy(t, isatest.Config{Parties: testParties(), Now: func() time.Time { return serverNow }})
	cfg := envConfig{dir: dir, opts: store.Options{MemTableSize: 4 << 20, NoSync: true, Epoch: 1}, policy: policy, log: log, verifier: vkey, isaHash: testISA.ISAHash}

	env := startEnv(t, cfg)
	if rotated, err := env.server.CutOver(context.Background()); err != nil || rotated {
		t.Fatalf("first start: CutOver = %v, %v; want no rotation", rotated, err)
	}
	for _, a := range []string{"police", "dwp"} {
		if _, err := submit(as(t, a), env.sub, batchEpoch(a+"-1", 3, 1)); err != nil {
			t.Fatal(err)
		}
	}
	run1, err := env.lead.StartLinkRun(as(t, "lead"), &pb.StartLinkRunRequest{Purpose: "monthly identification"})
	if err != nil {
		t.Fatal(err)
	}
	env.stop()

	var purged []uint32
	cfg.opts.Epoch = 2
	cfg.now = serverNow.Add(24 * time.Hour) // run ids differ from epoch 1's
	cfg.purged = func(e uint32) error { purged = append(purged, e); return nil }
	env = startEnv(t, cfg)
	size := log.Size()
	if rotated, err := env.server.CutOver(context.Background()); err != nil || !rotated {
		t.Fatalf("start under epoch 2: CutOver = %v, %v; want a rotation", rotated, err)
	}
	e := lastEntry(t, log)
	if log.Size() != size+1 || e.Kind != audit.KindKeyRotation || e.KeyEpoch != 2 || e.Counts["previous_epoch"] != 1 || e.ISAHash != testISA.ISAHash || e.Party != "matcher" {
		t.Errorf("rotation entry %+v (log %d -> %d)", e, size, log.Size())
	}
	if rotated, err := env.server.CutOver(context.Background()); err != nil || rotated || log.Size() != size+1 {
		t.Errorf("second CutOver under epoch 2: %v, %v, log size %d; want nothing recorded", rotated, err, log.Size())
	}

	// Epoch 1 is no longer accepted; epoch 2 is.
	if _, err := submit(as(t, "police"), env.sub, batchEpoch("police-late", 1, 1)); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("epoch-1 batch after the rotation: %v, want FailedPrecondition", err)
	}
	for _, a := range []string{"police", "dwp", "council"} {
		if _, err := submit(as(t, a), env.sub, batchEpoch(a+"-2", 5, 2)); err != nil {
			t.Fatal(err)
		}
	}
	run2, err := env.lead.StartLinkRun(as(t, "lead"), &pb.StartLinkRunRequest{Purpose: "monthly identification"})
	if err != nil {
		t.Fatal(err)
	}
	if run2.GetKeyEpoch() != 2 || run2.GetRecords() != 15 {
		t.Errorf("run after the rotation: epoch %d, %d records; want epoch 2 and its 15 records only", run2.GetKeyEpoch(), run2.GetRecords())
	}
	if _, err := env.lead.ListFlaggedHouseholds(as(t, "lead"), &pb.ListFlaggedHouseholdsRequest{RunId: run1.GetRunId(), Purpose: "p"}); status.Code(err) != codes.NotFound {
		t.Errorf("reading epoch 1's run under epoch 2: %v, want NotFound", err)
	}

	// What the store holds, before the purge.
	dry, err := env.lead.PurgeEpoch(as(t, "lead"), &pb.PurgeEpochRequest{KeyEpoch: 1, Purpose: "check", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.GetEpochInForce() != 2 || len(dry.GetEpochs()) != 2 || dry.GetPurged().GetBatches() != 2 || dry.GetPurged().GetRuns() != 1 ||
		dry.GetPurged().GetRecords() != 0 || !slices.Contains(dry.GetPurged().GetSuppressed(), "records") || dry.GetEpochs()[1].GetRecords() != 15 {
		t.Errorf("dry run = %v", dry)
	}
	if c, err := env.store.Epochs(context.Background()); err != nil || len(c) != 2 {
		t.Fatalf("a dry run purged: %+v, %v", c, err)
	}

	tests := []struct {
		name string
		req  *pb.PurgeEpochRequest
		code codes.Code
		say  string
	}{
		{"no purpose", &pb.PurgeEpochRequest{KeyEpoch: 1}, codes.InvalidArgument, "purpose"},
		{"no epoch", &pb.PurgeEpochRequest{Purpose: "p"}, codes.InvalidArgument, "key_epoch"},
		{"epoch in force", &pb.PurgeEpochRequest{KeyEpoch: 2, Purpose: "p"}, codes.FailedPrecondition, "in force"},
		{"epoch never held", &pb.PurgeEpochRequest{KeyEpoch: 7, Purpose: "p"}, codes.NotFound, "nothing"},
		{"old epoch", &pb.PurgeEpochRequest{KeyEpoch: 1, Purpose: "rotation complete"}, codes.OK, ""},
		{"old epoch again", &pb.PurgeEpochRequest{KeyEpoch: 1, Purpose: "p"}, codes.NotFound, "nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := log.Size()
			resp, err := env.lead.PurgeEpoch(as(t, "lead"), tt.req)
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.say) {
				t.Fatalf("PurgeEpoch = %v, want %v saying %q", err, tt.code, tt.say)
			}
			e := lastEntry(t, log)
			if log.Size() != before+1 {
				t.Fatalf("log grew %d -> %d, want one entry", before, log.Size())
			}
			if tt.code != codes.OK {
				if e.Kind != audit.KindRefusal || e.Refusal.Action != "PurgeEpoch" {
					t.Errorf("refusal not recorded: %+v", e)
				}
				return
			}
			want := map[string]uint64{"records:police": 3, "records:dwp": 3, "batches": 2, "runs": 1}
			if e.Kind != audit.KindPurge || e.Party != "lead" || e.KeyEpoch != 1 || e.RecordCount != 6 || !reflect.DeepEqual(e.Counts, want) || e.Purpose != "rotation complete" {
				t.Errorf("purge entry %+v", e)
			}
			if p := resp.GetPurged(); p.GetKeyEpoch() != 1 || p.GetBatches() != 2 || p.GetRuns() != 1 || len(resp.GetEpochs()) != 1 || resp.GetEpochs()[0].GetKeyEpoch() != 2 {
				t.Errorf("purge answer %v", resp)
			}
			if !reflect.DeepEqual(purged, []uint32{1}) {
				t.Errorf("EpochPurged called with %v, want [1]", purged)
			}
		})
	}
	eps, err := env.store.Epochs(context.Background())
	if err != nil || len(eps) != 1 || eps[0].Epoch != 2 || eps[0].Records != 15 {
		t.Errorf("store after the purge: %+v, %v", eps, err)
	}
	env.stop()

	// Epochs only go up, and one epoch number belongs to one agreement.
	for _, tt := range []struct {
		name  string
		epoch uint32
		hash  [32]byte
		say   string
	}{
		{"older epoch", 1, testISA.ISAHash, "epochs only go up"},
		{"same epoch, another agreement", 2, keys.HashISA([]byte("revised agreement")), "-epoch 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.opts.Epoch, c.isaHash = tt.epoch, tt.hash
			env := startEnv(t, c)
			defer env.stop()
			if _, err := env.server.CutOver(context.Background()); err == nil || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("CutOver = %v, want an error saying %q", err, tt.say)
			}
		})
	}
}

// TestSmallNumbers: every aggregate count of a run summary from 1 to
// threshold-1 is withheld and named; zero and larger counts are not; the
// flagged households themselves are all listed.
func TestSmallNumbers(t *testing.T) {
	env := newEnv(t)
	run := store.Run{ID: "R-small", Records: 5, Persons: 0, Households: 12,
		LinksByKind: map[matchkey.Kind]int{matchkey.NameDOB: 2, matchkey.NINO: 40}}
	for i := range 14 {
		rule := "two_plus_local"
		if i < 3 {
			rule = "all_three"
		}
		run.Flagged = append(run.Flagged, store.FlaggedHousehold{ID: "H-" + string(rune('a'+i)), Rule: rule, Members: map[string][][16]byte{"dwp": {{byte(i)}}}})
	}
	if err := env.store.PutRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	resp, err := env.lead.ListFlaggedHouseholds(as(t, "lead"), &pb.ListFlaggedHouseholdsRequest{Purpose: "case allocation"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetRun()
	if len(resp.GetHouseholds()) != 14 {
		t.Errorf("%d households listed, want all 14", len(resp.GetHouseholds()))
	}
	if got.GetSmallNumberThreshold() != 10 {
		t.Errorf("threshold %d, want the agreement's 10", got.GetSmallNumberThreshold())
	}
	wantCounts := []struct {
		name      string
		got, want uint64
	}{
		{"records", got.GetRecords(), 0},
		{"persons", got.GetPersons(), 0},
		{"households", got.GetHouseholds(), 12},
		{"flagged", got.GetFlagged(), 14},
		{"flagged all_three", got.GetFlaggedByRule()["all_three"], 0},
		{"flagged two_plus_local", got.GetFlaggedByRule()["two_plus_local"], 11},
		{"links name_dob", got.GetLinksByKind()["name_dob"], 0},
		{"links nino", got.GetLinksByKind()["nino"], 40},
	}
	for _, c := range wantCounts {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	want := []string{"records", "flagged_by_rule/all_three", "links_by_kind/name_dob"}
	if !reflect.DeepEqual(got.GetSuppressed(), want) {
		t.Errorf("suppressed = %q, want %q", got.GetSuppressed(), want)
	}
}

// TestSweepRecorded: the server's sweep deletes a run that outlived its
// inputs and records it (counts only); a sweep with nothing to do records
// nothing.
func TestSweepRecorded(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	if _, err := submit(as(t, "police"), env.sub, batch("p", 2)); err != nil {
		t.Fatal(err)
	}
	if err := env.store.PutRun(ctx, store.Run{ID: "R-old", Expires: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	before := env.log.Size()
	w, err := env.server.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.Runs != 1 || w.Records != 0 {
		t.Errorf("Sweep = %+v, want the one run", w)
	}
	e := lastEntry(t, env.log)
	want := map[string]uint64{"batches": 0, "runs": 1}
	if env.log.Size() != before+1 || e.Kind != audit.KindPurge || e.Party != "matcher" || e.RecordCount != 0 || !reflect.DeepEqual(e.Counts, want) || e.Purpose == "" {
		t.Errorf("sweep entry %+v", e)
	}
	if _, err := env.server.Sweep(ctx); err != nil || env.log.Size() != before+1 {
		t.Errorf("empty sweep: %v, log %d -> %d; want nothing recorded", err, before+1, env.log.Size())
	}
	if c, err := env.store.Counts(ctx); err != nil || c.Records != 2 {
		t.Errorf("the sweep touched unexpired records: %+v, %v", c, err)
	}
}
