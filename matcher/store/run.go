package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tfmatch/matchkey"
)

// Run is the persisted result of one link run.
type Run struct {
	ID string
	// Epoch is the key epoch of the records linked.
	Epoch          uint32
	Started        time.Time
	Finished       time.Time
	RuleSetVersion string
	Records        int // records linked
	Persons        int // person clusters found
	Households     int // households found
	Flagged        []FlaggedHousehold
	// Review lists tokens that were not used for linking because too many
	// records or persons share them (hostels, placeholder values).
	Review []ReviewItem
	// LinksByKind counts the unions each token kind made, person and
	// household level.
	LinksByKind map[matchkey.Kind]int
	// Blocked counts the unions each linkage guard refused, by guard name.
	Blocked map[string]int
	// Expires is when the earliest-expiring record the run was computed
	// from expires (zero: none expires). The run is kept no longer.
	Expires time.Time
}

// FlaggedHousehold is a household that met a rule.
type FlaggedHousehold struct {
	ID       string          // stable opaque household id
	Rule     string          // the first rule that held
	Criteria map[string]bool // every criterion's value
	// Members lists the member records' refs by source.
	Members map[string][][16]byte
}

// ReviewItem is a token left out of linking for a person to review.
type ReviewItem struct {
	Kind    matchkey.Kind
	Reason  string // why it was left out, for people
	Source  string // set for group kinds, which are scoped to one source
	Records int    // records carrying the token
	Persons int    // distinct persons carrying the token
}

// runJSON is the stored form of a Run: JSON (runs are small, rare and
// read by people), with refs in hex. Version 1.
type runJSON struct {
	V              int                   `json:"v"`
	ID             string                `json:"id"`
	Epoch          uint32                `json:"epoch"`
	Expires        time.Time             `json:"expires,omitzero"`
	Started        time.Time             `json:"started"`
	Finished       time.Time             `json:"finished"`
	RuleSetVersion string                `json:"rule_set_version"`
	Records        int                   `json:"records"`
	Persons        int                   `json:"persons"`
	Households     int                   `json:"households"`
	Flagged        []flaggedJSON         `json:"flagged,omitempty"`
	Review         []ReviewItem          `json:"review,omitempty"`
	LinksByKind    map[matchkey.Kind]int `json:"links_by_kind,omitempty"`
	Blocked        map[string]int        `json:"blocked,omitempty"`
}

type flaggedJSON struct {
	ID       string              `json:"id"`
	Rule     string              `json:"rule"`
	Criteria map[string]bool     `json:"criteria"`
	Members  map[string][]string `json:"members"`
}

const runVersion = 1

func encodeRun(r Run) ([]byte, error) {
	j := runJSON{V: runVersion, ID: r.ID, Epoch: r.Epoch, Expires: r.Expires, Started: r.Started, Finished: r.Finished,
		RuleSetVersion: r.RuleSetVersion, Records: r.Records, Persons: r.Persons,
		Households: r.Households, Review: r.Review, LinksByKind: r.LinksByKind, Blocked: r.Blocked}
	for _, f := range r.Flagged {
		fj := flaggedJSON{ID: f.ID, Rule: f.Rule, Criteria: f.Criteria, Members: map[string][]string{}}
		for src, refs := range f.Members {
			hs := make([]string, len(refs))
			for i, ref := range refs {
				hs[i] = hex.EncodeToString(ref[:])
			}
			fj.Members[src] = hs
		}
		j.Flagged = append(j.Flagged, fj)
	}
	return json.Marshal(j)
}

func decodeRun(b []byte) (Run, error) {
	var j runJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Run{}, fmt.Errorf("decode run: %w", err)
	}
	if j.V != runVersion {
		return Run{}, fmt.Errorf("decode run: unknown version %d", j.V)
	}
	r := Run{ID: j.ID, Epoch: j.Epoch, Expires: j.Expires, Started: j.Started, Finished: j.Finished, RuleSetVersion: j.RuleSetVersion,
		Records: j.Records, Persons: j.Persons, Households: j.Households, Review: j.Review,
		LinksByKind: j.LinksByKind, Blocked: j.Blocked}
	for _, fj := range j.Flagged {
		f := FlaggedHousehold{ID: fj.ID, Rule: fj.Rule, Criteria: fj.Criteria, Members: map[string][][16]byte{}}
		for src, hs := range fj.Members {
			refs := make([][16]byte, len(hs))
			for i, h := range hs {
				b, err := hex.DecodeString(h)
				if err != nil || len(b) != 16 {
					return Run{}, errors.New("decode run: bad member ref")
				}
				copy(refs[i][:], b)
			}
			f.Members[src] = refs
		}
		r.Flagged = append(r.Flagged, f)
	}
	return r, nil
}

// PutRun stores a link run of the epoch in force and makes it the
// epoch's latest. Run IDs are unique: storing a second run with an
// existing ID fails. The run (and the latest-run pointer) expire after the
// retention period, or at run.Expires if that is sooner. run.Epoch is
// set to the store's epoch.
func (s *Store) PutRun(ctx context.Context, run Run) error {
	if run.ID == "" || len(run.ID) > MaxBatchIDLen {
		return fmt.Errorf("store: put run: %w: run id must be 1-%d bytes", ErrInvalid, MaxBatchIDLen)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put run: %w", err)
	}
	run.Epoch = s.epoch
	v, err := encodeRun(run)
	if err != nil {
		return fmt.Errorf("store: put run: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.db.Update(func(txn *badger.Txn) error {
		k := runKey(s.epoch, run.ID)
		if _, err := txn.Get(k); err == nil {
			return fmt.Errorf("%w: run %q already stored", ErrInvalid, run.ID)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		exp := s.expiry(run.Expires)
		if err := txn.SetEntry(&badger.Entry{Key: k, Value: v, ExpiresAt: exp}); err != nil {
			return err
		}
		return txn.SetEntry(&badger.Entry{Key: latestRunKey(s.epoch), Value: []byte(run.ID), ExpiresAt: exp})
	})
	if err != nil {
		return fmt.Errorf("store: put run: %w", err)
	}
	return nil
}

// LatestRun returns the run of the epoch in force stored last, or an
// error wrapping ErrNoRun.
func (s *Store) LatestRun(ctx context.Context) (Run, error) {
	var id []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(latestRunKey(s.epoch))
		if err != nil {
			return err
		}
		id, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Run{}, fmt.Errorf("store: latest run: %w", ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: latest run: %w", err)
	}
	return s.Run(ctx, string(id))
}

// Run returns the run of the epoch in force with the given ID, or an
// error wrapping ErrNoRun (also for a run of another epoch).
func (s *Store) Run(ctx context.Context, id string) (Run, error) {
	if err := ctx.Err(); err != nil {
		return Run{}, fmt.Errorf("store: run: %w", err)
	}
	var run Run
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(runKey(s.epoch, id))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			var err error
			run, err = decodeRun(v)
			return err
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Run{}, fmt.Errorf("store: run %q: %w", id, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: run %q: %w", id, err)
	}
	return run, nil
}
