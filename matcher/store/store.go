// Package store is the matcher's durable token store, kept in badger. It
// owns the keyspace and the binary encodings of records, batch receipts
// and link-run results.
//
// A record is what an agency submitted for one of its records: the
// agency's party id (Source), an opaque 16-byte reference, blinded tokens
// and boolean indicators. The store holds nothing else about a person.
// There is no token index: linkage reads every record once and sorts the
// tokens in memory, which is much cheaper than maintaining one key per
// token on every write (a posting index cost about 70% of ingest time).
//
// Everything submitted or derived is kept per key epoch: a Store is opened
// for the epoch in force and reads and writes only that epoch's records,
// batch receipts and runs, so records of two epochs never meet. Older
// epochs' data is only counted (Epochs) and purged (PurgeEpoch). With a
// retention period every write carries a badger TTL, a run expires no later
// than the earliest of the records it was computed from, and Sweep deletes
// whatever has expired.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tfmatch/internal/badgerlog"
	"tfmatch/matchkey"
)

// TokenLen is how many bytes of a blinded token the store keeps: the first
// 16 of HMAC-SHA256(M, token). Two distinct tokens of one kind agree on
// them with probability 2^-128 per pair (below 10^-22 for every pair of
// 10^8 tokens), and a blinded token is only ever compared for equality,
// so the other 16 bytes would add nothing but size (docs/tokens.md).
const TokenLen = 16

// Token is one blinded match-key token.
type Token struct {
	Kind  matchkey.Kind
	Value [TokenLen]byte // the blinded token's first TokenLen bytes
}

// Record is one agency record as the matcher knows it.
type Record struct {
	Source     string          // agency party id, e.g. "police"
	Ref        [16]byte        // agency-local opaque record reference
	Tokens     []Token         // blinded match-key tokens
	Indicators map[string]bool // indicator name -> value
	// Filter is the record's Bloom-filter encoding for the similarity
	// tier, permuted with the matcher's key: FilterLen bytes, or nil.
	Filter []byte
	// Expires is when the store drops the record (its retention TTL);
	// zero for none. ForEachRecord sets it; it is not part of the
	// record's encoding or of a batch digest.
	Expires time.Time
}

// Options configures a Store. The zero value means defaults.
type Options struct {
	// Logger receives badger's warnings and errors (its routine
	// messages at Debug). Nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory (dir must be ""); for tests.
	InMemory bool
	// NoSync skips the fsync on every commit. Faster, and loses the last
	// batches on a machine crash (they are acknowledged but not durable).
	NoSync bool
	// Epoch is the key epoch in force (zero means 1). The store reads and
	// writes only this epoch's records, batch receipts and runs.
	Epoch uint32
	// Retention, if positive, makes everything written expire that long
	// after it was written (badger TTL, whole seconds): records, batch
	// receipts and their audit indexes, runs and the latest-run pointer.
	// A re-sent record gets a fresh expiry; a run expires no later than
	// the earliest-expiring record it was computed from.
	Retention time.Duration
	// MemTableSize is badger's memtable size in bytes. A batch is one
	// transaction and must fit in 15% of it (else ErrBatchTooLarge);
	// each memtable is allocated up front. Zero means 128 MiB, enough for
	// about 10,000 new records of a dozen tokens each, or 5,000 that all
	// replace older ones.
	MemTableSize int64
	// NumMemtables is how many memtables badger keeps (the one being
	// written and those waiting to be flushed). Zero means 3.
	NumMemtables int
	// BlockCacheSize is badger's block cache in bytes. Zero means none:
	// tokens are random and the store does not compress them, so the
	// tables are read straight from their memory-mapped files and a cache
	// would only copy them.
	BlockCacheSize int64
	// LevelZeroTables is how many tables (flushed memtables) badger lets
	// level 0 hold before it compacts them into the levels below; writes
	// stall at twice as many. Record keys are random (a ref is an HMAC), so
	// every compaction rewrites tables across the whole key range: the
	// fewer compactions during ingest, the less the store rewrites. A full
	// scan merges the level-0 tables, and a point read checks each one's
	// Bloom filter, both cheap at a few dozen. Zero means 32: with 128 MiB
	// memtables, about 3.5 million records before the first compaction.
	LevelZeroTables int
}

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	if o.Retention < 0 {
		return errors.New("store: negative retention")
	}
	if o.MemTableSize != 0 && o.MemTableSize < 1<<20 {
		return errors.New("store: memtable size below 1 MiB")
	}
	if o.NumMemtables < 0 || o.BlockCacheSize < 0 || o.LevelZeroTables < 0 {
		return errors.New("store: negative memtable count, block cache size or level-0 table count")
	}
	return nil
}

// Errors returned by the store.
var (
	// ErrInvalid is wrapped by errors about a bad argument or record; the
	// caller should fix its input, retrying will not help.
	ErrInvalid = errors.New("invalid input")
	// ErrBatchTooLarge means a batch does not fit in one transaction;
	// split it into smaller batches.
	ErrBatchTooLarge = errors.New("batch too large for one transaction")
	// ErrNoRun means no link run has been stored (or none with that ID).
	ErrNoRun = errors.New("no such link run")
	// ErrSchema means the directory holds a store of another schema
	// version, which this build cannot read.
	ErrSchema = errors.New("unsupported store schema")
)

// Store is the matcher's token store. It is safe for concurrent use.
type Store struct {
	db    *badger.DB
	ttl   time.Duration
	epoch uint32
	// scratch holds PutBatch's working memory (*batchScratch) from one
	// batch to the next.
	scratch sync.Pool
	// mu serialises every write, so that the duplicate-batch check and
	// the writes of one batch never interleave with another's, and so
	// that no write is under way while a purge drops an epoch.
	mu sync.Mutex
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	mem := opts.MemTableSize
	if mem == 0 {
		mem = 128 << 20
	}
	nmem := opts.NumMemtables
	if nmem == 0 {
		nmem = 3
	}
	l0 := opts.LevelZeroTables
	if l0 == 0 {
		l0 = 32
	}
	// Blinded tokens are random bytes: compressing them costs processor
	// time (about 4% of ingest) and saves nothing.
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerlog.New(opts.Logger)).
		WithInMemory(opts.InMemory).
		WithSyncWrites(!opts.NoSync && !opts.InMemory).
		WithMemTableSize(mem).
		WithNumMemtables(nmem).
		WithCompression(options.None).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithNumLevelZeroTables(l0).
		WithNumLevelZeroTablesStall(2 * l0).
		WithNumCompactors(2).
		WithDetectConflicts(false) // writers are serialised by Store.mu
	// Values above the threshold go to the value log; badger requires the
	// threshold to fit in one batch.
	if maxBatch := mem * 15 / 100; bo.ValueThreshold > maxBatch {
		bo = bo.WithValueThreshold(maxBatch / 2)
	}
	if opts.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	epoch := opts.Epoch
	if epoch == 0 {
		epoch = 1
	}
	s := &Store{db: db, ttl: opts.Retention, epoch: epoch}
	if err := s.checkSchema(dir); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Epoch returns the key epoch the store was opened for.
func (s *Store) Epoch() uint32 { return s.epoch }

func (s *Store) checkSchema(dir string) error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(keySchema, []byte{schemaVersion})
		}
		if err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if len(v) == 1 && v[0] == 1 {
			return fmt.Errorf("store: %s: %w: it holds schema version 1 (records not kept per key epoch), this build reads version %d "+
				"and cannot convert it: move the directory aside, start the matcher with an empty one and have every agency resubmit "+
				"(delete the old directory once they have)", dir, ErrSchema, schemaVersion)
		}
		if len(v) != 1 || v[0] != schemaVersion {
			return fmt.Errorf("store: %s: %w: schema version %v, this build reads %d: use a matcher build that reads it", dir, ErrSchema, v, schemaVersion)
		}
		return nil
	})
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// BatchResult is the receipt for one submitted batch.
type BatchResult struct {
	BatchID string
	Records int
	// Duplicate is true when the batch had been stored before; the
	// other fields are then those of the first submission and nothing
	// was written.
	Duplicate bool
	// Digest is SHA-256 over the batch's records in submission order,
	// each as uvarint(len(enc)) || enc with enc = EncodeRecord(record):
	// what the store holds for them.
	Digest [32]byte
}

const batchVersion = 1

// encodeBatch: byte version, uvarint records, [32]byte digest. The batch
// id is in the key.
func encodeBatch(r BatchResult) []byte {
	b := []byte{batchVersion}
	b = binary.AppendUvarint(b, uint64(r.Records))
	return append(b, r.Digest[:]...)
}

func decodeBatch(id string, b []byte) (BatchResult, error) {
	if len(b) < 1 || b[0] != batchVersion {
		return BatchResult{}, errors.New("store: bad batch receipt version")
	}
	n, l := binary.Uvarint(b[1:])
	if l <= 0 || len(b) != 1+l+32 {
		return BatchResult{}, errors.New("store: corrupt batch receipt")
	}
	r := BatchResult{BatchID: id, Records: int(n)}
	copy(r.Digest[:], b[1+l:])
	return r, nil
}

// Digest returns the digest PutBatch reports for recs (see BatchResult).
// Records with an empty Source are digested as if Source were source. It
// fails if a token's kind has no code.
func Digest(source string, recs []Record) ([32]byte, error) {
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	var e recordEncoder
	var enc []byte
	for i, r := range recs {
		if r.Source == "" {
			r.Source = source
		}
		if err := e.prepare(r); err != nil {
			return [32]byte{}, fmt.Errorf("store: digest: record %d: %w", i, err)
		}
		enc = e.append(enc[:0], r)
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(enc)))])
		h.Write(enc)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d, nil
}

// prepared is where PutBatch encoded one record: its key in
// batchScratch.keys and its value in batchScratch.vals.
type prepared struct {
	key, keyEnd int
	start, end  int
}

// batchScratch is PutBatch's working memory, used again by the next
// batch: a batch's encoding is about a megabyte, and fresh memory for
// every batch costs more than encoding into it.
type batchScratch struct {
	prep []prepared
	seen map[[16]byte]struct{}
	enc  recordEncoder
	keys []byte // the records' keys, one after the other
	vals []byte // their encodings
}

// PutBatch stores one batch of records from source, atomically: either
// every record (and the batch receipt) is written, or
// nothing is. It is idempotent: a second call with the same (source,
// batchID) writes nothing and returns the first result with Duplicate set.
//
// A record whose (source, ref) is already stored replaces the old one. Records
// with an empty Source take source; a record naming another source, an
// unknown token kind, a bad indicator name or a ref repeated within the
// batch rejects the whole batch with an error wrapping ErrInvalid.
func (s *Store) PutBatch(ctx context.Context, source, batchID string, recs []Record) (BatchResult, error) {
	if err := validateSource(source); err != nil {
		return BatchResult{}, fmt.Errorf("store: put batch: %w: %w", ErrInvalid, err)
	}
	if batchID == "" || len(batchID) > MaxBatchIDLen {
		return BatchResult{}, fmt.Errorf("store: put batch: %w: batch id must be 1-%d bytes", ErrInvalid, MaxBatchIDLen)
	}
	// Validate and encode everything before touching the database: each
	// record once, into one buffer for the whole batch, which the
	// transaction holds until it commits.
	sc, _ := s.scratch.Get().(*batchScratch)
	if sc == nil {
		sc = &batchScratch{seen: map[[16]byte]struct{}{}}
	}
	// Put back only once the transaction below is discarded (deferred
	// calls run last first): until then badger may read the buffers.
	defer s.scratch.Put(sc)
	clear(sc.seen)
	prep, seen, e := slices.Grow(sc.prep[:0], len(recs))[:len(recs)], sc.seen, &sc.enc
	sc.prep = prep
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	buf, keys := sc.vals[:0], sc.keys[:0]
	for i, r := range recs {
		if r.Source == "" {
			r.Source = source
		}
		if r.Source != source {
			return BatchResult{}, fmt.Errorf("store: put batch: %w: record %d: source differs from the batch's", ErrInvalid, i)
		}
		if err := validateRecord(r); err != nil {
			return BatchResult{}, fmt.Errorf("store: put batch: %w: record %d: %w", ErrInvalid, i, err)
		}
		if _, dup := seen[r.Ref]; dup {
			return BatchResult{}, fmt.Errorf("store: put batch: %w: record %d: ref repeated within the batch", ErrInvalid, i)
		}
		seen[r.Ref] = struct{}{}
		if err := e.prepare(r); err != nil {
			return BatchResult{}, fmt.Errorf("store: put batch: %w: record %d: %w", ErrInvalid, i, err)
		}
		if i == 0 {
			// Records of one batch are much alike: room for all of them
			// at about this one's size, grown if need be.
			buf = slices.Grow(buf, len(recs)*(e.size(r)+e.size(r)/8))
			keys = slices.Grow(keys, len(recs)*recordKeyLen(source))
		}
		start := len(buf)
		buf = e.append(buf, r)
		h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(buf)-start))])
		h.Write(buf[start:])
		key := len(keys)
		keys = appendRecordKey(keys, s.epoch, source, r.Ref)
		prep[i] = prepared{key: key, keyEnd: len(keys), start: start, end: len(buf)}
	}
	sc.vals, sc.keys = buf, keys
	res := BatchResult{BatchID: batchID, Records: len(recs)}
	h.Sum(res.Digest[:0])
	if err := ctx.Err(); err != nil {
		return BatchResult{}, fmt.Errorf("store: put batch: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	bkey := batchKey(s.epoch, source, batchID)
	switch item, err := txn.Get(bkey); {
	case err == nil:
		v, err := item.ValueCopy(nil)
		if err != nil {
			return BatchResult{}, fmt.Errorf("store: put batch: read receipt: %w", err)
		}
		old, err := decodeBatch(batchID, v)
		if err != nil {
			return BatchResult{}, fmt.Errorf("store: put batch: %w", err)
		}
		old.Duplicate = true
		return old, nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return BatchResult{}, fmt.Errorf("store: put batch: read receipt: %w", err)
	}

	exp := s.expiry(time.Time{})
	set := func(k, v []byte) error {
		return txn.SetEntry(&badger.Entry{Key: k, Value: v, ExpiresAt: exp})
	}
	for i, p := range prep {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return BatchResult{}, fmt.Errorf("store: put batch: %w", err)
			}
		}
		// The full slice expressions keep a key or value from reaching
		// into the next one's bytes.
		if err := set(keys[p.key:p.keyEnd:p.keyEnd], buf[p.start:p.end:p.end]); err != nil {
			return BatchResult{}, wrapTxnErr("write record", err)
		}
	}
	if err := set(bkey, encodeBatch(res)); err != nil {
		return BatchResult{}, wrapTxnErr("write receipt", err)
	}
	if err := txn.Commit(); err != nil {
		return BatchResult{}, wrapTxnErr("commit", err)
	}
	return res, nil
}

// SetBatchLogIndex records that the audit log entry of source's batch
// batchID is at index, so that a resubmission of the batch can be answered
// with the receipt of its first entry. It expires with the batch.
func (s *Store) SetBatchLogIndex(ctx context.Context, source, batchID string, index uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: set batch log index: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		exp := s.expiry(time.Time{})
		if item, err := txn.Get(batchKey(s.epoch, source, batchID)); err == nil {
			exp = item.ExpiresAt()
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return txn.SetEntry(&badger.Entry{Key: batchAuditKey(s.epoch, source, batchID), Value: binary.BigEndian.AppendUint64(nil, index), ExpiresAt: exp})
	})
	if err != nil {
		return fmt.Errorf("store: set batch log index: %w", err)
	}
	return nil
}

// expiry returns the badger expiry (Unix seconds, 0 for none) of a key
// written now: the retention period from now, or limit if that is
// earlier (and not zero).
func (s *Store) expiry(limit time.Time) uint64 {
	var exp uint64
	if s.ttl > 0 {
		exp = uint64(time.Now().Add(s.ttl).Unix())
	}
	if !limit.IsZero() {
		if l := uint64(max(limit.Unix(), 1)); exp == 0 || l < exp {
			exp = l
		}
	}
	return exp
}

// BatchLogIndex returns the audit log index SetBatchLogIndex recorded for
// source's batch batchID; ok is false when none was.
func (s *Store) BatchLogIndex(ctx context.Context, source, batchID string) (index uint64, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("store: batch log index: %w", err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(batchAuditKey(s.epoch, source, batchID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return errors.New("corrupt batch log index")
		}
		index, ok = binary.BigEndian.Uint64(v), true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: batch log index: %w", err)
	}
	return index, ok, nil
}

func wrapTxnErr(what string, err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("store: put batch: %s: %w: %w", what, ErrBatchTooLarge, err)
	}
	return fmt.Errorf("store: put batch: %s: %w", what, err)
}

// ForEachRecord calls fn for every stored record of the epoch in force,
// in key order (by source, then ref), with its expiry set. Expired records
// are not seen. It stops at the first error fn returns and returns it.
func (s *Store) ForEachRecord(ctx context.Context, fn func(Record) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: tablePrefix(prefixRecord, s.epoch)})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("store: records: %w", err)
				}
			}
			var r Record
			err := it.Item().Value(func(v []byte) error {
				var err error
				r, err = DecodeRecord(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: records: %w", err)
			}
			if exp := it.Item().ExpiresAt(); exp != 0 {
				r.Expires = time.Unix(int64(exp), 0).UTC()
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// ForEachRecordView is ForEachRecord without a decoded copy: fn sees each
// record in place (see RecordView), valid only during the call (the view
// itself is reused), in key order.
//
// The scan runs on three goroutines: one walks badger's tables and copies
// the values, in chunks of about a megabyte, without badger's prefetch;
// one parses each chunk's records; the caller's goroutine calls fn with
// each. At a few million records the walk (merging the tables'
// iterators, faulting their pages in) and the parse together cost about
// as much as what a link run does with each record, so they overlap. At
// most four chunks exist at once.
func (s *Store) ForEachRecordView(ctx context.Context, fn func(*RecordView) error) error {
	const chunkBytes = 1 << 20
	type chunk struct {
		buf  []byte
		ends []int    // end of each value in buf
		exp  []uint64 // each value's expiry, as badger keeps it
		// views are the records parsed, in order; err, if set, is why
		// the value after the last view could not be parsed.
		views []RecordView
		err   error
	}
	walked := make(chan *chunk, 1) // to parse
	full := make(chan *chunk, 1)   // parsed, for fn
	free := make(chan *chunk, 4)
	for range 4 {
		free <- &chunk{buf: make([]byte, 0, chunkBytes+64<<10)}
	}
	parse := func(c *chunk) {
		c.views, c.err = c.views[:0], nil
		start := 0
		for i, end := range c.ends {
			v, err := ParseRecordView(c.buf[start:end])
			if err != nil {
				c.err = fmt.Errorf("store: records: %w", err)
				return
			}
			if exp := c.exp[i]; exp != 0 {
				v.Expires = time.Unix(int64(exp), 0).UTC()
			}
			c.views = append(c.views, v)
			start = end
		}
	}
	stop := make(chan struct{})
	scanErr := make(chan error, 1)
	go func() {
		defer close(full)
		for c := range walked {
			parse(c)
			select {
			case full <- c:
			case <-stop:
				for range walked {
					// Let the walk see stop and finish.
				}
				return
			}
		}
	}()
	go func() {
		defer close(walked)
		scanErr <- s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: tablePrefix(prefixRecord, s.epoch)})
			defer it.Close()
			c := <-free
			send := func() bool {
				select {
				case walked <- c:
				case <-stop:
					return false
				}
				select {
				case c = <-free:
				case <-stop:
					return false
				}
				c.buf, c.ends, c.exp = c.buf[:0], c.ends[:0], c.exp[:0]
				return true
			}
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				err := item.Value(func(b []byte) error {
					c.buf = append(c.buf, b...)
					return nil
				})
				if err != nil {
					return fmt.Errorf("store: records: %w", err)
				}
				c.ends = append(c.ends, len(c.buf))
				c.exp = append(c.exp, item.ExpiresAt())
				if len(c.buf) >= chunkBytes && !send() {
					return nil
				}
			}
			if len(c.ends) > 0 {
				send()
			}
			return nil
		})
	}()
	err := func() error {
		for c := range full {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: records: %w", err)
			}
			for i := range c.views {
				if err := fn(&c.views[i]); err != nil {
					return err
				}
			}
			if c.err != nil {
				return c.err
			}
			free <- c
		}
		return nil
	}()
	close(stop)
	for range full {
		// Let the parse and the walk see stop and finish.
	}
	if serr := <-scanErr; err == nil {
		err = serr
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// Counts summarises one epoch's contents.
type Counts struct {
	Epoch           uint32
	Records         int
	RecordsBySource map[string]int        // records per source
	TokensByKind    map[matchkey.Kind]int // tokens per kind, over all records
	Batches         int
	Runs            int
}

func newCounts(epoch uint32) *Counts {
	return &Counts{Epoch: epoch, RecordsBySource: map[string]int{}, TokensByKind: map[matchkey.Kind]int{}}
}

// Counts counts the records per source and tokens per kind, the batches
// and the runs of the epoch in force by scanning the store. Expired data
// is not counted.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	all, err := s.count(ctx, s.epoch, true)
	if err != nil {
		return Counts{}, fmt.Errorf("store: counts: %w", err)
	}
	if c, ok := all[s.epoch]; ok {
		return *c, nil
	}
	return *newCounts(s.epoch), nil
}

// count tallies the records, batches and runs of every epoch, or with only
// set of epoch alone. Tokens are counted for the epoch in force only.
func (s *Store) count(ctx context.Context, epoch uint32, only bool) (map[uint32]*Counts, error) {
	out := map[uint32]*Counts{}
	get := func(e uint32) *Counts {
		c := out[e]
		if c == nil {
			c = newCounts(e)
			out[e] = c
		}
		return c
	}
	err := s.db.View(func(txn *badger.Txn) error {
		n := 0
		for _, table := range []byte{prefixRecord, prefixBatch, prefixRun} {
			prefix := []byte{table}
			if only {
				prefix = tablePrefix(table, epoch)
			}
			// Values are read only for the tokens of the epoch in force.
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			for it.Rewind(); it.Valid(); it.Next() {
				if n++; n%4096 == 0 {
					if err := ctx.Err(); err != nil {
						it.Close()
						return err
					}
				}
				k := it.Item().Key()
				e, ok := keyEpochOf(k)
				if !ok {
					it.Close()
					return fmt.Errorf("short key in table %q", table)
				}
				c := get(e)
				switch table {
				case prefixRecord:
					_, src, err := parseRecordKey(k)
					if err != nil {
						it.Close()
						return err
					}
					c.Records++
					c.RecordsBySource[src]++
					if e != s.epoch {
						continue
					}
					err = it.Item().Value(func(v []byte) error {
						r, err := DecodeRecord(v)
						for _, t := range r.Tokens {
							c.TokensByKind[t.Kind]++
						}
						return err
					})
					if err != nil {
						it.Close()
						return err
					}
				case prefixBatch:
					c.Batches++
				case prefixRun:
					c.Runs++
				}
			}
			it.Close()
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Scan calls fn with every key and value in the store, including versions
// of keys not yet compacted away, values fully read. It exists for audits
// and privacy tests that must see everything the store holds; key and
// value are only valid during the call.
func (s *Store) Scan(fn func(key, value []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if item.IsDeletedOrExpired() {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("store: scan: %w", err)
			}
			if err := fn(item.Key(), v); err != nil {
				return err
			}
		}
		return nil
	})
}
