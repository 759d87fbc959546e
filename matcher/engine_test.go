package matcher

import (
	"context"
	"crypto/sha256"
	"errors"
	"reflect"
	"regexp"
	"sort"
	"testing"
	"time"

	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

func tk(kind matchkey.Kind, label string) store.Token {
	h := sha256.Sum256([]byte(label))
	return store.Token{Kind: kind, Value: [store.TokenLen]byte(h[:store.TokenLen])}
}

func ref(label string) [16]byte {
	var r [16]byte
	h := sha256.Sum256([]byte("ref:" + label))
	copy(r[:], h[:])
	return r
}

type person struct {
	name, addr string
	seen       map[string][]string // source -> indicators true there
}

// district builds per-source records: each person has a name_dob token
// and an address token in every source that knows them.
func district(people []person) map[string][]store.Record {
	out := map[string][]store.Record{}
	for _, p := range people {
		for src, inds := range p.seen {
			r := store.Record{Source: src, Ref: ref(src + "/" + p.name),
				Tokens:     []store.Token{tk(matchkey.NameDOB, p.name), tk(matchkey.AddressLine, p.addr)},
				Indicators: map[string]bool{}}
			for _, in := range inds {
				r.Indicators[in] = true
			}
			out[src] = append(out[src], r)
		}
	}
	return out
}

var people = []person{
	// Household "a": all three.
	{"mum-a", "1 a st", map[string][]string{"dwp": {"work"}, "council": nil}},
	{"kid-a", "1 a st", map[string][]string{"school": {"education"}, "police": {"crime_asb"}}},
	// Household "b": crime and work plus local concern.
	{"dad-b", "2 b st", map[string][]string{"dwp": {"work"}, "police": {"crime_asb"}}},
	{"mum-b", "2 b st", map[string][]string{"council": {"local_concern"}}},
	// Household "c": two criteria, no local concern.
	{"dad-c", "3 c st", map[string][]string{"dwp": {"work"}}},
	{"kid-c", "3 c st", map[string][]string{"school": {"education"}}},
	// Household "d": nothing.
	{"gran-d", "4 d st", map[string][]string{"council": nil}},
}

func load(t *testing.T, st *store.Store) {
	t.Helper()
	recs := district(people)
	srcs := make([]string, 0, len(recs))
	for s := range recs {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, s := range srcs {
		if _, err := st.PutBatch(context.Background(), s, "batch-1", recs[s]); err != nil {
			t.Fatal(err)
		}
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open("", store.Options{InMemory: true, MemTableSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLinkRun(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	load(t, st)
	now := time.Date(2026, 10, 31, 9, 0, 0, 0, time.UTC)
	run, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != "R-20261031T090000.000000000Z" || run.RuleSetVersion != "phase1-2012" {
		t.Errorf("run id %q version %q", run.ID, run.RuleSetVersion)
	}
	if run.Records != 10 || run.Persons != 7 || run.Households != 4 {
		t.Errorf("records %d persons %d households %d, want 10 7 4", run.Records, run.Persons, run.Households)
	}
	if run.LinksByKind[matchkey.NameDOB] != 3 || run.LinksByKind[matchkey.AddressLine] != 3 {
		t.Errorf("LinksByKind = %v", run.LinksByKind)
	}
	got := map[string]store.FlaggedHousehold{}
	for _, f := range run.Flagged {
		got[f.Rule] = f
		if !regexp.MustCompile(`^H-[0-9a-f]{16}$`).MatchString(f.ID) {
			t.Errorf("household id %q", f.ID)
		}
	}
	if len(run.Flagged) != 2 {
		t.Fatalf("flagged %d households, want 2: %+v", len(run.Flagged), run.Flagged)
	}
	a := got["all_three"]
	wantA := map[string][][16]byte{"dwp": {ref("dwp/mum-a")}, "council": {ref("council/mum-a")}, "school": {ref("school/kid-a")}, "police": {ref("police/kid-a")}}
	if !reflect.DeepEqual(a.Members, wantA) {
		t.Errorf("all_three members = %v, want %v", a.Members, wantA)
	}
	if want := map[string]bool{"crime_asb": true, "education": true, "work": true, "local_concern": false}; !reflect.DeepEqual(a.Criteria, want) {
		t.Errorf("all_three criteria = %v", a.Criteria)
	}
	b := got["two_plus_local"]
	if len(b.Members["council"]) != 1 || len(b.Members["dwp"]) != 1 || len(b.Members["police"]) != 1 {
		t.Errorf("two_plus_local members = %v", b.Members)
	}

	latest, err := st.LatestRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID != run.ID || len(latest.Flagged) != 2 {
		t.Errorf("LatestRun = %+v", latest)
	}

	// A second run of the same data gives the same household ids.
	run2, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(run2.Flagged, run.Flagged) {
		t.Error("household ids or members changed between runs of the same data")
	}
	// Same start time: the run id is taken.
	if _, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, now); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("LinkRun with a used id: %v", err)
	}
}

func TestCluster(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	load(t, st)
	c, err := Cluster(ctx, st, rules.Phase1(), linkage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mumA, ok := c.Lookup("dwp", ref("dwp/mum-a"))
	if !ok {
		t.Fatal("Lookup did not find dwp/mum-a")
	}
	mumA2, _ := c.Lookup("council", ref("council/mum-a"))
	kidA, _ := c.Lookup("school", ref("school/kid-a"))
	dadB, _ := c.Lookup("dwp", ref("dwp/dad-b"))
	if mumA.PersonID != mumA2.PersonID || mumA.PersonID == kidA.PersonID {
		t.Errorf("person ids: mum %s/%s kid %s", mumA.PersonID, mumA2.PersonID, kidA.PersonID)
	}
	if mumA.HouseholdID != kidA.HouseholdID || mumA.HouseholdID == dadB.HouseholdID {
		t.Errorf("household ids: mum %s kid %s dad-b %s", mumA.HouseholdID, kidA.HouseholdID, dadB.HouseholdID)
	}
	if _, ok := c.Lookup("dwp", ref("nobody")); ok {
		t.Error("Lookup found a record that does not exist")
	}
	h := c.Households[mumA.Household]
	want := rules.Facts{Count: map[string]int{"work": 1, "education": 1, "crime_asb": 1}, Members: 2,
		Sources: map[string]int{"dwp": 1, "council": 1, "school": 1, "police": 1}}
	if !reflect.DeepEqual(h.Facts, want) {
		t.Errorf("facts = %+v, want %+v", h.Facts, want)
	}
	if len(c.Flagged()) != 2 {
		t.Errorf("Flagged() = %d households", len(c.Flagged()))
	}
}

// TestIndicatorCountsPersons checks that a person with an indicator in two
// records counts once.
func TestIndicatorCountsPersons(t *testing.T) {
	recs := []store.Record{
		{Source: "police", Ref: ref("1"), Tokens: []store.Token{tk(matchkey.NINO, "n")}, Indicators: map[string]bool{"crime_asb": true}},
		{Source: "dwp", Ref: ref("2"), Tokens: []store.Token{tk(matchkey.NINO, "n")}, Indicators: map[string]bool{"crime_asb": true, "work": false}},
	}
	c, err := ClusterRecords(context.Background(), recs, rules.Phase1(), linkage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Households) != 1 || c.Households[0].Facts.Count["crime_asb"] != 1 || c.Households[0].Facts.Count["work"] != 0 {
		t.Errorf("households = %+v", c.Households)
	}
}

func TestCanceled(t *testing.T) {
	st := openStore(t)
	load(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("LinkRun on a canceled context: %v", err)
	}
	if _, err := st.LatestRun(context.Background()); !errors.Is(err, store.ErrNoRun) {
		t.Errorf("a canceled run was stored: %v", err)
	}
}

// TestRetention proves expiry end to end on a real badger directory with a
// two-second retention: every record and receipt carries the TTL, a link
// run expires with the first of its inputs, and once the period has
// passed no read sees anything (records, counts, runs, receipts) and a
// sweep deletes it all. It waits for the expiry: about three seconds.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true, MemTableSize: 4 << 20, Retention: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	load(t, st)
	if err := st.SetBatchLogIndex(ctx, "dwp", "batch-1", 5); err != nil {
		t.Fatal(err)
	}
	run, err := LinkRun(ctx, st, rules.Phase1(), linkage.Config{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	err = st.ForEachRecord(ctx, func(r store.Record) error {
		if r.Expires.IsZero() || r.Expires.Before(run.Expires) {
			t.Errorf("record expires at %v, before its run (%v)", r.Expires, run.Expires)
		}
		if r.Expires.After(last) {
			last = r.Expires
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if run.Expires.IsZero() || time.Until(run.Expires) > 2*time.Second {
		t.Fatalf("run expires at %v, want within the two-second retention", run.Expires)
	}
	if got, err := st.LatestRun(ctx); err != nil || !got.Expires.Equal(run.Expires) || got.Records != 10 {
		t.Fatalf("stored run: %+v, %v", got, err)
	}
	if _, ok, err := st.BatchLogIndex(ctx, "dwp", "batch-1"); !ok || err != nil {
		t.Fatalf("batch log index before expiry: %v, %v", ok, err)
	}

	// Badger's expiry is in whole seconds of the wall clock.
	time.Sleep(time.Until(last.Add(time.Second)))

	if c, err := st.Counts(ctx); err != nil || c.Records != 0 || c.Batches != 0 || c.Runs != 0 {
		t.Errorf("Counts after the retention period: %+v, %v", c, err)
	}
	if eps, err := st.Epochs(ctx); err != nil || len(eps) != 0 {
		t.Errorf("Epochs after the retention period: %+v, %v", eps, err)
	}
	if c, err := Cluster(ctx, st, rules.Phase1(), linkage.Config{}); err != nil || len(c.Records) != 0 {
		t.Errorf("clustering after the retention period: %v, %v", c, err)
	}
	if _, err := st.LatestRun(ctx); !errors.Is(err, store.ErrNoRun) {
		t.Errorf("LatestRun after the retention period: %v, want ErrNoRun", err)
	}
	if _, err := st.Run(ctx, run.ID); !errors.Is(err, store.ErrNoRun) {
		t.Errorf("Run(%s) after the retention period: %v, want ErrNoRun", run.ID, err)
	}
	if _, ok, err := st.BatchLogIndex(ctx, "dwp", "batch-1"); ok || err != nil {
		t.Errorf("batch log index after the retention period: %v, %v", ok, err)
	}
	// A batch sent again after its receipt expired is stored afresh.
	if res, err := st.PutBatch(ctx, "dwp", "batch-1", district(people)["dwp"]); err != nil || res.Duplicate {
		t.Errorf("batch sent again after expiry: %+v, %v", res, err)
	}
	n := 0
	if err := st.Scan(func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := 1 + 3 + 1; n != want { // schema, dwp's three records, its receipt
		t.Errorf("Scan sees %d keys, want %d", n, want)
	}

	sw, err := st.Sweep(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The dwp records were just rewritten; the rest expired.
	want := store.Swept{Records: 7, RecordsBySource: map[string]int{"council": 3, "police": 2, "school": 2}, Batches: 3, Runs: 1}
	if !reflect.DeepEqual(sw, want) {
		t.Errorf("Sweep = %+v, want %+v", sw, want)
	}
}
