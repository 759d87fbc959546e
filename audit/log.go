package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"tfmatch/internal/badgerlog"
)

// Config configures a Log. The zero value is not usable: Signer and
// VerifierKey are required (SigningKey gives both). Every other zero field
// means its default.
type Config struct {
	// Signer signs checkpoints; its name is the log's origin.
	Signer note.Signer
	// VerifierKey is the public key matching Signer, in note verifier
	// key text form. It goes into exports and is checked against Signer
	// when the log opens.
	VerifierKey string
	// Logger receives badger's warnings and errors, and a warning when a
	// scheduled checkpoint fails. Nil discards them.
	Logger *slog.Logger
	// InMemory keeps the log in memory (dir must be ""); for tests.
	InMemory bool
	// MemTableSize is the size of badger's memtables in bytes (zero:
	// badger's default, 64 MiB; at least 8 MiB, as badger's 1 MiB value
	// threshold must fit in 15% of it). A node that logs a few entries a
	// run needs far less, and each memtable is allocated whole.
	MemTableSize int64
	// CheckpointEvery bounds how many entries may be appended before a
	// checkpoint covers them: a checkpoint is published, in the same
	// transaction, by the append that makes this many entries uncovered.
	// Zero means 100; 1 checkpoints every entry.
	CheckpointEvery uint64
	// CheckpointInterval bounds how long an entry may stay uncovered: a
	// checkpoint is published by the first append after the oldest
	// uncovered entry is this old and, when no append comes, by a
	// background check every quarter of the interval, so an entry is
	// covered within 1.25 × CheckpointInterval. Zero means one minute.
	CheckpointInterval time.Duration
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Default checkpoint bounds.
const (
	DefaultCheckpointEvery    = 100
	DefaultCheckpointInterval = time.Minute
)

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	if c.Signer == nil {
		return errors.New("audit: config: no signer")
	}
	if c.VerifierKey == "" {
		return errors.New("audit: config: no verifier key")
	}
	if c.CheckpointInterval < 0 {
		return errors.New("audit: config: negative checkpoint interval")
	}
	if c.MemTableSize < 0 || c.MemTableSize > 0 && c.MemTableSize < 8<<20 {
		return errors.New("audit: config: memtable size below 8 MiB")
	}
	return nil
}

// Errors returned by the log.
var (
	// ErrInvalid is wrapped by errors about a bad argument: an entry that
	// fails Validate, an index or size beyond the log.
	ErrInvalid = errors.New("invalid argument")
	// ErrKeyMismatch: the log was made with another signing key, or
	// VerifierKey does not match Signer.
	ErrKeyMismatch = errors.New("signing key does not match")
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("audit log closed")
)

// Badger keyspace. Every key starts with a one-byte table tag.
const (
	tagEntry      = 'e' // 'e' u64 index -> encoded entry
	tagNode       = 'n' // 'n' u8 level u64 index -> perfect subtree hash
	tagCheckpoint = 'c' // 'c' u64 size -> signed checkpoint
	tagMeta       = 'm' // 'm' name -> value
)

var (
	metaSize = []byte("msize")     // u64 number of entries
	metaKey  = []byte("mverifier") // verifier key text the log was made with
)

func entryKey(i uint64) []byte { return binary.BigEndian.AppendUint64([]byte{tagEntry}, i) }

func nodeKey(id compact.NodeID) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagNode, byte(id.Level)}, id.Index)
}

func checkpointKey(size uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{tagCheckpoint}, size)
}

// Log is the audit log: entries in badger, the Merkle tree's perfect
// subtree hashes beside them, and the signed checkpoints. Appends are
// atomic (entry, new tree nodes, new size and any checkpoint commit in one
// transaction) and durable (synced before Append returns, unless
// InMemory). It is safe for concurrent use.
type Log struct {
	db       *badger.DB
	cfg      Config
	factory  *compact.RangeFactory
	stop     chan struct{}
	done     chan struct{}
	closeErr error

	mu sync.Mutex // serialises writes; guards the fields below
	// rng is the compact range [0, size): the roots of the perfect
	// subtrees that cover the log.
	rng *compact.Range
	// lastCP is the size of the newest checkpoint, or -1 when none.
	lastCP int64
	// uncoveredSince is when the oldest entry not yet covered by a
	// checkpoint was appended (zero when all are covered).
	uncoveredSince time.Time
	closed         bool
	closeOnce      sync.Once
}

// Open opens (creating if needed) the log in dir.
func Open(dir string, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := checkKeyPair(cfg.Signer, cfg.VerifierKey); err != nil {
		return nil, err
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerlog.New(cfg.Logger)).
		WithInMemory(cfg.InMemory).
		WithSyncWrites(!cfg.InMemory).
		WithNumVersionsToKeep(1)
	if cfg.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	}
	if cfg.MemTableSize > 0 {
		bo = bo.WithMemTableSize(cfg.MemTableSize)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("audit: open log: %w", err)
	}
	l := &Log{
		db:      db,
		cfg:     cfg,
		factory: &compact.RangeFactory{Hash: hasher.HashChildren},
		lastCP:  -1,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := l.load(); err != nil {
		db.Close()
		return nil, err
	}
	// Entries left uncovered by the last run are covered now.
	if l.lastCP < int64(l.rng.End()) {
		if _, err := l.Checkpoint(context.Background()); err != nil {
			db.Close()
			return nil, err
		}
	}
	go l.ticker()
	return l, nil
}

// checkKeyPair checks that vkey verifies what s signs.
func checkKeyPair(s note.Signer, vkey string) error {
	v, err := NewVerifier(vkey)
	if err != nil {
		return err
	}
	msg := []byte("tfmatch audit key check\n")
	sig, err := s.Sign(msg)
	if err != nil {
		return fmt.Errorf("audit: signer: %w", err)
	}
	if v.Name() != s.Name() || v.KeyHash() != s.KeyHash() || !v.Verify(msg, sig) {
		return fmt.Errorf("audit: %w: verifier key is not the signer's", ErrKeyMismatch)
	}
	return nil
}

// load reads the size, the compact range and the newest checkpoint, and
// records the verifier key of a new log.
func (l *Log) load() error {
	return l.db.Update(func(txn *badger.Txn) error {
		switch stored, err := getValue(txn, metaKey); {
		case errors.Is(err, badger.ErrKeyNotFound):
			if err := txn.Set(metaKey, []byte(l.cfg.VerifierKey)); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("audit: open log: %w", err)
		case string(stored) != l.cfg.VerifierKey:
			return fmt.Errorf("audit: open log: %w: the log was made with key %s", ErrKeyMismatch, stored)
		}
		var size uint64
		switch v, err := getValue(txn, metaSize); {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("audit: open log: %w", err)
		case len(v) != 8:
			return fmt.Errorf("audit: open log: corrupt size record")
		default:
			size = binary.BigEndian.Uint64(v)
		}
		ids := compact.RangeNodes(0, size, nil)
		hashes, err := fetchNodes(txnNodes(txn), ids)
		if err != nil {
			return fmt.Errorf("audit: open log: %w", err)
		}
		l.rng, err = l.factory.NewRange(0, size, hashes)
		if err != nil {
			return fmt.Errorf("audit: open log: %w", err)
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{tagCheckpoint}, Reverse: true})
		defer it.Close()
		it.Seek(checkpointKey(^uint64(0)))
		if it.Valid() {
			l.lastCP = int64(binary.BigEndian.Uint64(it.Item().Key()[1:]))
		}
		return nil
	})
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// txnNodes reads perfect subtree hashes in txn.
func txnNodes(txn *badger.Txn) nodeFunc {
	return func(id compact.NodeID) ([]byte, error) {
		v, err := getValue(txn, nodeKey(id))
		if err != nil {
			return nil, fmt.Errorf("tree node level %d index %d: %w", id.Level, id.Index, err)
		}
		return v, nil
	}
}

// Close stops the background checkpointing and closes the store.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		if err := l.db.Close(); err != nil {
			l.closeErr = fmt.Errorf("audit: close log: %w", err)
		}
	})
	return l.closeErr
}

// ticker publishes a checkpoint when entries have stayed uncovered for
// CheckpointInterval without another append to do it.
func (l *Log) ticker() {
	defer close(l.done)
	t := time.NewTicker(max(l.cfg.CheckpointInterval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.due(0) {
				// The next Append or Checkpoint retries, and returns
				// the error if it persists.
				if _, err := l.checkpointLocked(); err != nil && l.cfg.Logger != nil {
					l.cfg.Logger.Warn("audit: scheduled checkpoint failed", "err", err)
				}
			}
			l.mu.Unlock()
		}
	}
}

// due reports whether a checkpoint must be published, given pending more
// entries about to be appended. l.mu is held.
func (l *Log) due(pending uint64) bool {
	size := l.rng.End() + pending
	if int64(size) <= l.lastCP {
		return false
	}
	if size-uint64(max(l.lastCP, 0)) >= l.cfg.CheckpointEvery {
		return true
	}
	return !l.uncoveredSince.IsZero() && l.cfg.Now().Sub(l.uncoveredSince) >= l.cfg.CheckpointInterval
}

// Size returns the number of entries in the log.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.End()
}

// Append adds e to the log and returns its index (the first entry is 0).
// A zero e.Time is set to the current time. The entry must pass
// Validate. It publishes a checkpoint, in the same transaction, when the
// configured bound is reached.
func (l *Log) Append(ctx context.Context, e Entry) (uint64, error) {
	index, _, err := l.append(ctx, e, false)
	return index, err
}

// AppendWithReceipt adds e to the log, publishes a checkpoint covering it
// in the same transaction, and returns the receipt for it: the entry, the
// signed checkpoint and the inclusion proof. The matcher answers each
// accepted batch with one.
func (l *Log) AppendWithReceipt(ctx context.Context, e Entry) (Receipt, error) {
	index, signed, err := l.append(ctx, e, true)
	if err != nil {
		return Receipt{}, err
	}
	return l.receipt(index, signed)
}

func (l *Log) append(ctx context.Context, e Entry, forceCheckpoint bool) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if e.Time.IsZero() {
		e.Time = l.cfg.Now()
	}
	e.Time = e.Time.UTC()
	if err := e.Validate(); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	data, err := e.MarshalBinary()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, nil, ErrClosed
	}
	index := l.rng.End()
	rng, err := l.factory.NewRange(0, index, slices.Clone(l.rng.Hashes()))
	if err != nil {
		return 0, nil, fmt.Errorf("audit: append: %w", err)
	}
	type node struct {
		id   compact.NodeID
		hash []byte
	}
	var nodes []node
	if err := rng.Append(leafHash(data), func(id compact.NodeID, h []byte) {
		nodes = append(nodes, node{id, h})
	}); err != nil {
		return 0, nil, fmt.Errorf("audit: append: %w", err)
	}
	var signed []byte
	if forceCheckpoint || l.due(1) {
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return 0, nil, fmt.Errorf("audit: append: %w", err)
		}
		if signed, err = l.sign(rng.End(), root); err != nil {
			return 0, nil, err
		}
	}
	err = l.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(entryKey(index), data); err != nil {
			return err
		}
		for _, n := range nodes {
			if err := txn.Set(nodeKey(n.id), n.hash); err != nil {
				return err
			}
		}
		if err := txn.Set(metaSize, binary.BigEndian.AppendUint64(nil, rng.End())); err != nil {
			return err
		}
		if signed != nil {
			return txn.Set(checkpointKey(rng.End()), signed)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("audit: append entry %d: %w", index, err)
	}
	l.rng = rng
	if signed != nil {
		l.lastCP = int64(rng.End())
		l.uncoveredSince = time.Time{}
	} else if l.uncoveredSince.IsZero() {
		l.uncoveredSince = l.cfg.Now()
	}
	return index, signed, nil
}

func (l *Log) sign(size uint64, root []byte) ([]byte, error) {
	return signCheckpoint(Checkpoint{Origin: l.cfg.Signer.Name(), Size: size, Root: root}, l.cfg.Signer)
}

// Checkpoint returns a signed checkpoint covering every entry appended so
// far: the newest stored one if it does, else a new one, which it stores.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	return l.checkpointLocked()
}

func (l *Log) checkpointLocked() ([]byte, error) {
	size := l.rng.End()
	if l.lastCP == int64(size) {
		var signed []byte
		err := l.db.View(func(txn *badger.Txn) error {
			var err error
			signed, err = getValue(txn, checkpointKey(size))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoint %d: %w", size, err)
		}
		return signed, nil
	}
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if size == 0 {
		root = hasher.EmptyRoot()
	}
	signed, err := l.sign(size, root)
	if err != nil {
		return nil, err
	}
	if err := l.db.Update(func(txn *badger.Txn) error {
		return txn.Set(checkpointKey(size), signed)
	}); err != nil {
		return nil, fmt.Errorf("audit: store checkpoint %d: %w", size, err)
	}
	l.lastCP = int64(size)
	l.uncoveredSince = time.Time{}
	return signed, nil
}

// Checkpoints returns every stored checkpoint, oldest (smallest) first.
func (l *Log) Checkpoints(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = checkpointsTxn(ctx, txn, ^uint64(0))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	return out, nil
}

func checkpointsTxn(ctx context.Context, txn *badger.Txn, maxSize uint64) ([][]byte, error) {
	var out [][]byte
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{tagCheckpoint}, PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if binary.BigEndian.Uint64(it.Item().Key()[1:]) > maxSize {
			break
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Entries returns the encoded entries with indexes in [from, to), as
// stored and hashed (decode them with DecodeEntry).
func (l *Log) Entries(ctx context.Context, from, to uint64) ([][]byte, error) {
	if size := l.Size(); from > to || to > size {
		return nil, fmt.Errorf("audit: entries %d..%d: %w: the log has %d entries", from, to, ErrInvalid, size)
	}
	var out [][]byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = entriesTxn(ctx, txn, from, to)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read entries: %w", err)
	}
	return out, nil
}

func entriesTxn(ctx context.Context, txn *badger.Txn, from, to uint64) ([][]byte, error) {
	out := make([][]byte, 0, min(to-from, 1<<16))
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{tagEntry}, PrefetchValues: true})
	defer it.Close()
	next := from
	for it.Seek(entryKey(from)); it.Valid() && next < to; it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !bytes.Equal(it.Item().Key(), entryKey(next)) {
			return nil, fmt.Errorf("entry %d is missing from the store", next)
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		next++
	}
	if next != to {
		return nil, fmt.Errorf("entry %d is missing from the store", next)
	}
	return out, nil
}

// Root returns the root hash of the tree of the first size entries.
func (l *Log) Root(size uint64) ([]byte, error) {
	if cur := l.Size(); size > cur {
		return nil, fmt.Errorf("audit: root at size %d: %w: the log has %d entries", size, ErrInvalid, cur)
	}
	var root []byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		root, err = rootAt(txnNodes(txn), size)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: root at size %d: %w", size, err)
	}
	return root, nil
}

// InclusionProof returns the proof that entry index is in the tree of the
// first size entries (index < size ≤ Size()).
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if cur := l.Size(); index >= size || size > cur {
		return nil, fmt.Errorf("audit: inclusion proof of %d at size %d: %w: the log has %d entries", index, size, ErrInvalid, cur)
	}
	var p [][]byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		p, err = inclusionProof(txnNodes(txn), index, size)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof of %d at size %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the tree of the first size1
// entries is a prefix of the tree of the first size2 (size1 ≤ size2 ≤
// Size()).
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if cur := l.Size(); size1 > size2 || size2 > cur {
		return nil, fmt.Errorf("audit: consistency proof %d to %d: %w: the log has %d entries", size1, size2, ErrInvalid, cur)
	}
	var p [][]byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		p, err = consistencyProof(txnNodes(txn), size1, size2)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// Receipt returns a receipt for entry index: a signed checkpoint covering
// every entry so far (published now if none does) and the entry's
// inclusion proof in it.
func (l *Log) Receipt(ctx context.Context, index uint64) (Receipt, error) {
	signed, err := l.Checkpoint(ctx)
	if err != nil {
		return Receipt{}, err
	}
	return l.receipt(index, signed)
}

func (l *Log) receipt(index uint64, signed []byte) (Receipt, error) {
	c, err := ParseCheckpoint(checkpointText(signed))
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: receipt: %w", err)
	}
	if index >= c.Size {
		return Receipt{}, fmt.Errorf("audit: receipt for entry %d: %w: the log has %d entries", index, ErrInvalid, c.Size)
	}
	r := Receipt{Checkpoint: signed, Index: index}
	err = l.db.View(func(txn *badger.Txn) error {
		var err error
		if r.Entry, err = getValue(txn, entryKey(index)); err != nil {
			return err
		}
		r.Proof, err = inclusionProof(txnNodes(txn), index, c.Size)
		return err
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: receipt for entry %d: %w", index, err)
	}
	return r, nil
}

// checkpointText returns the text of a signed note, without verifying it
// (for the log's own checkpoints, which it has just signed).
func checkpointText(signed []byte) []byte {
	if i := bytes.LastIndex(signed, []byte("\n\n")); i >= 0 {
		return signed[:i+1]
	}
	return signed
}
