package agency

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/keys"
	"tfmatch/matchkey"
)

// FuzzRun feeds arbitrary extracts through the whole agency pipeline. It
// must never panic, and whatever it accepts must be consistent: every row
// read is either accepted or rejected, every record sent is in the vault
// under the reference its record id gives, and no token value appears
// under two kinds.
func FuzzRun(f *testing.F) {
	seed, err := os.ReadFile(runExtract)
	if err != nil {
		f.Fatal(err)
	}
	header := "CASE_ID,FORENAME,SURNAME,BIRTH_DATE,NI_NUMBER,ADDRESS,POSTCODE,TENANCY_REF,CONCERN\n"
	f.Add(seed)
	f.Add([]byte(header))
	f.Add([]byte(header + "A,B,C,01/01/2001,,,,,\n"))
	f.Add([]byte(header + "A,\"B\nB\",C,2001-01-01,AB123456C,\"1, Road\",LS1 1AA,T,Y\n\"\n"))
	f.Add([]byte(header + "A,B,C,29/02/2001,,,,,\nA,B,C,29/02/2000,,,,,\n,,,,,,,,\n"))
	f.Add([]byte("\ufeff" + header + "X\x00,\xff,Ü,00/00/0000,,,ZZ99 9ZZ,,\n"))

	m := loadMapping(f, runMapping)
	k := newKeys(f)
	vault := openVault(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "extract.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sink := &fakeSink{}
		sum, err := Run(context.Background(), Config{Mapping: m, Extract: path, AsOf: runAsOf, Keys: k, BatchSize: 3, Workers: 2}, vault, sink)
		if err != nil {
			if len(sink.batches) != 0 {
				t.Fatalf("Run failed (%v) after sending %d batches", err, len(sink.batches))
			}
			return // a bad header: nothing read
		}
		if sum.Read != sum.Accepted+sum.Rejected+sum.Merged {
			t.Fatalf("summary %+v: read != accepted + rejected + merged", sum)
		}
		// A record whose id repeats may be sent twice (again with its
		// rows' indicators combined); it is still one record.
		recs := sink.records()
		distinct := map[keys.Ref]bool{}
		for _, r := range recs {
			distinct[r.Ref] = true
		}
		if sum.Sent != len(distinct) || sum.Accepted != len(distinct) {
			t.Fatalf("summary %+v, %d distinct records sent", sum, len(distinct))
		}
		refs := make([]keys.Ref, len(recs))
		kindOf := map[keys.Token]matchkey.Kind{}
		for i, r := range recs {
			refs[i] = r.Ref
			if len(r.Tokens) == 0 {
				t.Fatalf("record %d has no tokens", i)
			}
			for _, tok := range r.Tokens {
				if prev, ok := kindOf[tok.Value]; ok && prev != tok.Kind {
					t.Fatalf("one token value under kinds %s and %s", prev, tok.Kind)
				}
				kindOf[tok.Value] = tok.Kind
			}
		}
		found, unknown, err := vault.Resolve(context.Background(), refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(unknown) != 0 {
			t.Fatalf("%d records sent are not in the vault", len(unknown))
		}
		for ref, p := range found {
			if p.RecordID == "" || k.Local.Ref(p.RecordID) != ref {
				t.Fatalf("vault entry %q is not under its record id's reference", p.RecordID)
			}
		}
	})
}

// FuzzReceiptFileName checks that any batch id gives a plain file name in
// the receipts directory, and that safe ids keep their name.
func FuzzReceiptFileName(f *testing.F) {
	for _, s := range []string{"run-000001", "../x", ".", "", "a/b\\c", "naïve", "..json"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name := ReceiptFileName(id)
		base := strings.TrimSuffix(name, ".json")
		if !strings.HasSuffix(name, ".json") || len(base) != max(len(id), 1) || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
			t.Fatalf("ReceiptFileName(%q) = %q", id, name)
		}
		for _, c := range []byte(base) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("ReceiptFileName(%q) = %q holds %q", id, name, c)
			}
		}
		// Idempotent: a name's own base maps to itself.
		if again := ReceiptFileName(base); again != name {
			t.Fatalf("ReceiptFileName(%q) = %q, then %q", id, name, again)
		}
	})
}
