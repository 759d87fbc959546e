package agency

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"tfmatch/keys"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/store"
)

// ingestSink hands batches straight to a real matcher ingester, so that a
// test sees what the matcher would make of them.
type ingestSink struct {
	in    *ingest.Ingester
	acked int
}

func (s *ingestSink) Send(ctx context.Context, b Batch) error {
	ib := ingest.Batch{Source: "housing", ID: b.ID, ISAHash: b.ISAHash[:], Epoch: b.Epoch}
	for _, r := range b.Records {
		ir := ingest.Record{Ref: append([]byte(nil), r.Ref[:]...), Indicators: r.Indicators}
		for _, t := range r.Tokens {
			ir.Tokens = append(ir.Tokens, ingest.Token{Kind: t.Kind, Value: append([]byte(nil), t.Value[:]...)})
		}
		ib.Records = append(ib.Records, ir)
	}
	res, err := s.in.Accept(ctx, ib)
	if err != nil {
		return err
	}
	s.acked += res.Records
	return nil
}

func (s *ingestSink) Close(context.Context) (int, error) { return s.acked, nil }

func newIngestSink(t *testing.T, k Keys) (*ingestSink, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bk, err := keys.NewBlindingKey()
	if err != nil {
		t.Fatal(err)
	}
	return &ingestSink{in: &ingest.Ingester{Store: st, Blinding: bk, ISAHash: k.Context.ISAHash, Epoch: k.Context.Epoch}}, st
}

// An extract often holds several rows for one record id (one per offence,
// per claim, per exclusion). Run gives them one reference, so they reach
// the matcher as one record whose indicators combine the rows' (true if
// true in any row), whatever the batch size and wherever the repeats
// fall; the repeats are counted as merged and named in the warnings.
func TestRunDuplicateRecordID(t *testing.T) {
	const extract = "CASE_ID,FORENAME,SURNAME,BIRTH_DATE,NI_NUMBER,ADDRESS,POSTCODE,TENANCY_REF,CONCERN\n" +
		"D1,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,N\n" +
		"D2,Bob,Lee,02/02/1988,,1 Long Road,YO1 7HH,T3,N\n" +
		"D1,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,Y\n" +
		"D3,Cat,Lee,03/03/1991,,1 Long Road,YO1 7HH,T3,Y\n" +
		"D3,Cat,Lee,03/03/1991,,1 Long Road,YO1 7HH,T3,N\n" +
		"D1,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,N\n" +
		// A first row that cannot be accepted: its repeat is the record.
		"D4,,,,,1 Long Road,YO1 7HH,T3,N\n" +
		"D4,Dan,Lee,04/04/1992,,1 Long Road,YO1 7HH,T3,Y\n"
	want := map[string]bool{"D1": true, "D2": false, "D3": true, "D4": true}
	k := newKeys(t)
	local, err := NewPseudonymiser(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 100} {
		sink, st := newIngestSink(t, k)
		warnings := filepath.Join(t.TempDir(), "warnings.csv")
		sum, err := Run(context.Background(), Config{
			Mapping: loadMapping(t, runMapping), Extract: writeFile(t, "dup.csv", extract),
			AsOf: runAsOf, Keys: k, BatchSize: size, WarningsPath: warnings,
		}, openVault(t), sink)
		if err != nil {
			t.Fatalf("BatchSize %d: Run failed because of a repeated record id: %v", size, err)
		}
		if sum.Read != 8 || sum.Accepted != 4 || sum.Merged != 3 || sum.Rejected != 1 || sum.Sent != 4 {
			t.Errorf("BatchSize %d: %+v, want read 8, accepted 4, merged 3, rejected 1, sent 4", size, sum)
		}
		got := map[[16]byte]bool{}
		err = st.ForEachRecord(context.Background(), func(r store.Record) error {
			got[r.Ref] = r.Indicators["local_concern"]
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Errorf("BatchSize %d: the matcher holds %d records, want 4", size, len(got))
		}
		for id, concern := range want {
			ref := local.local.Ref(id)
			if c, ok := got[ref]; !ok || c != concern {
				t.Errorf("BatchSize %d: record %s: local_concern %v (held %v), want %v", size, id, c, ok, concern)
			}
		}
		b, err := os.ReadFile(warnings)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "repeats the record id of line"); n != 4 {
			t.Errorf("BatchSize %d: %d warnings about repeated ids, want 4:\n%s", size, n, b)
		}
	}
}

// A row whose indicator cannot be evaluated is rejected. The mapping layer
// says which indicator failed (RowError.Indicator); the rejects file must
// keep that, or the agency cannot tell which rule to fix.
func TestRunRejectNamesIndicator(t *testing.T) {
	m := parseMapping(t, `version: 1
source: police
fields:
  record_id: ID
  given_name: FORENAME
  family_name: SURNAME
  dob: {column: DOB, format: "YYYY-MM-DD"}
indicators:
  local_concern: num(row.CALLOUTS) >= 3.0
`)
	rejects := filepath.Join(t.TempDir(), "rejects.csv")
	_, err := Run(context.Background(), Config{
		Mapping: m, Extract: writeFile(t, "ind.csv", "ID,FORENAME,SURNAME,DOB,CALLOUTS\nA1,Ann,Lee,1990-01-01,abc\n"),
		AsOf: runAsOf, Keys: newKeys(t), RejectsPath: rejects,
	}, openVault(t), &fakeSink{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(rejects)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rejects: %q, want one row", rows)
	}
	if !strings.Contains(strings.Join(rows[1][2:], " "), "local_concern") {
		t.Errorf("reject %q does not name the indicator local_concern", rows[1])
	}
}

// When a Send fails, Run must stop its reader before it returns: the
// reader appends to the rejects that Run then counts, sorts and writes.
// Run under -race to see the data race as well.
func TestRunStopsReaderOnFailure(t *testing.T) {
	// Three good rows, then only rejects: the worker holds a finished
	// chunk when the failure cancels the run and, half the time, quits on
	// the cancellation while the reader is deep in the rejects.
	var b strings.Builder
	b.WriteString("CASE_ID,FORENAME,SURNAME,BIRTH_DATE,NI_NUMBER,ADDRESS,POSTCODE,TENANCY_REF,CONCERN\n")
	for i := range 3 {
		fmt.Fprintf(&b, "G%d,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,N\n", i)
	}
	for i := range 30000 {
		fmt.Fprintf(&b, "X%d,Ann,Lee,99/99/1990,,1 Long Road,YO1 7HH,T3,N\n", i)
	}
	extract := writeFile(t, "big.csv", b.String())
	m := loadMapping(t, runMapping)
	k := newKeys(t)
	for try := range 10 {
		rejects := filepath.Join(t.TempDir(), "rejects.csv")
		_, err := Run(context.Background(), Config{Mapping: m, Extract: extract, AsOf: runAsOf, Keys: k,
			BatchSize: 1, Workers: 1, RejectsPath: rejects}, openVault(t), &fakeSink{failOn: 1})
		if err == nil {
			t.Fatal("Run succeeded although the sink failed")
		}
		// A goroutine that has finished its work may take a moment to
		// exit; one still reading the extract never does.
		var n int
		for wait := 0; wait < 100; wait++ {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			if n = strings.Count(stacks, "tfmatch/agency.Run.func"); n == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			t.Fatalf("try %d: %d goroutines of Run still running a second after it returned", try, n)
		}
	}
}
