package agency

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/audit/audittest"
	"tfmatch/keys"
	pb "tfmatch/proto/tfmatch/v1"
)

type partyKey struct{}

// partyFromValue is a stand-in for certificate authentication: the party
// is whatever the test put in the context.
func partyFromValue(ctx context.Context) (string, error) {
	p, ok := ctx.Value(partyKey{}).(string)
	if !ok {
		return "", errors.New("no party")
	}
	return p, nil
}

func as(party string) context.Context {
	return context.WithValue(context.Background(), partyKey{}, party)
}

func TestVaultServerResolve(t *testing.T) {
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	v := openVault(t)
	entries := testPeople(t, local, 3)
	if err := v.put(entries); err != nil {
		t.Fatal(err)
	}
	log := newLocalAuditLog(t)
	srv := &VaultServer{Vault: v, Source: "council", Audit: log, Allowed: []string{"lead", "auditor"}, Party: partyFromValue, Logger: slog.New(slog.DiscardHandler)}
	ref := func(i int) []byte { return append([]byte(nil), entries[i].ref[:]...) }
	unknownRef := local.Ref("nobody")
	many := make([][]byte, maxResolve+1)
	for i := range many {
		many[i] = make([]byte, 16)
	}

	for _, tc := range []struct {
		name string
		ctx  context.Context
		req  *pb.ResolveRequest
		code codes.Code
	}{
		{"allowed", as("lead"), &pb.ResolveRequest{Refs: [][]byte{ref(2), unknownRef[:], ref(0)}, Purpose: "case review"}, codes.OK},
		{"second allowed party", as("auditor"), &pb.ResolveRequest{Refs: [][]byte{ref(1)}, Purpose: "audit"}, codes.OK},
		{"other party", as("police"), &pb.ResolveRequest{Refs: [][]byte{ref(0)}, Purpose: "curious"}, codes.PermissionDenied},
		{"party differing in case", as("LEAD"), &pb.ResolveRequest{Refs: [][]byte{ref(0)}, Purpose: "x"}, codes.PermissionDenied},
		{"no party", context.Background(), &pb.ResolveRequest{Refs: [][]byte{ref(0)}, Purpose: "x"}, codes.Unauthenticated},
		{"no purpose", as("lead"), &pb.ResolveRequest{Refs: [][]byte{ref(0)}}, codes.InvalidArgument},
		{"15-byte ref", as("lead"), &pb.ResolveRequest{Refs: [][]byte{ref(0), ref(1)[:15]}, Purpose: "x"}, codes.InvalidArgument},
		{"17-byte ref", as("lead"), &pb.ResolveRequest{Refs: [][]byte{append(ref(0), 0)}, Purpose: "x"}, codes.InvalidArgument},
		{"too many refs", as("lead"), &pb.ResolveRequest{Refs: many, Purpose: "x"}, codes.InvalidArgument},
		{"the maximum", as("lead"), &pb.ResolveRequest{Refs: many[:maxResolve], Purpose: "x"}, codes.OK},
		{"no refs", as("lead"), &pb.ResolveRequest{Purpose: "x"}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := log.Size()
			resp, err := srv.Resolve(tc.ctx, tc.req)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.code)
			}
			// Each call, allowed or refused, leaves one entry.
			e := lastAuditEntry(t, log)
			wantKind := audit.KindReidentification
			if err != nil {
				wantKind = audit.KindRefusal
			}
			if log.Size() != before+1 || e.Kind != wantKind || e.Counterparty != "council" {
				t.Errorf("log %d -> %d entries, last %v %+v; want one %v", before, log.Size(), e.Kind, e, wantKind)
			}
			if err == nil && (e.Purpose != tc.req.GetPurpose() || e.RecordCount != uint64(len(resp.GetPeople()))) {
				t.Errorf("re-identification entry %+v for %d people", e, len(resp.GetPeople()))
			}
			if err != nil {
				if resp != nil {
					t.Error("a refusal returned people")
				}
				for _, e := range entries {
					if strings.Contains(err.Error(), e.person.RecordID) || strings.Contains(err.Error(), e.person.GivenName) {
						t.Errorf("error %q carries record data", err)
					}
				}
				return
			}
			// Every known ref comes back once as a person, in request
			// order; every other ref comes back as unknown.
			byRef := map[keys.Ref]Person{}
			for _, e := range entries {
				byRef[e.ref] = e.person
			}
			var wantPeople, wantUnknown []string
			for _, r := range tc.req.GetRefs() {
				if _, ok := byRef[keys.Ref(r)]; ok {
					wantPeople = append(wantPeople, string(r))
				} else {
					wantUnknown = append(wantUnknown, string(r))
				}
			}
			var gotPeople, gotUnknown []string
			for _, p := range resp.GetPeople() {
				gotPeople = append(gotPeople, string(p.GetRef()))
				want := byRef[keys.Ref(p.GetRef())]
				got := Person{RecordID: p.GetRecordId(), GivenName: p.GetGivenName(), FamilyName: p.GetFamilyName(),
					DOB: p.GetDob(), Address: p.GetAddress(), Postcode: p.GetPostcode()}
				if got != want {
					t.Errorf("person %+v, want %+v", got, want)
				}
			}
			for _, u := range resp.GetUnknown() {
				gotUnknown = append(gotUnknown, string(u))
			}
			if strings.Join(gotPeople, "|") != strings.Join(wantPeople, "|") {
				t.Errorf("people refs %x, want %x", gotPeople, wantPeople)
			}
			if len(gotUnknown) != len(wantUnknown) {
				t.Errorf("%d unknown, want %d", len(gotUnknown), len(wantUnknown))
			}
		})
	}
}

// The zero value of Logger should mean "discard", as for every other
// config in the project; today a refused call dereferences a nil logger.
func TestVaultServerNilLogger(t *testing.T) {
	srv := &VaultServer{Vault: openVault(t), Audit: newLocalAuditLog(t), Allowed: []string{"lead"}, Party: partyFromValue}
	if _, err := srv.Resolve(as("police"), &pb.ResolveRequest{Purpose: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("code %v, want PermissionDenied", status.Code(err))
	}
	if _, err := srv.Resolve(as("lead"), &pb.ResolveRequest{Purpose: "x"}); err != nil {
		t.Error(err)
	}
}

// Without an audit log the vault refuses everyone: no re-identification
// goes unrecorded.
func TestVaultServerNoAuditLog(t *testing.T) {
	srv := &VaultServer{Vault: openVault(t), Allowed: []string{"lead"}, Party: partyFromValue}
	if _, err := srv.Resolve(as("lead"), &pb.ResolveRequest{Purpose: "x"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("code %v, want FailedPrecondition", status.Code(err))
	}
}

func newLocalAuditLog(t *testing.T) *audit.Log {
	l, _ := audittest.NewLog(t, "council.audit.test", 0)
	return l
}

func lastAuditEntry(t *testing.T, l *audit.Log) audit.Entry {
	t.Helper()
	n := l.Size()
	if n == 0 {
		return audit.Entry{}
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
