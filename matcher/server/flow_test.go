package server

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"tfmatch/agency"
	"tfmatch/agency/mapping"
	"tfmatch/keys"
	pb "tfmatch/proto/tfmatch/v1"
	"tfmatch/synth"
)

// recordingSink passes batches on and remembers every reference sent.
type recordingSink struct {
	agency.Sink
	refs map[keys.Ref]bool
}

func (s *recordingSink) Send(ctx context.Context, b agency.Batch) error {
	for _, r := range b.Records {
		s.refs[r.Ref] = true
	}
	return s.Sink.Send(ctx, b)
}

func readTable(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func memberSet(members []string) string {
	sort.Strings(members)
	return strings.Join(members, " ")
}

// TestSubmitLinkList runs a small synthetic district through the four
// agency pipelines into the server, links it, and checks that the flagged
// households come back holding exactly the references the agencies
// submitted for their members.
func TestSubmitLinkList(t *testing.T) {
	dir := t.TempDir()
	// No recording errors: every person is linkable, so the flagged
	// households must be exactly the true ones.
	d, err := synth.Generate(synth.Config{Seed: 9, Households: 250, Errors: synth.ErrorModel{None: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	asof, err := synth.AsOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t)
	secret, err := keys.NewProgrammeSecret()
	if err != nil {
		t.Fatal(err)
	}

	// Submit every extract; record which refs each agency sent and the
	// record id behind each.
	sent := map[string]map[keys.Ref]bool{}
	recordOf := map[string]map[keys.Ref]string{}
	for _, a := range synth.Agencies() {
		m, err := mapping.Load(filepath.Join(dir, "mappings", a+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		local, err := keys.NewLocalKey()
		if err != nil {
			t.Fatal(err)
		}
		vault, err := agency.OpenVault(t.TempDir(), agency.VaultOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := as(t, a)
		ms, err := agency.NewMatcherSink(ctx, env.conn, agency.SinkConfig{})
		if err != nil {
			t.Fatal(err)
		}
		sink := &recordingSink{Sink: ms, refs: map[keys.Ref]bool{}}
		sum, err := agency.Run(ctx, agency.Config{
			Source: a, Mapping: m, Extract: filepath.Join(dir, a+".csv"), AsOf: asof,
			Keys: agency.Keys{Secret: secret, Context: testISA, Local: local}, BatchSize: 64,
		}, vault, sink)
		if err != nil {
			vault.Close()
			t.Fatalf("%s: %v", a, err)
		}
		if sum.Rejected != 0 || sum.Sent == 0 {
			t.Errorf("%s: %s", a, sum)
		}
		refs := make([]keys.Ref, 0, len(sink.refs))
		for r := range sink.refs {
			refs = append(refs, r)
		}
		found, unknown, err := vault.Resolve(context.Background(), refs)
		vault.Close()
		if err != nil || len(unknown) != 0 {
			t.Fatalf("%s: vault: %d unknown, %v", a, len(unknown), err)
		}
		sent[a] = sink.refs
		recordOf[a] = map[keys.Ref]string{}
		for r, p := range found {
			recordOf[a][r] = p.RecordID
		}
	}

	ctx := as(t, "lead")
	run, err := env.lead.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "identify families"})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, refs := range sent {
		total += len(refs)
	}
	if int(run.GetRecords()) != total {
		t.Errorf("run linked %d records, %d were submitted", run.GetRecords(), total)
	}
	resp, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{Purpose: "case allocation"})
	if err != nil {
		t.Fatal(err)
	}
	// The run's count of flagged households is an aggregate: below the
	// agreement's threshold it is withheld, while the rows are not.
	flagged := int(run.GetFlagged())
	if slices.Contains(run.GetSuppressed(), "flagged") {
		if flagged != 0 || len(resp.GetHouseholds()) >= int(run.GetSmallNumberThreshold()) {
			t.Errorf("flagged count withheld as %d with %d households listed, threshold %d", flagged, len(resp.GetHouseholds()), run.GetSmallNumberThreshold())
		}
		flagged = len(resp.GetHouseholds())
	}
	if resp.GetRun().GetRunId() != run.GetRunId() || flagged != len(resp.GetHouseholds()) {
		t.Errorf("listed run %s with %d households; started %s flagging %d",
			resp.GetRun().GetRunId(), len(resp.GetHouseholds()), run.GetRunId(), run.GetFlagged())
	}
	byID, err := env.lead.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{RunId: run.GetRunId(), Purpose: "case allocation"})
	if err != nil || len(byID.GetHouseholds()) != len(resp.GetHouseholds()) {
		t.Errorf("listing by run id: %d households, %v", len(byID.GetHouseholds()), err)
	}

	got := map[string]string{}
	seen := map[string]bool{}
	for _, h := range resp.GetHouseholds() {
		var members []string
		for i, am := range h.GetMembers() {
			if i > 0 && am.GetAgency() <= h.GetMembers()[i-1].GetAgency() {
				t.Errorf("household %s: agencies out of order or repeated", h.GetHouseholdId())
			}
			for _, b := range am.GetRefs() {
				r := keys.Ref(b)
				if !sent[am.GetAgency()][r] {
					t.Fatalf("household %s: %s ref %x was never submitted by %s", h.GetHouseholdId(), am.GetAgency(), b, am.GetAgency())
				}
				m := am.GetAgency() + "/" + recordOf[am.GetAgency()][r]
				if seen[m] {
					t.Errorf("record %s is in two flagged households", m)
				}
				seen[m] = true
				members = append(members, m)
			}
		}
		got[memberSet(members)] = h.GetRule()
	}

	// The truth, as sets of the records that the members' agencies hold.
	records := map[string][]string{}
	for _, r := range readTable(t, filepath.Join(dir, "truth", "persons.csv")) {
		records[r["person_id"]] = append(records[r["person_id"]], r["source"]+"/"+r["record_id"])
	}
	hhRecords := map[string][]string{}
	for _, r := range readTable(t, filepath.Join(dir, "truth", "households.csv")) {
		hhRecords[r["household_id"]] = append(hhRecords[r["household_id"]], records[r["person_id"]]...)
	}
	want := map[string]string{}
	for _, r := range readTable(t, filepath.Join(dir, "truth", "flagged.csv")) {
		want[memberSet(hhRecords[r["household_id"]])] = r["rule"]
	}
	if len(want) < 3 {
		t.Fatalf("only %d truly flagged households: the comparison would prove little", len(want))
	}
	t.Logf("%d records submitted, %d households flagged, %d truly flagged", total, len(got), len(want))
	for set, rule := range want {
		if g, ok := got[set]; !ok {
			t.Errorf("flagged household not returned: %.120s", set)
		} else if g != rule {
			t.Errorf("household %.60s: rule %s, want %s", set, g, rule)
		}
	}
	for set := range got {
		if _, ok := want[set]; !ok {
			t.Errorf("returned household is not truly flagged: %.120s", set)
		}
	}
}
