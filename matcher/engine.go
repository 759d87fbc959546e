// Package matcher ties the matcher's engine together: it loads the
// records from the token store, links them into persons and households
// (package linkage), evaluates the programme's rules for every household
// (package rules) and persists each link run's results in the store.
//
// Cluster gives the full assignment of every record to a person and a
// household, for one-process evaluation against known truth; LinkRun does
// the same and stores the flagged households as a store.Run. Both share
// all code.
package matcher

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// Domain-separation labels of the derived ids. Changing one changes every
// id, so they are frozen.
const (
	personIDLabel    = "tfmatch/v1/person-id"
	householdIDLabel = "tfmatch/v1/household-id"
)

// Assignment places one record in a person and a household.
type Assignment struct {
	Source      string
	Ref         [16]byte
	Person      int    // dense person index (linkage.Result.PersonOf)
	PersonID    string // stable opaque id: "P-" + 16 hex digits
	Household   int    // dense household index
	HouseholdID string // stable opaque id: "H-" + 16 hex digits
}

// Household is one household and its rule outcome.
type Household struct {
	ID      string
	Persons []int                 // dense person indices, ascending
	Members map[string][][16]byte // source -> member record refs, sorted
	Facts   rules.Facts
	Outcome rules.Outcome
}

// Clustering is the result of linking every record and evaluating the
// rules on every household.
type Clustering struct {
	// Records holds one assignment per record, sorted by (source, ref).
	Records []Assignment
	// Households is indexed by the dense household index.
	Households []Household
	// Link is linkage's result; its record indices follow Records.
	Link           *linkage.Result
	RuleSetVersion string
}

// Lookup returns the assignment of the record (source, ref).
func (c *Clustering) Lookup(source string, ref [16]byte) (Assignment, bool) {
	i := sort.Search(len(c.Records), func(i int) bool {
		r := &c.Records[i]
		if r.Source != source {
			return r.Source >= source
		}
		return bytes.Compare(r.Ref[:], ref[:]) >= 0
	})
	if i < len(c.Records) && c.Records[i].Source == source && c.Records[i].Ref == ref {
		return c.Records[i], true
	}
	return Assignment{}, false
}

// Flagged returns the households a rule flagged, sorted by ID.
func (c *Clustering) Flagged() []Household {
	var out []Household
	for _, h := range c.Households {
		if h.Outcome.Rule != "" {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Cluster loads every record of the key epoch in force from st and
// clusters them (see ClusterRecords).
func Cluster(ctx context.Context, st *store.Store, rs *rules.RuleSet, cfg linkage.Config) (*Clustering, error) {
	var recs []store.Record
	err := st.ForEachRecord(ctx, func(r store.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("matcher: load records: %w", err)
	}
	return ClusterRecords(ctx, recs, rs, cfg)
}

// ClusterRecords links recs into persons and households and evaluates rs
// on every household. A household's count of an indicator is the number
// of its persons for whom any of their records has the indicator true;
// its sources count is the number of its persons known to each source.
// recs is sorted in place by (source, ref).
func ClusterRecords(ctx context.Context, recs []store.Record, rs *rules.RuleSet, cfg linkage.Config) (*Clustering, error) {
	if rs == nil {
		return nil, errors.New("matcher: no rule set")
	}
	sort.Slice(recs, func(i, j int) bool { return lessRec(&recs[i], &recs[j]) })
	in := newLinkInput()
	for i := range recs {
		r := &recs[i]
		if err := in.add(r.Source, r.Ref, r.Filter, r.Tokens, r.Indicators); err != nil {
			return nil, fmt.Errorf("matcher: %w", err)
		}
	}
	res, err := in.b.Link(cfg)
	if err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}
	c := &Clustering{Link: res, RuleSetVersion: rs.Version(), Records: make([]Assignment, len(recs)), Households: make([]Household, res.Households)}
	personID := make([]string, res.Persons)
	err = in.households(ctx, res, rs, func(h int, hh *household) error {
		out := Household{ID: hh.id(), Persons: make([]int, len(hh.persons)), Members: hh.members(), Facts: rules.Facts{
			Count: maps.Clone(hh.facts.Count), Members: hh.facts.Members, Sources: maps.Clone(hh.facts.Sources),
		}, Outcome: rules.Outcome{Criteria: maps.Clone(hh.outcome.Criteria), Rule: hh.outcome.Rule}}
		for i, p := range hh.persons {
			out.Persons[i] = int(p)
			personID[p] = "P-" + in.memberHash(personIDLabel, hh.personRecs(i))
		}
		c.Households[h] = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, r := range recs {
		p := res.PersonOf[i]
		h := res.HouseholdOf[p]
		c.Records[i] = Assignment{Source: r.Source, Ref: r.Ref, Person: p, PersonID: personID[p], Household: h, HouseholdID: c.Households[h].ID}
	}
	return c, nil
}

func lessRec(a, b *store.Record) bool {
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	return bytes.Compare(a.Ref[:], b.Ref[:]) < 0
}

// linkInput is what the engine keeps of every record besides what the
// linker keeps: the set of indicators it has true, as an index into a
// table of distinct sets (there are few). Records are read straight into
// it, so neither the link run nor the linker holds a decoded record.
type linkInput struct {
	b       *linkage.Builder
	indSet  []int32          // record -> index in sets
	sets    [][]int32        // distinct sets of true indicators, as name ids ascending
	setID   map[string]int32 // set (name ids as bytes) -> index in sets
	names   []string         // indicator name id -> name
	nameID  map[string]int32
	scratch []int32
	key     []byte
	// earliest is the earliest expiry among the records (zero if none).
	earliest time.Time
	perRange int // households whose facts are found together
}

func newLinkInput() *linkInput {
	return &linkInput{b: linkage.NewBuilder(), setID: map[string]int32{}, nameID: map[string]int32{}, perRange: householdsPerRange}
}

func (in *linkInput) add(source string, ref [16]byte, filter []byte, toks []store.Token, ind map[string]bool) error {
	if _, err := in.b.Add(source, ref, filter); err != nil {
		return err
	}
	for j := range toks {
		if err := in.b.AddToken(toks[j].Kind, &toks[j].Value); err != nil {
			return err
		}
	}
	in.scratch = in.scratch[:0]
	for name, v := range ind {
		if v {
			in.scratch = append(in.scratch, in.indicator([]byte(name)))
		}
	}
	in.addSet()
	return nil
}

func (in *linkInput) addView(v *store.RecordView) error {
	if _, err := in.b.AddBytes(v.Source, v.Ref, v.Filter); err != nil {
		return err
	}
	var err error
	v.ForEachToken(func(kind matchkey.Kind, value *[store.TokenLen]byte) {
		if err == nil {
			err = in.b.AddToken(kind, value)
		}
	})
	if err != nil {
		return err
	}
	in.scratch = in.scratch[:0]
	v.ForEachIndicator(func(name []byte, val bool) {
		if val {
			in.scratch = append(in.scratch, in.indicator(name))
		}
	})
	in.addSet()
	if !v.Expires.IsZero() && (in.earliest.IsZero() || v.Expires.Before(in.earliest)) {
		in.earliest = v.Expires
	}
	return nil
}

func (in *linkInput) indicator(name []byte) int32 {
	id, ok := in.nameID[string(name)]
	if !ok {
		id = int32(len(in.names))
		in.names = append(in.names, string(name))
		in.nameID[string(name)] = id
	}
	return id
}

// addSet files in.scratch as the record's set of true indicators.
func (in *linkInput) addSet() {
	slices.Sort(in.scratch)
	in.key = in.key[:0]
	for _, id := range in.scratch {
		in.key = binary.AppendUvarint(in.key, uint64(id))
	}
	id, ok := in.setID[string(in.key)]
	if !ok {
		id = int32(len(in.sets))
		in.sets = append(in.sets, slices.Clone(in.scratch))
		in.setID[string(in.key)] = id
	}
	in.indSet = append(in.indSet, id)
}

// household is one household as the engine walks them: its persons, its
// records, its facts and its rules' outcome.
type household struct {
	in      *linkInput
	idx     *memberIndex
	persons []int32 // ascending
	recs    []int32 // member records (input indices), once sorted is set
	sorted  bool    // recs are the members' records in (source, ref) order
	buf     []int32 // the records of a household of several persons
	// facts and outcome are shared by every household with the same
	// facts (see factsMemo): a caller that keeps them copies them.
	facts   rules.Facts
	outcome rules.Outcome
}

// memberIndex finds the records of each person and the persons of each
// household of a linkage result.
type memberIndex struct {
	// Records per person and persons per household, as offsets into one
	// flat slice each: records in (source, ref) order, persons
	// ascending.
	recStart, byPerson []int32
	hhStart, byHouse   []int32
	rank               []int32 // input index -> place in (source, ref) order
}

func newMemberIndex(res *linkage.Result, order []int32) *memberIndex {
	x := &memberIndex{recStart: make([]int32, res.Persons+1), byPerson: make([]int32, len(order))}
	for _, p := range res.PersonOf {
		x.recStart[p+1]++
	}
	for p := range res.Persons {
		x.recStart[p+1] += x.recStart[p]
	}
	fill := slices.Clone(x.recStart[:res.Persons])
	for _, i := range order {
		p := res.PersonOf[i]
		x.byPerson[fill[p]] = i
		fill[p]++
	}
	x.hhStart = make([]int32, res.Households+1)
	for _, h := range res.HouseholdOf {
		x.hhStart[h+1]++
	}
	for h := range res.Households {
		x.hhStart[h+1] += x.hhStart[h]
	}
	x.byHouse = make([]int32, res.Persons)
	fill = slices.Clone(x.hhStart[:res.Households])
	for p, h := range res.HouseholdOf {
		x.byHouse[fill[h]] = int32(p)
		fill[h]++
	}
	x.rank = make([]int32, len(order))
	for c, i := range order {
		x.rank[i] = int32(c)
	}
	return x
}

// persons returns household h's persons, ascending.
func (x *memberIndex) persons(h int) []int32 { return x.byHouse[x.hhStart[h]:x.hhStart[h+1]] }

// recs returns person p's records, in (source, ref) order.
func (x *memberIndex) recs(p int32) []int32 { return x.byPerson[x.recStart[p]:x.recStart[p+1]] }

// sortedRecs returns the member records in (source, ref) order.
func (hh *household) sortedRecs() []int32 {
	if !hh.sorted {
		hh.buf = hh.buf[:0]
		for _, p := range hh.persons {
			hh.buf = append(hh.buf, hh.idx.recs(p)...)
		}
		rank := hh.idx.rank
		slices.SortFunc(hh.buf, func(a, b int32) int { return cmp.Compare(rank[a], rank[b]) })
		hh.recs, hh.sorted = hh.buf, true
	}
	return hh.recs
}

func (hh *household) id() string { return "H-" + hh.in.memberHash(householdIDLabel, hh.sortedRecs()) }

// personRecs returns the records of hh.persons[i], in (source, ref) order.
func (hh *household) personRecs(i int) []int32 { return hh.idx.recs(hh.persons[i]) }

// members returns the member records' refs by source, each sorted.
func (hh *household) members() map[string][][16]byte {
	m := map[string][][16]byte{}
	for _, i := range hh.sortedRecs() {
		src := hh.in.b.Source(int(i))
		m[src] = append(m[src], hh.in.b.Ref(int(i)))
	}
	return m
}

// factsMemo keeps the rules' outcome for each distinct set of household
// facts. Rules are pure functions of the facts, and most households share
// theirs with many others (a person alone known to one agency, say), so
// a link run evaluates each distinct set once.
type factsMemo struct {
	byKey    map[string]int32 // facts encoded by factsKey -> index
	facts    []rules.Facts
	outcomes []rules.Outcome
}

// factsKeys are the facts of a range of households, each encoded by
// factsKey: household i of the range's is keys[end[i-1]:end[i]].
type factsKeys struct {
	keys []byte
	end  []int32
}

// householdsPerRange is how many households' facts are found together
// (linkInput.perRange, which tests make smaller).
const householdsPerRange = 1 << 14

// households evaluates rs on every household of res in turn, in household
// order, and calls fn with each. hh is reused between calls. The facts
// of every household are found first, for ranges of households on as
// many goroutines as may run; the rules are then evaluated in household
// order, once per distinct set of facts.
func (in *linkInput) households(ctx context.Context, res *linkage.Result, rs *rules.RuleSet, fn func(h int, hh *household) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("matcher: %w", err)
	}
	idx := newMemberIndex(res, in.b.Order())
	per := in.perRange
	ranges := make([]factsKeys, (res.Households+per-1)/per)
	next := make(chan int, len(ranges))
	for r := range ranges {
		next <- r
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ranges)) {
		wg.Go(func() {
			seenInd := make([]bool, len(in.names))
			count := make([]int, len(in.names))       // indicator name id -> members with it
			sources := make([]int, in.b.NumSources()) // source index -> members known to it
			for r := range next {
				fk := &ranges[r]
				for h := r * per; h < min(res.Households, (r+1)*per); h++ {
					clear(count)
					clear(sources)
					persons := idx.persons(h)
					for _, p := range persons {
						clear(seenInd)
						prevSrc := -1
						for _, i := range idx.recs(p) {
							// A person's records are in (source, ref)
							// order, so each source's come together.
							if src := in.b.SourceIndex(int(i)); src != prevSrc {
								prevSrc = src
								sources[src]++
							}
							for _, id := range in.sets[in.indSet[i]] {
								if !seenInd[id] {
									seenInd[id] = true
									count[id]++
								}
							}
						}
					}
					fk.keys = factsKey(fk.keys, len(persons), count, sources)
					fk.end = append(fk.end, int32(len(fk.keys)))
				}
			}
		})
	}
	wg.Wait()
	hh := &household{in: in, idx: idx}
	memo := factsMemo{byKey: map[string]int32{}}
	for h := range res.Households {
		if h%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("matcher: %w", err)
			}
		}
		fk, i := &ranges[h/per], h%per
		from := int32(0)
		if i > 0 {
			from = fk.end[i-1]
		}
		key := fk.keys[from:fk.end[i]]
		m, ok := memo.byKey[string(key)]
		if !ok {
			f := in.factsOf(key)
			out, err := rs.Evaluate(f)
			if err != nil {
				return fmt.Errorf("matcher: household %d: %w", h, err)
			}
			m = int32(len(memo.facts))
			memo.byKey[string(key)] = m
			memo.facts = append(memo.facts, f)
			memo.outcomes = append(memo.outcomes, out)
		}
		hh.persons = idx.persons(h)
		hh.recs, hh.sorted = nil, false
		if len(hh.persons) == 1 {
			// A person's records are in order already.
			hh.recs, hh.sorted = idx.recs(hh.persons[0]), true
		}
		hh.facts, hh.outcome = memo.facts[m], memo.outcomes[m]
		if err := fn(h, hh); err != nil {
			return err
		}
	}
	return nil
}

// factsKey appends to key an encoding of a household's facts: its
// members, then how many indicators have a count that is not zero and
// each of them (id and count), then the same of the sources (index and
// count).
func factsKey(key []byte, members int, count, sources []int) []byte {
	key = binary.AppendUvarint(key, uint64(members))
	for _, list := range [][]int{count, sources} {
		nonzero := 0
		for _, n := range list {
			if n > 0 {
				nonzero++
			}
		}
		key = binary.AppendUvarint(key, uint64(nonzero))
		for id, n := range list {
			if n > 0 {
				key = binary.AppendUvarint(key, uint64(id))
				key = binary.AppendUvarint(key, uint64(n))
			}
		}
	}
	return key
}

// factsOf decodes the facts that factsKey encoded as key.
func (in *linkInput) factsOf(key []byte) rules.Facts {
	next := func() int {
		v, n := binary.Uvarint(key)
		key = key[n:]
		return int(v)
	}
	f := rules.Facts{Count: map[string]int{}, Members: next(), Sources: map[string]int{}}
	for range next() {
		id := next()
		f.Count[in.names[id]] = next()
	}
	for range next() {
		src := next()
		f.Sources[in.b.SourceName(src)] = next()
	}
	return f
}

// memberHash returns 16 hex digits (64 bits) of SHA-256 over label and
// the member records' (source, ref), given in (source, ref) order, each
// as uvarint(len(source)) source ref. 64 bits keep collisions unlikely
// (about 3 in 10^8 for a million households) while ids stay short.
func (in *linkInput) memberHash(label string, idx []int32) string {
	h := sha256.New()
	h.Write([]byte(label))
	var lb [binary.MaxVarintLen64]byte
	for _, i := range idx {
		src := in.b.Source(int(i))
		ref := in.b.Ref(int(i))
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(src)))])
		h.Write([]byte(src))
		h.Write(ref[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// LinkRun clusters every stored record of the key epoch in force (the
// store reads no other), stores the run (flagged households, review items,
// link statistics) as the epoch's latest and returns it. now is the start
// time and determines the run ID. The run expires when the first of the
// records it was computed from does (Run.Expires), if not sooner.
//
// It gives the run ClusterRecords would, but keeps no more than it needs:
// the records are read from the store in place into the linker's compact
// form, and of the households only the flagged ones are kept.
func LinkRun(ctx context.Context, st *store.Store, rs *rules.RuleSet, cfg linkage.Config, now time.Time) (store.Run, error) {
	if rs == nil {
		return store.Run{}, errors.New("matcher: no rule set")
	}
	t0 := time.Now()
	in := newLinkInput()
	if err := st.ForEachRecordView(ctx, in.addView); err != nil {
		return store.Run{}, fmt.Errorf("matcher: load records: %w", err)
	}
	res, err := in.b.Link(cfg)
	if err != nil {
		return store.Run{}, fmt.Errorf("matcher: %w", err)
	}
	now = now.UTC()
	run := store.Run{
		ID:             "R-" + now.Format("20060102T150405.000000000Z"),
		Started:        now,
		RuleSetVersion: rs.Version(),
		Records:        in.b.Len(),
		Persons:        res.Persons,
		Households:     res.Households,
		LinksByKind:    res.LinksByKind,
		Blocked:        res.Blocked,
		Review:         reviewItems(res),
		Epoch:          st.Epoch(),
		Expires:        in.earliest,
	}
	err = in.households(ctx, res, rs, func(_ int, hh *household) error {
		if hh.outcome.Rule != "" {
			run.Flagged = append(run.Flagged, store.FlaggedHousehold{ID: hh.id(), Rule: hh.outcome.Rule, Criteria: maps.Clone(hh.outcome.Criteria), Members: hh.members()})
		}
		return nil
	})
	if err != nil {
		return store.Run{}, err
	}
	sort.Slice(run.Flagged, func(i, j int) bool { return run.Flagged[i].ID < run.Flagged[j].ID })
	run.Finished = now.Add(time.Since(t0))
	if err := st.PutRun(ctx, run); err != nil {
		return store.Run{}, fmt.Errorf("matcher: %w", err)
	}
	return run, nil
}

// NewRun summarises a clustering as a run started at now (Finished is
// set to now; LinkRun sets the real end).
func NewRun(c *Clustering, now time.Time) store.Run {
	now = now.UTC()
	run := store.Run{
		ID:             "R-" + now.Format("20060102T150405.000000000Z"),
		Started:        now,
		Finished:       now,
		RuleSetVersion: c.RuleSetVersion,
		Records:        len(c.Records),
		Persons:        c.Link.Persons,
		Households:     c.Link.Households,
		LinksByKind:    c.Link.LinksByKind,
		Blocked:        c.Link.Blocked,
	}
	for _, h := range c.Flagged() {
		run.Flagged = append(run.Flagged, store.FlaggedHousehold{ID: h.ID, Rule: h.Outcome.Rule, Criteria: h.Outcome.Criteria, Members: h.Members})
	}
	run.Review = reviewItems(c.Link)
	return run
}

// reviewItems turns linkage's skipped tokens into the run's review items.
func reviewItems(res *linkage.Result) []store.ReviewItem {
	var out []store.ReviewItem
	for _, it := range res.Review {
		reason := fmt.Sprintf("shared by %d records, more than one person may have", it.Records)
		if in, _ := matchkey.Lookup(it.Kind); in.Class == matchkey.Address || in.Class == matchkey.Group {
			reason = fmt.Sprintf("shared by %d persons, more than one household may have (hostel, care home or placeholder?)", it.Persons)
		}
		out = append(out, store.ReviewItem{Kind: it.Kind, Reason: reason, Source: it.Source, Records: it.Records, Persons: it.Persons})
	}
	return out
}
