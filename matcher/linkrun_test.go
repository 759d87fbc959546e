package matcher

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// TestLinkRunMatchesCluster checks that the link run, which reads the
// records in place into a compact form and keeps only the flagged
// households, gives the run that NewRun makes of ClusterRecords.
func TestLinkRunMatchesCluster(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	district := randomDistrict()
	for s, recs := range district {
		if _, err := st.PutBatch(ctx, recs[0].Source, fmt.Sprint("b", s), recs); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Cluster(ctx, st, rules.Phase1(), linkage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// A household's facts, counted here from the records and the
	// assignments, must be its own (they are memoised per distinct set),
	// and its outcome what the rules give for them.
	want := householdFacts(t, district, c)
	rs := rules.Phase1()
	for h, hh := range c.Households {
		if got := nonZero(hh.Facts); !reflect.DeepEqual(got, want[h]) {
			t.Fatalf("household %d: facts %+v, its records give %+v", h, got, want[h])
		}
		out, err := rs.Evaluate(hh.Facts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, hh.Outcome) {
			t.Fatalf("household %d: outcome %+v, rules give %+v for its facts %+v", h, hh.Outcome, out, hh.Facts)
		}
	}
	wantRun := NewRun(c, now)
	wantRun.Epoch, wantRun.Finished = run.Epoch, run.Finished
	if len(wantRun.Flagged) == 0 {
		t.Fatal("no household flagged: the test data flag nothing")
	}
	if !reflect.DeepEqual(run, wantRun) {
		t.Errorf("LinkRun differs from NewRun(Cluster):\n got %+v\nwant %+v", run, wantRun)
	}
}

// householdFacts counts each household's facts from the records and the
// clustering's assignments, without the engine's code: its persons, the
// persons each source has a record of, and the persons with each
// indicator true in any of their records.
func householdFacts(t *testing.T, district [][]store.Record, c *Clustering) []rules.Facts {
	t.Helper()
	type key struct {
		person int
		what   string
	}
	members := make([]map[int]bool, len(c.Households))
	seen := map[key]bool{}
	out := make([]rules.Facts, len(c.Households))
	for h := range out {
		out[h] = rules.Facts{Count: map[string]int{}, Sources: map[string]int{}}
		members[h] = map[int]bool{}
	}
	for _, recs := range district {
		for _, r := range recs {
			a, ok := c.Lookup(r.Source, r.Ref)
			if !ok {
				t.Fatalf("record %s %x not in the clustering", r.Source, r.Ref)
			}
			f := &out[a.Household]
			members[a.Household][a.Person] = true
			if k := (key{a.Person, "source " + r.Source}); !seen[k] {
				seen[k] = true
				f.Sources[r.Source]++
			}
			for ind, v := range r.Indicators {
				if k := (key{a.Person, "indicator " + ind}); v && !seen[k] {
					seen[k] = true
					f.Count[ind]++
				}
			}
		}
	}
	for h := range out {
		out[h].Members = len(members[h])
	}
	return out
}

// nonZero is f with its zero counts dropped and its maps never nil.
func nonZero(f rules.Facts) rules.Facts {
	out := rules.Facts{Members: f.Members, Count: map[string]int{}, Sources: map[string]int{}}
	for k, v := range f.Count {
		if v != 0 {
			out.Count[k] = v
		}
	}
	for k, v := range f.Sources {
		if v != 0 {
			out.Sources[k] = v
		}
	}
	return out
}

// randomDistrict returns records of four sources (a batch each) about 900
// persons at about 300 addresses, with identifiers and indicators here
// and there.
func randomDistrict() [][]store.Record {
	rng := rand.New(rand.NewPCG(7, 11))
	sources := []string{"police", "dwp", "school", "council"}
	indicators := []string{"crime_asb", "work", "education", "local_concern"}
	val := func(kind string, n int) [store.TokenLen]byte {
		var v [store.TokenLen]byte
		binary.BigEndian.PutUint64(v[:8], uint64(n))
		copy(v[8:], kind)
		return v
	}
	var out [][]store.Record
	for s, src := range sources {
		var recs []store.Record
		for i := range 600 {
			p := rng.IntN(900) // person
			r := store.Record{Source: src, Indicators: map[string]bool{}}
			binary.BigEndian.PutUint64(r.Ref[:], uint64(s*1000+i))
			r.Tokens = append(r.Tokens,
				store.Token{Kind: matchkey.NameDOB, Value: val("n", p)},
				store.Token{Kind: matchkey.AddressLine, Value: val("a", p/3+rng.IntN(2))})
			if rng.IntN(4) == 0 {
				r.Tokens = append(r.Tokens, store.Token{Kind: matchkey.NINO, Value: val("i", p+rng.IntN(2))})
			}
			if rng.IntN(3) == 0 {
				r.Indicators[indicators[s]] = true
			}
			if rng.IntN(5) == 0 {
				r.Indicators[indicators[rng.IntN(4)]] = rng.IntN(2) == 0
			}
			recs = append(recs, r)
		}
		out = append(out, recs)
	}
	return out
}

// TestHouseholdsInRanges checks that the households' facts, found for
// ranges of households on as many goroutines as may run, give the same
// households, facts and outcomes with one goroutine or four and ranges of
// any size.
func TestHouseholdsInRanges(t *testing.T) {
	var recs []store.Record
	for _, batch := range randomDistrict() {
		recs = append(recs, batch...)
	}
	walk := func(procs, perRange int) []Household {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		in := newLinkInput()
		in.perRange = perRange
		for i := range recs {
			r := &recs[i]
			if err := in.add(r.Source, r.Ref, r.Filter, r.Tokens, r.Indicators); err != nil {
				t.Fatal(err)
			}
		}
		res, err := in.b.Link(linkage.Config{})
		if err != nil {
			t.Fatal(err)
		}
		var out []Household
		err = in.households(context.Background(), res, rules.Phase1(), func(_ int, hh *household) error {
			out = append(out, Household{ID: hh.id(), Members: hh.members(), Facts: hh.facts, Outcome: hh.outcome})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := walk(1, householdsPerRange)
	if len(want) < 100 {
		t.Fatalf("%d households: too few for ranges", len(want))
	}
	for _, c := range []struct{ procs, perRange int }{{1, 7}, {4, 7}, {4, 100}, {4, householdsPerRange}} {
		if got := walk(c.procs, c.perRange); !reflect.DeepEqual(got, want) {
			t.Errorf("GOMAXPROCS %d, ranges of %d households: households differ", c.procs, c.perRange)
		}
	}
}
