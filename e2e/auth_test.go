package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"tfmatch/audit"
	"tfmatch/internal/devnet"
	"tfmatch/isa"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
	"tfmatch/synth"
)

// signedAgreement writes an agreement over the PKI in pkiDir into dir and
// has every party sign it with the matchctl binary.
func signedAgreement(t *testing.T, dir, pkiDir string, cfg devnet.AgreementConfig) *devnet.AgreementFiles {
	t.Helper()
	cfg.Dir, cfg.PKIDir = dir, pkiDir
	files, err := devnet.WriteAgreement(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := devnet.SignAgreement(binDir, files); err != nil {
		t.Fatal(err)
	}
	return files
}

// signedPolicy is signedAgreement's policy.
func signedPolicy(t *testing.T, dir, pkiDir string, cfg devnet.AgreementConfig) *isa.Policy {
	t.Helper()
	files := signedAgreement(t, dir, pkiDir, cfg)
	a, err := isa.Load(files.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := isa.NewPolicy(a, isa.PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// authParties are the parties of the agreement TestRefusals runs under.
func authParties() []devnet.PartySpec {
	return []devnet.PartySpec{
		{ID: "council", Role: isa.RoleAgency, Indicators: []string{"local_concern", "crime_asb"}},
		{ID: "police", Role: isa.RoleAgency, Indicators: []string{"crime_asb"}},
		{ID: "lead", Role: isa.RoleLead},
		{ID: "auditor", Role: isa.RoleAuditor},
		{ID: "matcher", Role: isa.RoleMatcher},
	}
}

// authPKI writes a PKI for authParties, plus "health": a certificate from
// the programme's CA for a party the agreement does not name. The matcher
// and the council can serve.
func authPKI(t *testing.T, dir string) string {
	t.Helper()
	pkiDir := filepath.Join(dir, "pki")
	servers := map[string][]string{"matcher": {"localhost", "127.0.0.1"}, "council": {"localhost", "127.0.0.1"}}
	if _, err := pki.WriteDevPKI(pkiDir, []string{"police", "lead", "auditor", "health"}, servers, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	return pkiDir
}

// matcherArgs are the matcher's flags for a test, serving as party with
// the agreement isaPath.
func matcherArgs(dir, pkiDir, isaPath, party string) []string {
	return []string{
		"-listen", "127.0.0.1:0", "-addr-file", filepath.Join(dir, "addr"), "-data", filepath.Join(dir, "data"), "-isa", isaPath,
		"-cert", filepath.Join(pkiDir, party+".crt"), "-key", filepath.Join(pkiDir, party+".key"), "-ca", filepath.Join(pkiDir, "ca.crt"),
	}
}

// startMatcher runs the matcher binary in dir under the agreement at
// isaPath and returns its address.
func startMatcher(t *testing.T, dir, pkiDir, isaPath string) string {
	t.Helper()
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(filepath.Join(binDir, "matcher"), matcherArgs(dir, pkiDir, isaPath, "matcher")...)
	logf, err := os.Create(filepath.Join(dir, "matcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		logf.Close()
	})
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			return strings.TrimSpace(string(b))
		}
		select {
		case err := <-done:
			done <- err
			log, _ := os.ReadFile(filepath.Join(dir, "matcher.log"))
			t.Fatalf("matcher exited: %v\n%s", err, log)
		case <-deadline:
			t.Fatal("matcher did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func clientConn(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func partyCreds(t *testing.T, pkiDir, party, caDir string) credentials.TransportCredentials {
	t.Helper()
	cfg, err := pki.ClientConfig(filepath.Join(pkiDir, party+".crt"), filepath.Join(pkiDir, party+".key"), filepath.Join(caDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return credentials.NewTLS(cfg)
}

// sendBatch submits one one-record batch made under isaHash, with the
// given indicators, and returns the stream's outcome.
func sendBatch(ctx context.Context, c *grpc.ClientConn, isaHash []byte, indicators map[string]bool) error {
	s, err := pb.NewSubmissionClient(c).Submit(ctx)
	if err != nil {
		return err
	}
	rec := &pb.Record{Ref: make([]byte, 16), Tokens: []*pb.Token{{Kind: "name_dob", Value: make([]byte, 32)}}, Indicators: indicators}
	// A refused stream may end before the batch is sent: Send then says
	// io.EOF and Recv gives the status.
	if err := s.Send(&pb.Batch{BatchId: "b1", IsaHash: isaHash, KeyEpoch: 1, Records: []*pb.Record{rec}}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

// TestRefusals checks, against the real matcher binary under a signed
// agreement, who may connect and which party may do what: every party
// (and a stranger with a certificate from the programme's CA) against
// every action, a disallowed indicator, a batch under another agreement,
// and an agreement not yet in force.
func TestRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	pkiDir := authPKI(t, dir)
	files := signedAgreement(t, filepath.Join(dir, "isa"), pkiDir, devnet.AgreementConfig{Parties: authParties()})
	a, err := isa.Load(files.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash := a.Hash()
	addr := startMatcher(t, dir, pkiDir, files.Path)

	rogueDir := filepath.Join(t.TempDir(), "rogue")
	if _, err := pki.WriteDevPKI(rogueDir, []string{"lead", "council"}, nil, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	// A client that trusts the real CA for the server but presents a
	// certificate from another CA.
	ca, err := pki.LoadCA(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	rogueCert, err := tls.LoadX509KeyPair(filepath.Join(rogueDir, "lead.crt"), filepath.Join(rogueDir, "lead.key"))
	if err != nil {
		t.Fatal(err)
	}
	rogueCfg := &tls.Config{RootCAs: ca, Certificates: []tls.Certificate{rogueCert}, MinVersion: tls.VersionTLS13}
	noCert := &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS13}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	health := func(c *grpc.ClientConn) error {
		_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	// One call per action the matcher enforces. Submissions carry an
	// indicator every agency here may send, under the agreement's hash.
	actions := []struct {
		act  isa.Action
		name string
		call func(*grpc.ClientConn) error
	}{
		{isa.ActionSubmit, "submit", func(c *grpc.ClientConn) error {
			return sendBatch(ctx, c, hash[:], map[string]bool{"crime_asb": true})
		}},
		{isa.ActionStartRun, "start a link run", func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "test"})
			return err
		}},
		{isa.ActionReadResults, "read results", func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{RunId: "no-such-run", Purpose: "test"})
			return err
		}},
		{isa.ActionPurge, "purge a key epoch", func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).PurgeEpoch(ctx, &pb.PurgeEpochRequest{KeyEpoch: 9, Purpose: "test"})
			return err
		}},
		{isa.ActionAuditRead, "read the audit log", func(c *grpc.ClientConn) error {
			_, err := pb.NewAuditClient(c).GetCheckpoints(ctx, &pb.GetCheckpointsRequest{})
			return err
		}},
	}
	type tcase struct {
		name  string
		creds credentials.TransportCredentials
		call  func(*grpc.ClientConn) error
		want  codes.Code
	}
	var tests []tcase
	for _, act := range actions {
		for _, party := range []string{"council", "police", "lead", "auditor", "matcher", "health"} {
			want := codes.PermissionDenied
			role, known := a.RoleOf(party)
			allowed, _ := isa.RoleFor(act.act)
			switch {
			case !known:
				want = codes.Unauthenticated
			case role == allowed && act.act == isa.ActionReadResults:
				want = codes.NotFound // allowed; no such run
			case role == allowed && act.act == isa.ActionPurge:
				want = codes.NotFound // allowed; no such epoch
			case role == allowed:
				want = codes.OK
			}
			tests = append(tests, tcase{fmt.Sprintf("%s may %s: %v", party, act.name, want), partyCreds(t, pkiDir, party, pkiDir), act.call, want})
		}
	}
	tests = append(tests,
		tcase{"certificate from another CA", credentials.NewTLS(rogueCfg), health, codes.Unavailable},
		tcase{"no client certificate", credentials.NewTLS(noCert), health, codes.Unavailable},
		tcase{"plaintext", insecure.NewCredentials(), health, codes.Unavailable},
		tcase{"indicator the agency may not share", partyCreds(t, pkiDir, "police", pkiDir), func(c *grpc.ClientConn) error {
			err := sendBatch(ctx, c, hash[:], map[string]bool{"local_concern": true})
			if err != nil && !strings.Contains(status.Convert(err).Message(), `"local_concern"`) {
				return fmt.Errorf("refusal does not name the indicator: %w", err)
			}
			return err
		}, codes.InvalidArgument},
		tcase{"batch under another agreement", partyCreds(t, pkiDir, "police", pkiDir), func(c *grpc.ClientConn) error {
			return sendBatch(ctx, c, make([]byte, 32), map[string]bool{"crime_asb": true})
		}, codes.FailedPrecondition},
		tcase{"lead must state a purpose", partyCreds(t, pkiDir, "lead", pkiDir), func(c *grpc.ClientConn) error {
			_, err := pb.NewLeadClient(c).StartLinkRun(ctx, &pb.StartLinkRunRequest{})
			return err
		}, codes.InvalidArgument},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(clientConn(t, addr, tt.creds))
			if got := status.Code(err); got != tt.want {
				t.Fatalf("got %v (%v), want %v", got, err, tt.want)
			}
		})
	}

	// Every refusal is in the matcher's audit log.
	auditor := clientConn(t, addr, partyCreds(t, pkiDir, "auditor", pkiDir))
	entries, err := pb.NewAuditClient(auditor).ListEntries(ctx, &pb.ListEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := audit.DecodeEntries(entries.GetEntries())
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, e := range decoded {
		if e.Kind == audit.KindRefusal {
			refused++
		}
	}
	wantRefused := 0
	for _, tt := range tests {
		if tt.want != codes.OK && tt.want != codes.Unavailable {
			wantRefused++
		}
	}
	if refused != wantRefused {
		t.Errorf("the audit log holds %d refusals, want %d", refused, wantRefused)
	}
}

// TestAgreementNotYetInForce: a matcher may start under an agreement
// that starts tomorrow, and refuses every call until then.
func TestAgreementNotYetInForce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	pkiDir := authPKI(t, dir)
	from := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	files := signedAgreement(t, filepath.Join(dir, "isa"), pkiDir, devnet.AgreementConfig{Parties: authParties(), ValidFrom: from})
	addr := startMatcher(t, dir, pkiDir, files.Path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, party := range []string{"lead", "police"} {
		c := clientConn(t, addr, partyCreds(t, pkiDir, party, pkiDir))
		var err error
		if party == "lead" {
			_, err = pb.NewLeadClient(c).StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: "test"})
		} else {
			err = sendBatch(ctx, c, make([]byte, 32), nil)
		}
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not yet in force") {
			t.Errorf("%s: %v, want FailedPrecondition: not yet in force", party, err)
		}
	}
}

// TestMatcherRefusesToStart: the matcher binary will not serve under an
// agreement that is unsigned, badly signed or expired, nor with a
// certificate that is not the matcher's in the agreement.
func TestMatcherRefusesToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	pkiDir := authPKI(t, dir)
	signed := signedAgreement(t, filepath.Join(dir, "signed"), pkiDir, devnet.AgreementConfig{Parties: authParties()})
	unsigned, err := devnet.WriteAgreement(devnet.AgreementConfig{Dir: filepath.Join(dir, "unsigned"), PKIDir: pkiDir, Parties: authParties()})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().AddDate(-2, 0, 0).UTC().Truncate(time.Second)
	expired := signedAgreement(t, filepath.Join(dir, "expired"), pkiDir, devnet.AgreementConfig{Parties: authParties(), ValidFrom: past, ValidUntil: past.AddDate(1, 0, 0)})
	changed := filepath.Join(dir, "changed.yaml")
	src, err := os.ReadFile(signed.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, bytes.Replace(src, []byte("retention_days: 365"), []byte("retention_days: 366"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	otherKey, err := isa.WriteSigningKeyFile(filepath.Join(dir, "other-isa.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, isa, party, want string
		extra                  []string
	}{
		{"unsigned agreement", unsigned.Path, "matcher", "not signed by every party", nil},
		{"changed after signing", changed, "matcher", "does not verify", nil},
		{"expired agreement", expired.Path, "matcher", "expired", nil},
		{"an agency's certificate", signed.Path, "council", "may not serve", nil},
		{"the agreement lists another signing key than the pinned one", signed.Path, "matcher", "not the key this node holds", []string{"-signing-key", otherKey}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			cmd := exec.Command(filepath.Join(binDir, "matcher"), append(matcherArgs(d, pkiDir, tt.isa, tt.party), tt.extra...)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatal("the matcher started")
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q, want it to say %q", out, tt.want)
			}
			if _, err := os.Stat(filepath.Join(d, "addr")); err == nil {
				t.Error("the matcher listened")
			}
		})
	}
}

// TestAgencyRefusesToStart: the agency binary will not run with a
// certificate, identity, wrapped secret, epoch or mapping that does not
// fit the signed agreement, nor under an unsigned one; each refusal says
// what is wrong.
func TestAgencyRefusesToStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	pkiDir := authPKI(t, dir)
	files := signedAgreement(t, filepath.Join(dir, "isa"), pkiDir, devnet.AgreementConfig{Parties: authParties()})
	unsigned, err := devnet.WriteAgreement(devnet.AgreementConfig{Dir: filepath.Join(dir, "unsigned"), PKIDir: pkiDir, Parties: authParties()})
	if err != nil {
		t.Fatal(err)
	}
	ceremony := filepath.Join(dir, "ceremony")
	rec, err := devnet.RunCeremony(binDir, files.Path, 1, ceremony)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Wrapped) != 2 {
		t.Fatalf("ceremony wrapped to %d agencies, want 2", len(rec.Wrapped))
	}
	district := filepath.Join(dir, "district")
	d, err := synth.Generate(synth.Config{Seed: 3, Households: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(district); err != nil {
		t.Fatal(err)
	}
	type setup struct{ isa, cert, identity, secret, mapping, epoch string }
	good := setup{files.Path, "police", files.Identities["police"], filepath.Join(ceremony, "police.programme.age"), "police", "1"}
	for _, tt := range []struct {
		name string
		edit func(*setup)
		want string
	}{
		{"unsigned agreement", func(s *setup) { s.isa = unsigned.Path }, "not signed by every party"},
		{"another party's certificate", func(s *setup) { s.cert = "council" }, `speaks for "council"`},
		{"a certificate the agreement does not name", func(s *setup) { s.cert = "health" }, "not a party"},
		{"another party's identity", func(s *setup) { s.identity = files.Identities["council"] }, "age_recipient"},
		{"another agency's secret", func(s *setup) { s.secret = filepath.Join(ceremony, "council.programme.age") }, "cannot decrypt"},
		{"another epoch", func(s *setup) { s.epoch = "2" }, "another agreement or epoch"},
		{"mapping derives an indicator the agency may not share", func(s *setup) { s.mapping = "council" }, `"local_concern"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			state := t.TempDir()
			cmd := exec.Command(filepath.Join(binDir, "agency"),
				"-source", "police", "-matcher", "127.0.0.1:1",
				"-extract", filepath.Join(district, "police.csv"), "-mapping", filepath.Join(district, "mappings", s.mapping+".yaml"),
				"-isa", s.isa, "-identity", s.identity, "-secret", s.secret, "-epoch", s.epoch, "-state", state,
				"-cert", filepath.Join(pkiDir, s.cert+".crt"), "-key", filepath.Join(pkiDir, s.cert+".key"), "-ca", filepath.Join(pkiDir, "ca.crt"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the agency ran:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q, want it to say %q", out, tt.want)
			}
		})
	}
}
