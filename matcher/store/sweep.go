package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Swept counts what one Sweep deleted.
type Swept struct {
	Records         int
	RecordsBySource map[string]int
	Batches         int // batch receipts
	Runs            int
}

// Total is the number of records, batch receipts and runs deleted.
func (w Swept) Total() int { return w.Records + w.Batches + w.Runs }

// Sweep deletes, in every epoch, every record, batch receipt, audit index,
// run and latest-run pointer whose retention TTL has passed by now, and
// every run computed from a record that has expired by now (Run.Expires),
// whatever its own TTL. It returns what it deleted.
//
// Badger already hides expired keys from every read; the sweep makes the
// expiry explicit (and countable, for the audit log) and writes deletion
// markers, so that badger drops the old versions from its files at its
// next compaction of them. Keys a compaction has already dropped are not
// counted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (Swept, error) {
	w := Swept{RecordsBySource: map[string]int{}}
	cutoff := uint64(now.Unix())
	s.mu.Lock()
	defer s.mu.Unlock()
	var doomed [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		// Every version of every key, expired ones included; the first
		// version of a key is its latest.
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		var last []byte
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			k := item.Key()
			if last != nil && bytes.Equal(k, last) {
				continue
			}
			last = item.KeyCopy(last[:0])
			exp := item.ExpiresAt()
			expired := exp != 0 && exp <= cutoff
			if !expired && item.IsDeletedOrExpired() {
				continue // deleted already
			}
			if !expired && k[0] == prefixRun {
				// A run outlives none of its inputs, whatever its TTL.
				err := item.Value(func(v []byte) error {
					r, err := decodeRun(v)
					if err != nil {
						return err
					}
					expired = !r.Expires.IsZero() && !r.Expires.After(now)
					return nil
				})
				if err != nil {
					return err
				}
			}
			if !expired {
				continue
			}
			switch k[0] {
			case prefixRecord:
				_, src, err := parseRecordKey(k)
				if err != nil {
					return err
				}
				w.Records++
				w.RecordsBySource[src]++
			case prefixBatch:
				w.Batches++
			case prefixRun:
				w.Runs++
			}
			doomed = append(doomed, item.KeyCopy(nil))
		}
		return ctx.Err()
	})
	if err != nil {
		return Swept{}, fmt.Errorf("store: sweep: %w", err)
	}
	// A latest-run pointer whose run is gone goes too.
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{keyLatestRun}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			e, ok := keyEpochOf(item.Key())
			if !ok {
				continue
			}
			id, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			rk := runKey(e, string(id))
			gone := false
			for _, d := range doomed {
				if bytes.Equal(d, rk) {
					gone = true
					break
				}
			}
			if _, err := txn.Get(rk); gone || errors.Is(err, badger.ErrKeyNotFound) {
				doomed = append(doomed, item.KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return Swept{}, fmt.Errorf("store: sweep: %w", err)
	}
	if len(doomed) == 0 {
		return w, nil
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range doomed {
		if err := wb.Delete(k); err != nil {
			return Swept{}, fmt.Errorf("store: sweep: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return Swept{}, fmt.Errorf("store: sweep: %w", err)
	}
	return w, nil
}
