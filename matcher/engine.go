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
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
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
	recs, _, err := loadRecords(ctx, st)
	if err != nil {
		return nil, err
	}
	return ClusterRecords(ctx, recs, rs, cfg)
}

// loadRecords reads every unexpired record of the epoch in force, and
// returns the earliest expiry among them (zero if none expires).
func loadRecords(ctx context.Context, st *store.Store) ([]store.Record, time.Time, error) {
	var recs []store.Record
	var earliest time.Time
	err := st.ForEachRecord(ctx, func(r store.Record) error {
		recs = append(recs, r)
		if !r.Expires.IsZero() && (earliest.IsZero() || r.Expires.Before(earliest)) {
			earliest = r.Expires
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("matcher: load records: %w", err)
	}
	return recs, earliest, nil
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
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Source != recs[j].Source {
			return recs[i].Source < recs[j].Source
		}
		return bytes.Compare(recs[i].Ref[:], recs[j].Ref[:]) < 0
	})
	res, err := linkage.Link(recs, cfg)
	if err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("matcher: %w", err)
	}

	// Records per person and persons per household, in ascending order
	// (recs is sorted, so each person's records are in (source, ref) order).
	personRecs := make([][]int, res.Persons)
	for i, p := range res.PersonOf {
		personRecs[p] = append(personRecs[p], i)
	}
	hhPersons := make([][]int, res.Households)
	for p, h := range res.HouseholdOf {
		hhPersons[h] = append(hhPersons[h], p)
	}
	c := &Clustering{Link: res, RuleSetVersion: rs.Version(), Records: make([]Assignment, len(recs)), Households: make([]Household, res.Households)}
	personID := make([]string, res.Persons)
	for p, ri := range personRecs {
		personID[p] = "P-" + memberHash(personIDLabel, recs, ri)
	}
	for h, ps := range hhPersons {
		if h%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("matcher: %w", err)
			}
		}
		var ri []int
		f := rules.Facts{Count: map[string]int{}, Members: len(ps), Sources: map[string]int{}}
		for _, p := range ps {
			ri = append(ri, personRecs[p]...)
			seenInd, seenSrc := map[string]bool{}, map[string]bool{}
			for _, i := range personRecs[p] {
				r := &recs[i]
				if !seenSrc[r.Source] {
					seenSrc[r.Source] = true
					f.Sources[r.Source]++
				}
				for name, v := range r.Indicators {
					if v && !seenInd[name] {
						seenInd[name] = true
						f.Count[name]++
					}
				}
			}
		}
		sort.Slice(ri, func(a, b int) bool { return lessRec(&recs[ri[a]], &recs[ri[b]]) })
		out, err := rs.Evaluate(f)
		if err != nil {
			return nil, fmt.Errorf("matcher: household %d: %w", h, err)
		}
		hh := Household{ID: "H-" + memberHash(householdIDLabel, recs, ri), Persons: ps, Members: map[string][][16]byte{}, Facts: f, Outcome: out}
		for _, i := range ri {
			hh.Members[recs[i].Source] = append(hh.Members[recs[i].Source], recs[i].Ref)
		}
		c.Households[h] = hh
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

// memberHash returns 16 hex digits (64 bits) of SHA-256 over label and
// the member records' (source, ref), given in (source, ref) order, each
// as uvarint(len(source)) source ref. 64 bits keep collisions unlikely
// (about 3 in 10^8 for a million households) while ids stay short.
func memberHash(label string, recs []store.Record, idx []int) string {
	h := sha256.New()
	h.Write([]byte(label))
	var lb [binary.MaxVarintLen64]byte
	for _, i := range idx {
		r := &recs[i]
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(r.Source)))])
		h.Write([]byte(r.Source))
		h.Write(r.Ref[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// LinkRun clusters every stored record of the key epoch in force (the
// store reads no other), stores the run (flagged households, review items,
// link statistics) as the epoch's latest and returns it. now is the start
// time and determines the run ID. The run expires when the first of the
// records it was computed from does (Run.Expires), if not sooner.
func LinkRun(ctx context.Context, st *store.Store, rs *rules.RuleSet, cfg linkage.Config, now time.Time) (store.Run, error) {
	t0 := time.Now()
	recs, earliest, err := loadRecords(ctx, st)
	if err != nil {
		return store.Run{}, err
	}
	c, err := ClusterRecords(ctx, recs, rs, cfg)
	if err != nil {
		return store.Run{}, err
	}
	run := NewRun(c, now)
	run.Epoch = st.Epoch()
	run.Expires = earliest
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
	for _, it := range c.Link.Review {
		reason := fmt.Sprintf("shared by %d records, more than one person may have", it.Records)
		if in, _ := matchkey.Lookup(it.Kind); in.Class == matchkey.Address || in.Class == matchkey.Group {
			reason = fmt.Sprintf("shared by %d persons, more than one household may have (hostel, care home or placeholder?)", it.Persons)
		}
		run.Review = append(run.Review, store.ReviewItem{Kind: it.Kind, Reason: reason, Source: it.Source, Records: it.Records, Persons: it.Persons})
	}
	return run
}
