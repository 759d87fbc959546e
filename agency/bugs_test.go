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
// per claim, per exclusion). Run gives them one reference, so they must not
// reach the matcher as two records in one batch (the matcher refuses the
// whole batch, and so the whole run fails) nor silently replace each other
// across batches.
func TestRunDuplicateRecordID(t *testing.T) {
	const extract = "CASE_ID,FORENAME,SURNAME,BIRTH_DATE,NI_NUMBER,ADDRESS,POSTCODE,TENANCY_REF,CONCERN\n" +
		"D1,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,N\n" +
		"D2,Bob,Lee,02/02/1988,,1 Long Road,YO1 7HH,T3,N\n" +
		"D1,Ann,Lee,01/01/1990,,1 Long Road,YO1 7HH,T3,Y\n"
	k := newKeys(t)
	for _, size := range []int{1, 100} {
		sink, st := newIngestSink(t, k)
		rejects := filepath.Join(t.TempDir(), "rejects.csv")
		sum, err := Run(context.Background(), Config{
			Mapping: loadMapping(t, runMapping), Extract: writeFile(t, "dup.csv", extract),
			AsOf: runAsOf, Keys: k, BatchSize: size, RejectsPath: rejects,
		}, openVault(t), sink)
		if err != nil {
			t.Fatalf("BatchSize %d: Run failed because of a repeated record id: %v", size, err)
		}
		c, err := st.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Accepted != c.Records {
			t.Errorf("BatchSize %d: accepted %d records, the matcher holds %d distinct", size, sum.Accepted, c.Records)
		}
		if sum.Read != sum.Accepted+sum.Rejected {
			t.Errorf("BatchSize %d: %+v: read != accepted + rejected", size, sum)
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
