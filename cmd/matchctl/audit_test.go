package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tfmatch/audit"
)

// auditExport writes an export of a small log, and the receipt of its
// submission entry to a receipts directory; it returns the export
// directory, the receipts directory and the verifier key.
func auditExport(t *testing.T) (dir, receipts, vkey string) {
	t.Helper()
	k, err := audit.GenerateSigningKey("matchctl.audit.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := k.Signer()
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open("", audit.Config{Signer: signer, VerifierKey: k.VerifierKey(), InMemory: true, CheckpointEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	r, err := l.AppendWithReceipt(ctx, audit.Entry{Kind: audit.KindSubmission, Time: t0, Party: "police", BatchID: "b1",
		BatchDigest: [32]byte{1}, RecordCount: 10, IndicatorCounts: map[string]uint64{"crime": 4}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []audit.Entry{
		{Kind: audit.KindLinkRun, Time: t0.Add(time.Hour), Party: "lead", RunID: "run-1", Purpose: "monthly", RecordCount: 10},
		{Kind: audit.KindQuery, Time: t0.Add(2 * time.Hour), Party: "lead", RunID: "run-1", Purpose: "allocate key workers", RecordCount: 2},
		{Kind: audit.KindRefusal, Time: t0.Add(25 * time.Hour), Party: "police", Refusal: audit.Refusal{Action: "StartLinkRun", Code: "PermissionDenied", Reason: "role"}},
	} {
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(t.TempDir(), "export")
	if err := l.Export(ctx, dir); err != nil {
		t.Fatal(err)
	}
	receipts = t.TempDir()
	if err := audit.WriteReceipt(filepath.Join(receipts, "b1.json"), r); err != nil {
		t.Fatal(err)
	}
	return dir, receipts, k.VerifierKey()
}

func TestAuditVerify(t *testing.T) {
	dir, receipts, vkey := auditExport(t)
	vkeyFile := filepath.Join(t.TempDir(), "audit.vkey")
	if err := os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(cmdAudit, "verify", "-dir", dir, "-receipts", receipts, "-key", vkeyFile)
	if err != nil || !regexp.MustCompile(`^ok: 4 entries, 5 checkpoints, 1 receipts verified\n$`).MatchString(out) {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	_, stderr, err := run(cmdAudit, "verify", "-dir", dir)
	if err != nil || !strings.Contains(stderr, "no -key") {
		t.Fatalf("verify without -key: %v, stderr %q", err, stderr)
	}

	// Flip a byte of entry 2: verify fails and names it.
	path := filepath.Join(dir, "entries.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	dec, err := decodeLine(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	// The byte after the kind: the first byte of the time.
	dec[2] ^= 1
	lines[2] = encodeLine(dec)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(cmdAudit, "verify", "-dir", dir, "-receipts", receipts, "-key", vkey)
	if !errors.Is(err, errVerifyFailed) || !strings.Contains(out, "entry 2:") || !strings.Contains(out, "FAILED") {
		t.Fatalf("verify of a changed entry: %v\n%s", err, out)
	}
}

func TestAuditReport(t *testing.T) {
	dir, _, _ := auditExport(t)
	out, _, err := run(cmdAudit, "report", "-dir", dir, "-threshold", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Shared:", "police", "crime=4", "allocate key workers", "Refusals", "PermissionDenied", "link-run"} {
		if !strings.Contains(out, want) {
			t.Errorf("table report lacks %q:\n%s", want, out)
		}
	}
	// Under the usual threshold the small indicator count is withheld.
	out, _, err = run(cmdAudit, "report", "-dir", dir, "-threshold", "10")
	if err != nil || !strings.Contains(out, "crime=<10") || strings.Contains(out, "crime=4") {
		t.Errorf("report under threshold 10: %v\n%s", err, out)
	}
	// The window leaves out the refusal a day later.
	out, _, err = run(cmdAudit, "report", "-dir", dir, "-threshold", "1", "-from", "2026-03-02", "-to", "2026-03-03", "-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []audit.Row
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("json report: %v\n%s", err, out)
	}
	if len(rows) != 3 {
		t.Errorf("%d rows in the window, want 3: %+v", len(rows), rows)
	}
	out, _, err = run(cmdAudit, "report", "-dir", dir, "-threshold", "1", "-format", "csv")
	if err != nil || !strings.HasPrefix(out, "section,time,") {
		t.Errorf("csv report: %v\n%s", err, out)
	}
}

func TestAuditUsage(t *testing.T) {
	dir, _, _ := auditExport(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "subcommand is required"},
		{[]string{"delete"}, `unknown subcommand "delete"`},
		{[]string{"verify"}, "-dir is required"},
		{[]string{"verify", "-dir", dir, "-key", "not-a-key"}, "-key"},
		{[]string{"report"}, "-dir is required"},
		{[]string{"report", "-dir", dir}, "give -isa"},
		{[]string{"report", "-dir", dir, "-isa", "x.yaml", "-threshold", "3"}, "not both"},
		{[]string{"report", "-dir", dir, "-threshold", "-1"}, "-threshold"},
		{[]string{"report", "-dir", dir, "-threshold", "1", "-from", "02/03/2026"}, "-from"},
		{[]string{"report", "-dir", dir, "-threshold", "1", "-from", "2026-03-02", "-to", "2026-03-01"}, "-from must be before -to"},
		{[]string{"report", "-dir", dir, "-threshold", "1", "-format", "xml"}, "-format"},
		{[]string{"export", "-cert", "c", "-key", "k", "-ca", "ca", "-out", dir}, "-vkey is required"},
		{[]string{"export", "-cert", "c", "-key", "k", "-ca", "ca", "-vkey", "nonsense"}, "-out is required"},
	} {
		_, _, err := run(cmdAudit, tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("audit %q: %v, want a usage error about %q", tc.args, err, tc.want)
		}
	}
	for _, sub := range []string{"export", "verify", "report"} {
		if _, _, err := run(cmdAudit, sub, "-h"); err == nil || !strings.Contains(err.Error(), "help") {
			t.Errorf("audit %s -h: %v", sub, err)
		}
	}
}

func decodeLine(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func encodeLine(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
