package lead

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "tfmatch/proto/tfmatch/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func r(label string) []byte { return []byte(fmt.Sprintf("ref-%-12s", label))[:16] }

func tableFixture() ([]Household, map[string]Person) {
	hs := []Household{
		{
			ID: "H-00a1", Rule: "all_three",
			Criteria: map[string]bool{"crime_asb": true, "education": true, "work": true, "local_concern": false},
			Members: map[string][][]byte{
				"police":    {r("p1")},
				"council":   {r("c2"), r("c1")},
				"education": {r("e1")},
				"dwp":       {r("d1")},
			},
		},
		{
			ID: "H-00b2", Rule: "two_plus_local",
			Criteria: map[string]bool{"crime_asb": true, "work": true, "local_concern": true, "health": true},
			Members: map[string][][]byte{
				"dwp":     {r("d2"), r("d3")},
				"council": {r("c9")}, // not re-identified
			},
		},
		{
			// No council member: nobody the lead can name. A criterion
			// outside the usual four, sorted after them.
			ID: "H-00c3", Rule: "two_plus_local",
			Criteria: map[string]bool{"education": true, "work": true, "domestic_abuse": true, "local_concern": true},
			Members:  map[string][][]byte{"education": {r("e7")}, "dwp": {r("d7")}},
		},
	}
	people := map[string]Person{
		string(r("c1")): {RecordID: "C001", GivenName: "Mary", FamilyName: "O'Brien", DOB: "1985-11-30"},
		string(r("c2")): {RecordID: "C002", GivenName: "Jack", FamilyName: "O'Brien", DOB: "2010-04-03"},
		string(r("c4")): {RecordID: "C004", GivenName: "Not", FamilyName: "Amember", DOB: "1970-01-01"},
		// A person known by a single name.
		string(r("e1")): {RecordID: "E001", GivenName: "", FamilyName: "Zoë", DOB: "2012-02-29"},
	}
	return hs, people
}

func TestWriteTable(t *testing.T) {
	hs, people := tableFixture()
	for _, tc := range []struct {
		name   string
		hs     []Household
		people map[string]Person
		file   string
	}{
		{"households and people", hs, people, "table.golden"},
		{"no people", hs, nil, "table_nopeople.golden"},
		{"no households", nil, people, "table_empty.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTable(&buf, tc.hs, tc.people); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file, buf.Bytes())
			// Independently of the golden file: one line per household
			// plus the header, and only members of a household are named.
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != len(tc.hs)+1 {
				t.Errorf("%d lines, want %d", len(lines), len(tc.hs)+1)
			}
			if strings.Contains(buf.String(), "Amember") {
				t.Error("the table names a person who is in no household")
			}
		})
	}
}

func TestWriteTableColumns(t *testing.T) {
	hs, people := tableFixture()
	var buf bytes.Buffer
	if err := WriteTable(&buf, hs, people); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	header := strings.Fields(lines[0])
	wantHeader := []string{"HOUSEHOLD", "RULE", "CRIME_ASB", "EDUCATION", "WORK", "LOCAL_CONCERN", "DOMESTIC_ABUSE", "HEALTH", "MEMBERS", "BY", "AGENCY", "KNOWN", "MEMBERS"}
	if !reflect.DeepEqual(header, wantHeader) {
		t.Errorf("header %q, want %q", header, wantHeader)
	}
	row := strings.Fields(lines[1])
	if want := []string{"H-00a1", "all_three", "yes", "yes", "yes", "-", "-", "-", "council:2", "dwp:1", "education:1", "police:1"}; !reflect.DeepEqual(row[:len(want)], want) {
		t.Errorf("row %q, want it to start %q", row, want)
	}
	if !strings.HasSuffix(lines[1], "Jack O'Brien (2010-04-03); Mary O'Brien (1985-11-30); Zoë (2012-02-29)") {
		t.Errorf("known members of H-00a1 not listed sorted: %q", lines[1])
	}
}

// fakeVault records the size of every request and answers with the
// people it knows.
type fakeVault struct {
	sizes    []int
	purposes []string
	known    map[string]bool // nil: knows every ref
	failOn   int
}

func (v *fakeVault) Resolve(_ context.Context, in *pb.ResolveRequest, _ ...grpc.CallOption) (*pb.ResolveResponse, error) {
	v.sizes = append(v.sizes, len(in.GetRefs()))
	v.purposes = append(v.purposes, in.GetPurpose())
	if v.failOn > 0 && len(v.sizes) == v.failOn {
		return nil, status.Error(codes.PermissionDenied, "party may not resolve")
	}
	if len(in.GetRefs()) > maxResolveBatch {
		return nil, status.Error(codes.InvalidArgument, "too many references")
	}
	resp := &pb.ResolveResponse{}
	for _, ref := range in.GetRefs() {
		if v.known != nil && !v.known[string(ref)] {
			resp.Unknown = append(resp.Unknown, ref)
			continue
		}
		resp.People = append(resp.People, &pb.Person{Ref: ref, RecordId: "R" + string(ref), GivenName: "G", FamilyName: "F",
			Dob: "2000-01-01", Address: "1 Road", Postcode: "LS1 1AA"})
	}
	return resp, nil
}

func manyRefs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%016d", i))
	}
	return out
}

func TestReidentifyBatches(t *testing.T) {
	for _, tc := range []struct {
		n     int
		sizes []int
	}{
		{0, nil},
		{1, []int{1}},
		{maxResolveBatch, []int{maxResolveBatch}},
		{maxResolveBatch + 1, []int{maxResolveBatch, 1}},
		{2*maxResolveBatch + 5001, []int{maxResolveBatch, maxResolveBatch, 5001}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			v := &fakeVault{}
			refs := manyRefs(tc.n)
			got, err := Reidentify(context.Background(), v, refs, "case allocation")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v.sizes, tc.sizes) {
				t.Errorf("request sizes %v, want %v", v.sizes, tc.sizes)
			}
			for _, p := range v.purposes {
				if p != "case allocation" {
					t.Errorf("purpose %q sent, want the caller's", p)
				}
			}
			if len(got) != tc.n {
				t.Fatalf("%d people, want %d", len(got), tc.n)
			}
			for _, ref := range refs {
				p, ok := got[string(ref)]
				if !ok || p.RecordID != "R"+string(ref) || p.Postcode != "LS1 1AA" || p.Address != "1 Road" || p.DOB != "2000-01-01" {
					t.Fatalf("ref %s: %+v, %v", ref, p, ok)
				}
			}
		})
	}
}

func TestReidentifyUnknownAndErrors(t *testing.T) {
	refs := manyRefs(3)
	v := &fakeVault{known: map[string]bool{string(refs[1]): true}}
	got, err := Reidentify(context.Background(), v, refs, "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[string(refs[1])].RecordID != "R"+string(refs[1]) {
		t.Errorf("got %v, want only the known ref", got)
	}

	v = &fakeVault{failOn: 2}
	_, err = Reidentify(context.Background(), v, manyRefs(maxResolveBatch+10), "p")
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "re-identifying") {
		t.Errorf("error %v: want the vault's PermissionDenied, wrapped with context", err)
	}
	if len(v.sizes) != 2 {
		t.Errorf("%d requests after a failure, want 2", len(v.sizes))
	}
}

// fakeLead answers as the matcher's Lead service.
type fakeLead struct {
	err   error
	list  *pb.ListFlaggedHouseholdsResponse
	run   *pb.LinkRun
	purge *pb.PurgeEpochResponse
	reqs  []any
}

func (f *fakeLead) StartLinkRun(_ context.Context, in *pb.StartLinkRunRequest, _ ...grpc.CallOption) (*pb.LinkRun, error) {
	f.reqs = append(f.reqs, in)
	return f.run, f.err
}

func (f *fakeLead) PurgeEpoch(_ context.Context, in *pb.PurgeEpochRequest, _ ...grpc.CallOption) (*pb.PurgeEpochResponse, error) {
	f.reqs = append(f.reqs, in)
	return f.purge, f.err
}

func (f *fakeLead) ListFlaggedHouseholds(_ context.Context, in *pb.ListFlaggedHouseholdsRequest, _ ...grpc.CallOption) (*pb.ListFlaggedHouseholdsResponse, error) {
	f.reqs = append(f.reqs, in)
	return f.list, f.err
}

func TestClient(t *testing.T) {
	run := &pb.LinkRun{RunId: "run-1", RuleSetVersion: "phase1/3", Records: 10, Persons: 8, Households: 4, Flagged: 2,
		LinksByKind: map[string]uint64{"nino": 3}, Review: []*pb.ReviewItem{{Kind: "address"}, {Kind: "uprn"}}}
	wantRun := Run{ID: "run-1", RuleSetVersion: "phase1/3", Records: 10, Persons: 8, Households: 4, Flagged: 2,
		LinksByKind: map[string]uint64{"nino": 3}, Review: 2}
	f := &fakeLead{run: run, list: &pb.ListFlaggedHouseholdsResponse{Run: run, Households: []*pb.FlaggedHousehold{
		{HouseholdId: "H-2", Rule: "all_three", Criteria: map[string]bool{"work": true},
			Members: []*pb.AgencyMembers{{Agency: "dwp", Refs: [][]byte{r("d1")}}, {Agency: "dwp", Refs: [][]byte{r("d2")}}}},
		{HouseholdId: "H-1", Rule: "two_plus_local", Members: []*pb.AgencyMembers{{Agency: "council", Refs: [][]byte{r("c1")}}}},
	}}}
	c := &Client{Matcher: f}
	ctx := context.Background()

	got, err := c.StartRun(ctx, "monthly")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantRun) {
		t.Errorf("StartRun = %+v, want %+v", got, wantRun)
	}
	if req := f.reqs[0].(*pb.StartLinkRunRequest); req.GetPurpose() != "monthly" {
		t.Errorf("purpose %q sent", req.GetPurpose())
	}

	gotRun, hs, err := c.Flagged(ctx, "run-1", "allocation")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotRun, wantRun) {
		t.Errorf("Flagged run = %+v", gotRun)
	}
	if req := f.reqs[1].(*pb.ListFlaggedHouseholdsRequest); req.GetRunId() != "run-1" || req.GetPurpose() != "allocation" {
		t.Errorf("request %v", req)
	}
	if len(hs) != 2 || hs[0].ID != "H-1" || hs[1].ID != "H-2" {
		t.Fatalf("households %+v, want H-1 then H-2", hs)
	}
	if m := hs[1].Members["dwp"]; len(m) != 2 || !bytes.Equal(m[0], r("d1")) || !bytes.Equal(m[1], r("d2")) {
		t.Errorf("H-2 dwp members %q, want both entries merged", m)
	}
	if hs[1].Rule != "all_three" || !hs[1].Criteria["work"] {
		t.Errorf("H-2 = %+v", hs[1])
	}

	f.err = status.Error(codes.NotFound, "no link run yet")
	if _, _, err := c.Flagged(ctx, "", "x"); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "listing flagged households") {
		t.Errorf("Flagged error %v: want NotFound wrapped with context", err)
	}
	f.err = status.Error(codes.PermissionDenied, "no")
	if _, err := c.StartRun(ctx, "x"); status.Code(err) != codes.PermissionDenied || !errors.Is(err, f.err) {
		t.Errorf("StartRun error %v: want the status kept", err)
	}
}

// TestSuppressedCounts: a count the matcher withheld prints as
// "<threshold", whatever number came with it; others print as they are.
func TestSuppressedCounts(t *testing.T) {
	run := runFromProto(&pb.LinkRun{Records: 0, Households: 40, FlaggedByRule: map[string]uint64{"all_three": 0, "two_plus_local": 12},
		SmallNumberThreshold: 10, Suppressed: []string{"records", "flagged_by_rule/all_three"}})
	tests := []struct {
		name string
		n    uint64
		want string
	}{
		{"records", run.Records, "<10"},
		{"households", run.Households, "40"},
		{"flagged_by_rule/all_three", run.FlaggedByRule["all_three"], "<10"},
		{"flagged_by_rule/two_plus_local", run.FlaggedByRule["two_plus_local"], "12"},
		{"persons", 0, "0"},
	}
	for _, tt := range tests {
		if got := run.Count(tt.name, tt.n); got != tt.want {
			t.Errorf("Count(%s, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

func TestPurgeEpoch(t *testing.T) {
	f := &fakeLead{purge: &pb.PurgeEpochResponse{
		Purged:       &pb.EpochHoldings{KeyEpoch: 1, Records: 300, RecordsByAgency: map[string]uint64{"dwp": 300}, Batches: 2, Runs: 1},
		Epochs:       []*pb.EpochHoldings{{KeyEpoch: 2, Records: 0, RecordsByAgency: map[string]uint64{"dwp": 0, "police": 120}, Batches: 3, Suppressed: []string{"records", "records_by_agency/dwp"}}},
		EpochInForce: 2, SmallNumberThreshold: 10,
	}}
	c := &Client{Matcher: f}
	p, err := c.PurgeEpoch(context.Background(), 1, "rotation complete", false)
	if err != nil {
		t.Fatal(err)
	}
	if req := f.reqs[0].(*pb.PurgeEpochRequest); req.GetKeyEpoch() != 1 || req.GetPurpose() != "rotation complete" || req.GetDryRun() {
		t.Errorf("request %v", req)
	}
	if p.Purged.Epoch != 1 || p.Purged.Records != 300 || p.InForce != 2 || len(p.Epochs) != 1 {
		t.Errorf("PurgeEpoch = %+v", p)
	}
	var b bytes.Buffer
	if err := WriteHoldings(&b, p); err != nil {
		t.Fatal(err)
	}
	want := "EPOCH  RECORDS  BY AGENCY           BATCHES  RUNS  \n2      <10      dwp:<10 police:120  3        0     in force\n"
	if b.String() != want {
		t.Errorf("WriteHoldings =\n%q\nwant\n%q", b.String(), want)
	}
	f.err = status.Error(codes.FailedPrecondition, "in force")
	if _, err := c.PurgeEpoch(context.Background(), 2, "x", false); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "purging key epoch 2") {
		t.Errorf("error %v: want the status wrapped with context", err)
	}
}
