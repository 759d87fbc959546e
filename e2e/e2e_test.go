package e2e

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"tfmatch/agency"
	"tfmatch/audit"
	"tfmatch/internal/devnet"
	"tfmatch/keys"
	"tfmatch/matcher/store"
	"tfmatch/synth"
)

// readCSV reads a CSV file with a header into maps.
func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s: empty", path)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[strings.TrimSpace(h)] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// memberSet is a household as the sorted list of its members' records,
// "source/record_id": comparable across runs made under different keys.
type memberSet string

func newMemberSet(members []string) memberSet {
	sort.Strings(members)
	return memberSet(strings.Join(members, " "))
}

// nodeVaultKey returns the key an agency node encrypts its vault with:
// derived from its local key, which is encrypted to its age identity.
func nodeVaultKey(t *testing.T, res *devnet.Result, party string) keys.VaultKey {
	t.Helper()
	ids, err := keys.ReadIdentityFile(res.Agreement.Identities[party])
	if err != nil {
		t.Fatal(err)
	}
	var local keys.LocalKey
	if err := keys.ReadFileEncrypted(filepath.Join(res.StateDirs[party], "local.key.age"), &local, ids[0]); err != nil {
		t.Fatal(err)
	}
	vk, err := local.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	return vk
}

// networkedFlagged resolves every flagged household's references through
// each agency's vault (the nodes have stopped, so the vaults are free).
func networkedFlagged(t *testing.T, res *devnet.Result) map[memberSet]string {
	t.Helper()
	bySource := map[string][]keys.Ref{}
	for _, h := range res.Households {
		for src, refs := range h.Members {
			for _, r := range refs {
				bySource[src] = append(bySource[src], keys.Ref(r))
			}
		}
	}
	ids := map[string]map[keys.Ref]string{}
	for src, refs := range bySource {
		v, err := agency.OpenVault(filepath.Join(res.StateDirs[src], "vault"), agency.VaultOptions{Key: nodeVaultKey(t, res, src)})
		if err != nil {
			t.Fatal(err)
		}
		found, unknown, err := v.Resolve(context.Background(), refs)
		v.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(unknown) > 0 {
			t.Errorf("%s vault does not hold %d references the matcher returned", src, len(unknown))
		}
		ids[src] = map[keys.Ref]string{}
		for ref, p := range found {
			ids[src][ref] = p.RecordID
		}
	}
	out := map[memberSet]string{}
	for _, h := range res.Households {
		var members []string
		for src, refs := range h.Members {
			for _, r := range refs {
				members = append(members, src+"/"+ids[src][keys.Ref(r)])
			}
		}
		out[newMemberSet(members)] = h.Rule
	}
	return out
}

// truthFlagged returns the truly flagged households as member sets of the
// records the extracts hold for their members.
func truthFlagged(t *testing.T, districtDir string) map[memberSet]string {
	t.Helper()
	personRecords := map[string][]string{}
	for _, r := range readCSV(t, filepath.Join(districtDir, "truth", "persons.csv")) {
		personRecords[r["person_id"]] = append(personRecords[r["person_id"]], r["source"]+"/"+r["record_id"])
	}
	hhRecords := map[string][]string{}
	for _, r := range readCSV(t, filepath.Join(districtDir, "truth", "households.csv")) {
		hhRecords[r["household_id"]] = append(hhRecords[r["household_id"]], personRecords[r["person_id"]]...)
	}
	out := map[memberSet]string{}
	for _, r := range readCSV(t, filepath.Join(districtDir, "truth", "flagged.csv")) {
		out[newMemberSet(hhRecords[r["household_id"]])] = r["rule"]
	}
	return out
}

func compareSets(got, want map[memberSet]string) (tp, fp, fn int) {
	for k := range got {
		if _, ok := want[k]; ok {
			tp++
		} else {
			fp++
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			fn++
		}
	}
	return
}

// TestEndToEnd runs the programme with the real binaries on a small
// district and checks, in one run because each costs seconds: households
// are flagged and agree with the truth; the council's own members are
// named; nothing identifying reached the matcher's store; the audit logs
// verify with every agency's receipts, and a changed or deleted entry is
// caught and named; and the one-process pipeline flags exactly the same
// households.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	res, err := devnet.Run(ctx, devnet.Config{Dir: filepath.Join(dir, "net"), Bin: binDir, Households: 1500, Seed: 7})
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "net", "logs", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), tail(string(b), 2000))
		}
		t.Fatalf("devnet: %v", err)
	}
	for a, line := range res.Agencies {
		t.Logf("%s: %s", a, line)
	}
	for _, s := range res.Stages {
		t.Logf("stage %-40s %v", s.Name, s.Elapsed)
	}

	t.Run("signed agreement and ceremony", func(t *testing.T) {
		if res.ISA.SignedBy != len(devnet.DevParties()) || res.Ceremony.Epoch != 1 || len(res.Ceremony.Wrapped) != 4 {
			t.Errorf("ISA %+v, ceremony %+v: want every party signed and the secret wrapped to 4 agencies", res.ISA, res.Ceremony)
		}
		// Every submission is bound to the agreement's canonical hash.
		subs := 0
		for _, e := range res.Audit.Decoded {
			if e.Kind == audit.KindSubmission {
				subs++
				if e.ISAHash != res.ISA.Hash {
					t.Errorf("submission %s by %s under ISA %x, want %x", e.BatchID, e.Party, e.ISAHash[:6], res.ISA.Hash[:6])
				}
			}
		}
		if subs == 0 {
			t.Error("no submission entries")
		}
		// Nothing secret in the clear at the agencies; nothing of the
		// programme secret at the matcher.
		for a, state := range res.StateDirs {
			if _, err := os.Stat(filepath.Join(state, "local.key")); err == nil {
				t.Errorf("%s keeps its local key in the clear", a)
			}
			if _, err := os.Stat(filepath.Join(state, "local.key.age")); err != nil {
				t.Errorf("%s: no encrypted local key: %v", a, err)
			}
		}
		wrapped, _ := filepath.Glob(filepath.Join(res.MatcherDir, "*.programme.age"))
		if len(wrapped) != 0 {
			t.Errorf("the matcher's directory holds %v", wrapped)
		}
	})

	t.Run("flagged", func(t *testing.T) {
		if len(res.Households) == 0 {
			t.Fatal("no household flagged")
		}
		for _, h := range res.Households {
			switch h.Rule {
			case "all_three":
				if !h.Criteria["crime_asb"] || !h.Criteria["education"] || !h.Criteria["work"] {
					t.Errorf("household %s: all_three without all three criteria: %v", h.ID, h.Criteria)
				}
			case "two_plus_local":
				n := 0
				for _, c := range []string{"crime_asb", "education", "work"} {
					if h.Criteria[c] {
						n++
					}
				}
				if n < 2 || !h.Criteria["local_concern"] {
					t.Errorf("household %s: two_plus_local with criteria %v", h.ID, h.Criteria)
				}
			default:
				t.Errorf("household %s: unexpected rule %q", h.ID, h.Rule)
			}
		}
	})

	t.Run("council members named", func(t *testing.T) {
		want := 0
		for _, h := range res.Households {
			want += len(h.Members[devnet.CouncilParty])
		}
		if want == 0 {
			t.Fatal("no flagged household has a council record")
		}
		if len(res.People) != want {
			t.Errorf("named %d council members, want %d", len(res.People), want)
		}
		for _, p := range res.People {
			if p.RecordID == "" || (p.GivenName == "" && p.FamilyName == "") {
				t.Errorf("re-identified person without id or name: %+v", p)
			}
		}
	})

	net := networkedFlagged(t, res)

	t.Run("against truth", func(t *testing.T) {
		truth := truthFlagged(t, res.DistrictDir)
		tp, fp, fn := compareSets(net, truth)
		p := float64(tp) / float64(tp+fp)
		r := float64(tp) / float64(tp+fn)
		t.Logf("flagged households: %d flagged, %d true; exact member-set matches %d (precision %.3f, recall %.3f)", len(net), len(truth), tp, p, r)
		// Exact member sets are a strict measure: one missed record
		// anywhere in a household counts as a miss. The quality floor is
		// pinned by the linkage evaluation; here the system must be
		// plainly working.
		if p < 0.8 || r < 0.8 {
			t.Errorf("flagged households far from truth: precision %.3f, recall %.3f", p, r)
		}
	})

	t.Run("matcher store holds no identity", func(t *testing.T) {
		nd := collectNeedles(t, res.DistrictDir, synth.Agencies())
		if nd.count < 1000 {
			t.Fatalf("only %d identity strings collected; the scan would prove little", nd.count)
		}
		st, err := store.Open(filepath.Join(res.MatcherDir, "store"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var keysSeen, bytesSeen int
		err = st.Scan(func(k, v []byte) error {
			keysSeen++
			bytesSeen += len(k) + len(v)
			for _, part := range [][]byte{k, v} {
				if n, what := nd.find(part); n != "" {
					return fmt.Errorf("store entry %d holds %s %q", keysSeen, what, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if keysSeen < 1000 {
			t.Fatalf("scanned only %d keys", keysSeen)
		}
		t.Logf("scanned %d keys, %d bytes against %d identity strings: none found", keysSeen, bytesSeen, nd.count)
	})

	t.Run("audit log verifies with every receipt", func(t *testing.T) {
		a := res.Audit
		if len(a.Problems) != 0 {
			t.Fatalf("problems: %v", a.Problems)
		}
		kinds := map[audit.Kind]int{}
		for _, e := range a.Decoded {
			kinds[e.Kind]++
			if e.Kind == audit.KindQuery && e.RecordCount != uint64(len(res.Households)) {
				t.Errorf("query entry records %d households, %d were returned", e.RecordCount, len(res.Households))
			}
		}
		receipts := 0
		for _, d := range a.ReceiptDirs {
			_, names, err := audit.LoadReceipts(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) == 0 {
				t.Errorf("%s holds no receipt", d)
			}
			receipts += len(names)
		}
		if len(a.ReceiptDirs) != len(synth.Agencies()) || a.Receipts != receipts || kinds[audit.KindSubmission] != receipts {
			t.Errorf("%d receipt directories, %d receipts checked of %d, %d submission entries", len(a.ReceiptDirs), a.Receipts, receipts, kinds[audit.KindSubmission])
		}
		if kinds[audit.KindLinkRun] != 1 || kinds[audit.KindQuery] != 1 {
			t.Errorf("entries by kind %v; want one link run and one query", kinds)
		}
		// The council node's own log holds the re-identification.
		c := res.CouncilAudit
		if len(c.Problems) != 0 || len(c.Decoded) != 1 || c.Decoded[0].Kind != audit.KindReidentification ||
			c.Decoded[0].RecordCount != uint64(len(res.People)) || c.Decoded[0].Party != devnet.LeadParty {
			t.Errorf("council log: %+v", c)
		}
		// And the matchctl binary agrees.
		args := []string{"audit", "verify", "-dir", a.ExportDir, "-key", filepath.Join(res.MatcherDir, "audit.vkey")}
		for _, d := range a.ReceiptDirs {
			args = append(args, "-receipts", d)
		}
		if out, err := exec.CommandContext(ctx, filepath.Join(binDir, "matchctl"), args...).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ok: ") {
			t.Errorf("matchctl audit verify: %v\n%s", err, out)
		}
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "matchctl"), "audit", "report", "-dir", a.ExportDir, "-isa", res.Agreement.Path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "police") || !strings.Contains(string(out), "link-run") {
			t.Errorf("matchctl audit report: %v\n%s", err, out)
		}
	})

	t.Run("audit tampering is detected", func(t *testing.T) {
		a := res.Audit
		verify := func(t *testing.T, dir string) string {
			t.Helper()
			args := []string{"audit", "verify", "-dir", dir, "-key", a.VerifierKey}
			for _, d := range a.ReceiptDirs {
				args = append(args, "-receipts", d)
			}
			out, err := exec.CommandContext(ctx, filepath.Join(binDir, "matchctl"), args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("verify of a tampered export: %v, want exit status 1\n%s", err, out)
			}
			return string(out)
		}
		// A receipt and the index of its entry.
		r, name := firstReceipt(t, a.ReceiptDirs[0])
		i := int(r.Index)

		t.Run("flipped byte", func(t *testing.T) {
			dir := copyExport(t, a.ExportDir)
			editEntries(t, dir, func(lines []string) []string {
				b, err := base64.StdEncoding.DecodeString(lines[i])
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 0x01
				lines[i] = base64.StdEncoding.EncodeToString(b)
				return lines
			})
			out := verify(t, dir)
			if !strings.Contains(out, fmt.Sprintf("entry %d:", i)) {
				t.Errorf("verify does not name entry %d:\n%s", i, out)
			}
		})
		t.Run("deleted entry", func(t *testing.T) {
			dir := copyExport(t, a.ExportDir)
			editEntries(t, dir, func(lines []string) []string { return append(lines[:i:i], lines[i+1:]...) })
			out := verify(t, dir)
			if !strings.Contains(out, "receipt-entry-") || !strings.Contains(out, name) {
				t.Errorf("verify does not fail the receipt %s of the deleted entry %d:\n%s", name, i, out)
			}
		})
	})

	t.Run("one-process pipeline flags the same households", func(t *testing.T) {
		out := filepath.Join(dir, "link")
		args := []string{"link", "-out", out, "-asof", mustAsOf(t, res.DistrictDir)}
		for _, a := range synth.Agencies() {
			args = append(args, fmt.Sprintf("%s=%s,%s", a, filepath.Join(res.DistrictDir, a+".csv"), filepath.Join(res.DistrictDir, "mappings", a+".yaml")))
		}
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "matchctl"), args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("matchctl link: %v\n%s", err, b)
		}
		hhRecords := map[string][]string{}
		for _, r := range readCSV(t, filepath.Join(out, "clusters.csv")) {
			hhRecords[r["household_id"]] = append(hhRecords[r["household_id"]], r["source"]+"/"+r["record_id"])
		}
		local := map[memberSet]string{}
		for _, r := range readCSV(t, filepath.Join(out, "flagged.csv")) {
			local[newMemberSet(hhRecords[r["household_id"]])] = r["rule"]
		}
		tp, fp, fn := compareSets(local, net)
		if fp != 0 || fn != 0 {
			t.Errorf("link flagged %d households, networked %d: %d in common, %d only in link, %d only networked", len(local), len(net), tp, fp, fn)
		}
		for k, rule := range local {
			if net[k] != "" && net[k] != rule {
				t.Errorf("household %.60s...: rule %s in link, %s networked", k, rule, net[k])
			}
		}
	})
}

// firstReceipt returns the first receipt in dir and its file name.
func firstReceipt(t *testing.T, dir string) (audit.Receipt, string) {
	t.Helper()
	rs, names, err := audit.LoadReceipts(dir)
	if err != nil || len(rs) == 0 {
		t.Fatalf("receipts in %s: %d, %v", dir, len(rs), err)
	}
	return rs[0], names[0]
}

// copyExport copies an export directory into a fresh one.
func copyExport(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "export")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// editEntries rewrites the entry lines of an export.
func editEntries(t *testing.T, dir string, edit func([]string) []string) {
	t.Helper()
	path := filepath.Join(dir, "entries.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := edit(strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"))
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAsOf(t *testing.T, districtDir string) string {
	t.Helper()
	asof, err := synth.AsOf(districtDir)
	if err != nil {
		t.Fatal(err)
	}
	return asof.Format(time.DateOnly)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
