package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"tfmatch/audit"
	"tfmatch/audit/auditrpc"
	"tfmatch/internal/devnet"
	"tfmatch/internal/nodeaudit"
	"tfmatch/keys"
	"tfmatch/lead"
	"tfmatch/matcher/store"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
	"tfmatch/synth"
)

// rotationNet is the programme TestKeyRotation runs: a district, the PKI,
// the signed agreement, and where each node keeps its state.
type rotationNet struct {
	dir, pkiDir, isaPath, district, asof, dataDir string
	files                                         *devnet.AgreementFiles
}

func (n *rotationNet) tls(party string) []string {
	return []string{"-cert", filepath.Join(n.pkiDir, party+".crt"), "-key", filepath.Join(n.pkiDir, party+".key"), "-ca", filepath.Join(n.pkiDir, "ca.crt")}
}

// startMatcher runs the matcher binary under key epoch; stop ends it
// (SIGINT) and waits.
func (n *rotationNet) startMatcher(t *testing.T, epoch int) (addr string, stop func()) {
	t.Helper()
	addrFile := filepath.Join(n.dir, fmt.Sprintf("matcher-%d.addr", epoch))
	pin, err := n.files.PublicSigningKey(devnet.MatcherParty)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-listen", "127.0.0.1:0", "-addr-file", addrFile, "-data", n.dataDir, "-isa", n.isaPath,
		"-signing-key", pin, "-epoch", fmt.Sprint(epoch)}, n.tls(devnet.MatcherParty)...)
	logPath := filepath.Join(n.dir, fmt.Sprintf("matcher-%d.log", epoch))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "matcher"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		logf.Close()
	}
	t.Cleanup(stop)
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			return strings.TrimSpace(string(b)), stop
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("matcher (epoch %d) exited: %v\n%s", epoch, err, b)
		case <-deadline:
			t.Fatal("matcher did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// submitAll runs every agency node once, under epoch, with the secret its
// ceremony wrapped to it, and waits for them.
func (n *rotationNet) submitAll(t *testing.T, ctx context.Context, matcher string, epoch int, ceremonyDir string) {
	t.Helper()
	type job struct {
		name string
		cmd  *exec.Cmd
		out  *strings.Builder
	}
	var jobs []job
	for _, a := range synth.Agencies() {
		pin, err := n.files.PublicSigningKey(a)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{
			"-source", a, "-matcher", matcher, "-epoch", fmt.Sprint(epoch),
			"-extract", filepath.Join(n.district, a+".csv"), "-mapping", filepath.Join(n.district, "mappings", a+".yaml"),
			"-isa", n.isaPath, "-identity", n.files.Identities[a], "-signing-key", pin,
			"-secret", filepath.Join(ceremonyDir, keys.WrappedFileName(a)),
			"-state", filepath.Join(n.dir, "agency-"+a), "-asof", n.asof,
			"-audit-key", filepath.Join(n.dataDir, nodeaudit.VerifierKey),
		}, n.tls(a)...)
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "agency"), args...)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{a, cmd, out})
	}
	for _, j := range jobs {
		if err := j.cmd.Wait(); err != nil {
			t.Fatalf("%s under epoch %d: %v\n%s", j.name, epoch, err, j.out)
		}
	}
}

func (n *rotationNet) matchctl(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "matchctl"), args...).CombinedOutput()
	return string(out), err
}

// TestKeyRotation rotates the key epoch of a running programme with the
// real binaries: ingest under epoch 1, a new ceremony for epoch 2 (a new
// programme secret), the matcher restarted under epoch 2, every agency
// resubmits, the link run reads epoch 2 only, the lead purges epoch 1,
// and the store holds nothing of it afterwards; the audit log verifies
// with every agency's receipts of both epochs and holds the rotation and
// the purge.
func TestKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	n := &rotationNet{dir: dir, pkiDir: filepath.Join(dir, "pki"), district: filepath.Join(dir, "district"), dataDir: filepath.Join(dir, "matcher")}
	d, err := synth.Generate(synth.Config{Seed: 3, Households: 300})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(n.district); err != nil {
		t.Fatal(err)
	}
	asof, err := synth.AsOf(n.district)
	if err != nil {
		t.Fatal(err)
	}
	n.asof = asof.Format(time.DateOnly)
	parties := append(synth.Agencies(), devnet.LeadParty, devnet.AuditorParty)
	if _, err := pki.WriteDevPKI(n.pkiDir, parties, map[string][]string{devnet.MatcherParty: {"localhost", "127.0.0.1"}}, pki.DevOptions{}); err != nil {
		t.Fatal(err)
	}
	n.files = signedAgreement(t, filepath.Join(dir, "isa"), n.pkiDir, devnet.AgreementConfig{})
	n.isaPath = n.files.Path
	ceremony1, err := devnet.RunCeremony(binDir, n.isaPath, 1, filepath.Join(dir, "ceremony-1"))
	if err != nil {
		t.Fatal(err)
	}

	// Epoch 1: ingest and link.
	addr, stop := n.startMatcher(t, 1)
	n.submitAll(t, ctx, addr, 1, filepath.Join(dir, "ceremony-1"))
	leadConn, err := grpcClient(addr, n.pkiDir, devnet.LeadParty)
	if err != nil {
		t.Fatal(err)
	}
	run1, err := (&lead.Client{Matcher: pb.NewLeadClient(leadConn)}).StartRun(ctx, "identification under epoch 1")
	leadConn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if run1.Epoch != 1 || run1.Records < 100 {
		t.Fatalf("run under epoch 1: %+v", run1)
	}
	stop()

	// The custodian's new ceremony makes a new programme secret.
	ceremony2, err := devnet.RunCeremony(binDir, n.isaPath, 2, filepath.Join(dir, "ceremony-2"))
	if err != nil {
		t.Fatal(err)
	}
	if ceremony2.Epoch != 2 || ceremony2.Check == ceremony1.Check {
		t.Errorf("ceremony for epoch 2: %+v; want a new secret (check value %s)", ceremony2, ceremony1.Check)
	}

	// Epoch 2: the matcher restarts under it, agencies resubmit.
	addr, stop = n.startMatcher(t, 2)
	defer stop()
	lead1 := []string{"-matcher", addr, "-purpose", "key rotation"}
	lead1 = append(lead1, n.tls(devnet.LeadParty)...)
	n.submitAll(t, ctx, addr, 2, filepath.Join(dir, "ceremony-2"))
	out, err := n.matchctl(ctx, append([]string{"purge-epoch", "-dry-run"}, lead1...)...)
	if err != nil || !strings.Contains(out, "serves key epoch 2") || !strings.Contains(out, "\n1 ") || !strings.Contains(out, "in force") {
		t.Errorf("purge-epoch -dry-run: %v\n%s", err, out)
	}
	leadConn, err = grpcClient(addr, n.pkiDir, devnet.LeadParty)
	if err != nil {
		t.Fatal(err)
	}
	defer leadConn.Close()
	run2, err := (&lead.Client{Matcher: pb.NewLeadClient(leadConn)}).StartRun(ctx, "identification under epoch 2")
	if err != nil {
		t.Fatal(err)
	}
	// The same extracts again: the same number of records, not twice as
	// many, and only epoch 2's. (Persons may differ by a link or two: the
	// similarity tier's filters are keyed per epoch too.)
	if run2.Epoch != 2 || run2.Records != run1.Records || run2.Persons == 0 {
		t.Errorf("run under epoch 2: %+v; want epoch 2 with the %d records of epoch 1's run", run2, run1.Records)
	}

	// The lead purges epoch 1; the epoch in force cannot be.
	if out, err := n.matchctl(ctx, append([]string{"purge-epoch", "-epoch", "2"}, lead1...)...); err == nil || !strings.Contains(out, "FailedPrecondition") {
		t.Errorf("purging the epoch in force: %v\n%s", err, out)
	}
	out, err = n.matchctl(ctx, append([]string{"purge-epoch", "-epoch", "1"}, lead1...)...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("purged key epoch 1: %d records", run1.Records)) {
		t.Fatalf("purge-epoch -epoch 1: %v\n%s", err, out)
	}

	// The auditor's export verifies with every receipt of both epochs and
	// records the rotation and the purge.
	auditConn, err := grpcClient(addr, n.pkiDir, devnet.AuditorParty)
	if err != nil {
		t.Fatal(err)
	}
	defer auditConn.Close()
	vkey, err := nodeaudit.ReadVerifierKey(filepath.Join(n.dataDir, nodeaudit.VerifierKey))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := auditrpc.Fetch(ctx, pb.NewAuditClient(auditConn), vkey)
	if err != nil {
		t.Fatal(err)
	}
	exportDir := filepath.Join(dir, "audit-export")
	if err := audit.WriteExport(exportDir, ev); err != nil {
		t.Fatal(err)
	}
	var receipts []string
	for _, a := range synth.Agencies() {
		receipts = append(receipts, filepath.Join(dir, "agency-"+a, "receipts"))
	}
	v, err := audit.VerifyExport(exportDir, receipts, vkey)
	if err != nil || len(v.Problems) != 0 {
		t.Fatalf("audit log: %v, problems %v", err, v.Problems)
	}
	entries, err := audit.DecodeEntries(ev.Entries)
	if err != nil {
		t.Fatal(err)
	}
	var rotations, purges []audit.Entry
	subs := map[uint32]int{}
	for _, e := range entries {
		switch e.Kind {
		case audit.KindKeyRotation:
			rotations = append(rotations, e)
		case audit.KindPurge:
			purges = append(purges, e)
		case audit.KindSubmission:
			subs[e.KeyEpoch]++
		}
	}
	if len(rotations) != 1 || rotations[0].KeyEpoch != 2 || rotations[0].Counts["previous_epoch"] != 1 {
		t.Errorf("rotation entries %+v, want one from epoch 1 to 2", rotations)
	}
	if len(purges) != 1 || purges[0].KeyEpoch != 1 || purges[0].RecordCount != run1.Records || purges[0].Party != devnet.LeadParty || purges[0].Counts["runs"] != 1 {
		t.Errorf("purge entries %+v, want the lead's purge of epoch 1's %d records and its run", purges, run1.Records)
	}
	if subs[1] == 0 || subs[2] != subs[1] || v.Receipts != subs[1]+subs[2] {
		t.Errorf("submissions per epoch %v, %d receipts verified", subs, v.Receipts)
	}
	stop()

	// Nothing of epoch 1 is left in the store, and its blinding key is gone.
	st, err := store.Open(filepath.Join(n.dataDir, "store"), store.Options{Epoch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eps, err := st.Epochs(ctx)
	if err != nil || len(eps) != 1 || eps[0].Epoch != 2 || uint64(eps[0].Records) != run2.Records {
		t.Errorf("store after the purge holds %+v (%v); want epoch 2's %d records only", eps, err, run2.Records)
	}
	if c, err := st.Counts(ctx); err != nil || c.Records != 0 || c.Batches != 0 || c.Runs != 0 {
		t.Errorf("epoch 1 after the purge: %+v, %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(n.dataDir, "blinding-1.key")); !os.IsNotExist(err) {
		t.Errorf("epoch 1's blinding key: %v, want it deleted", err)
	}
	if _, err := os.Stat(filepath.Join(n.dataDir, "blinding-2.key")); err != nil {
		t.Errorf("epoch 2's blinding key: %v", err)
	}
}

// grpcClient connects to addr as party with the PKI in pkiDir.
func grpcClient(addr, pkiDir, party string) (*grpc.ClientConn, error) {
	cfg, err := pki.ClientConfig(filepath.Join(pkiDir, party+".crt"), filepath.Join(pkiDir, party+".key"), filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
}
