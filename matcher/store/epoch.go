package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// Errors about epochs.
var (
	// ErrEpochInForce means an operation that must not touch the epoch in
	// force (a purge) was asked to.
	ErrEpochInForce = errors.New("the key epoch is in force")
	// ErrNoEpoch means the store holds nothing of the epoch asked for.
	ErrNoEpoch = errors.New("no data of that key epoch")
)

// EpochMark records which key epoch, under which agreement, a matcher last
// served, so that the next start can tell a rotation from a restart.
type EpochMark struct {
	Epoch   uint32
	ISAHash [32]byte
}

// InForce returns the mark MarkInForce last wrote; ok is false when none
// was (a new store).
func (s *Store) InForce(ctx context.Context) (m EpochMark, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return m, false, fmt.Errorf("store: epoch in force: %w", err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyEpoch)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 4+32 {
				return errors.New("corrupt epoch mark")
			}
			m.Epoch = binary.BigEndian.Uint32(v)
			copy(m.ISAHash[:], v[4:])
			ok = true
			return nil
		})
	})
	if err != nil {
		return EpochMark{}, false, fmt.Errorf("store: epoch in force: %w", err)
	}
	return m, ok, nil
}

// MarkInForce records that the store's epoch is in force under the
// agreement with hash isaHash. The mark never expires: it holds no
// personal data.
func (s *Store) MarkInForce(ctx context.Context, isaHash [32]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: mark epoch in force: %w", err)
	}
	v := append(binary.BigEndian.AppendUint32(nil, s.epoch), isaHash[:]...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyEpoch, v) }); err != nil {
		return fmt.Errorf("store: mark epoch in force: %w", err)
	}
	return nil
}

// Epochs counts what the store holds of every epoch that has any record,
// batch receipt or run (unexpired), ascending by epoch. Tokens are counted
// for the epoch in force only.
func (s *Store) Epochs(ctx context.Context) ([]Counts, error) {
	all, err := s.count(ctx, 0, false)
	if err != nil {
		return nil, fmt.Errorf("store: epochs: %w", err)
	}
	out := make([]Counts, 0, len(all))
	for _, c := range all {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Counts) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return out, nil
}

// PurgeEpoch deletes every record, batch receipt (and its audit index) and
// run of epoch, and returns what it deleted. The epoch in force cannot be
// purged (ErrEpochInForce); an epoch of which nothing is stored gives
// ErrNoEpoch. The key ranges are dropped from badger's tables at once
// (DropPrefix), not merely marked deleted; writes wait meanwhile.
func (s *Store) PurgeEpoch(ctx context.Context, epoch uint32) (Counts, error) {
	switch {
	case epoch == 0:
		return Counts{}, fmt.Errorf("store: purge epoch: %w: epochs start at 1", ErrInvalid)
	case epoch == s.epoch:
		return Counts{}, fmt.Errorf("store: purge epoch %d: %w", epoch, ErrEpochInForce)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.count(ctx, epoch, true)
	if err != nil {
		return Counts{}, fmt.Errorf("store: purge epoch %d: %w", epoch, err)
	}
	c, ok := all[epoch]
	if !ok {
		// Audit indexes and a latest-run pointer outlive nothing they
		// belong to, but drop any left over all the same.
		if err := s.dropEpoch(epoch); err != nil {
			return Counts{}, err
		}
		return Counts{}, fmt.Errorf("store: purge epoch %d: %w", epoch, ErrNoEpoch)
	}
	if err := ctx.Err(); err != nil {
		return Counts{}, fmt.Errorf("store: purge epoch %d: %w", epoch, err)
	}
	if err := s.dropEpoch(epoch); err != nil {
		return Counts{}, err
	}
	return *c, nil
}

func (s *Store) dropEpoch(epoch uint32) error {
	prefixes := make([][]byte, len(epochTables))
	for i, t := range epochTables {
		prefixes[i] = tablePrefix(t, epoch)
	}
	if err := s.db.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("store: purge epoch %d: %w", epoch, err)
	}
	return nil
}
