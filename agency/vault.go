package agency

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tfmatch/internal/badgerlog"
	"tfmatch/keys"
)

// Person is what the vault keeps of one of the agency's own records: enough
// for the agency (and, through it, the lead) to know who a reference
// stands for. It never leaves the agency except in answer to the lead.
type Person struct {
	RecordID   string `json:"record_id"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	DOB        string `json:"dob,omitempty"`
	Address    string `json:"address,omitempty"`
	Postcode   string `json:"postcode,omitempty"`
}

// vaultPrefix starts every person key in the vault.
const vaultPrefix = "p/"

// Sentinel errors of OpenVault.
var (
	// ErrVaultNotEncrypted is returned for a vault written without
	// encryption (by a version before vaults were encrypted at rest).
	ErrVaultNotEncrypted = errors.New("vault is not encrypted at rest")
	// ErrVaultKey is returned for a vault encrypted under another key
	// (another local key, so another age identity or state directory).
	ErrVaultKey = errors.New("vault is encrypted under another key")
)

// Vault maps the agency's record references back to its own records. It is
// a badger store in the agency's state directory, encrypted at rest
// (AES-256, badger's encryption with VaultOptions.Key) and written with
// fsync, each entry expiring after the agreement's retention period.
type Vault struct {
	db        *badger.DB
	retention time.Duration
}

// VaultOptions configures OpenVault. The zero value is usable for a
// scratch vault (tests, in-process runs): see Key and Retention.
type VaultOptions struct {
	Logger *slog.Logger
	// Key encrypts the vault at rest; an agency node derives it from its
	// local key (keys.LocalKey.VaultKey). The zero value draws a scratch
	// key for this opening only: the vault is still encrypted on disk but
	// can not be read again once closed.
	Key keys.VaultKey
	// Retention is how long each entry is kept after it is written: the
	// agreement's retention period (isa.Agreement.Retention). Badger drops
	// an entry once it expires. Zero keeps entries until they are
	// replaced; an agency node always sets it.
	Retention time.Duration
}

// Badger sizes for the vault: it holds a few hundred bytes per person, so
// badger's defaults (64 MiB memtables, a 256 MiB block cache, 1 GiB value
// log files) only cost memory and start-up time. The index cache must be
// bounded when the store is encrypted.
const (
	vaultMemTableSize   = 16 << 20
	vaultBlockCacheSize = 16 << 20
	vaultIndexCacheSize = 8 << 20
	vaultValueLogSize   = 64 << 20
	// vaultLevelZeroTables is how many flushed memtables the vault lets
	// level 0 hold before it compacts them (badger's default is 5).
	vaultLevelZeroTables = 64
)

// OpenVault opens (creating if needed) the vault in dir. It fails with
// ErrVaultNotEncrypted for a vault an older version wrote in clear, and
// with ErrVaultKey for one encrypted under another key.
func OpenVault(dir string, opts VaultOptions) (*Vault, error) {
	if opts.Retention < 0 {
		return nil, fmt.Errorf("opening vault %s: negative retention %s", dir, opts.Retention)
	}
	key := opts.Key
	if key.IsZero() {
		var err error
		if key, err = keys.NewScratchVaultKey(); err != nil {
			return nil, fmt.Errorf("opening vault %s: %w", dir, err)
		}
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerlog.New(opts.Logger)).
		WithEncryptionKey(key.AES256()).
		WithIndexCacheSize(vaultIndexCacheSize).
		WithBlockCacheSize(vaultBlockCacheSize).
		WithMemTableSize(vaultMemTableSize).
		WithValueLogFileSize(vaultValueLogSize).
		WithNumLevelZeroTables(vaultLevelZeroTables).
		WithNumLevelZeroTablesStall(2 * vaultLevelZeroTables).
		WithNumCompactors(2).
		// A few hundred bytes a person make a vault of a few hundred MB
		// at most: compressing its tables on every flush and compaction
		// cost about 2% of the node's processor time for little room.
		WithCompression(options.None).
		// A record is in the vault before its tokens leave the node, even
		// across a power cut: every write is on disk when put returns.
		WithSyncWrites(true)
	db, err := badger.Open(bo)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		if clearRegistry(dir) {
			return nil, fmt.Errorf("opening vault %s: %w: it was written by an older version; move it aside and submit the extract again to rebuild it encrypted (the matcher's references stay the same)", dir, ErrVaultNotEncrypted)
		}
		return nil, fmt.Errorf("opening vault %s: %w: it was not written with this node's local key (check -identity and -state)", dir, ErrVaultKey)
	}
	if err != nil {
		return nil, fmt.Errorf("opening vault %s: %w", dir, err)
	}
	return &Vault{db: db, retention: opts.Retention}, nil
}

// clearRegistry reports whether badger's key registry in dir was written
// without encryption. The registry starts with a 16-byte IV and a sanity
// text that badger encrypts with the store's key when it has one and
// writes in clear when it has none.
func clearRegistry(dir string) bool {
	f, err := os.Open(filepath.Join(dir, badger.KeyRegistryFileName))
	if err != nil {
		return false
	}
	defer f.Close()
	var head [16 + len(badgerSanityText)]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return string(head[16:]) == badgerSanityText
}

// badgerSanityText is the sanity text of badger's key registry
// (key_registry.go).
const badgerSanityText = "Hello Badger"

// Close closes the vault.
func (v *Vault) Close() error { return v.db.Close() }

func vaultKey(ref keys.Ref) []byte {
	return append([]byte(vaultPrefix), ref[:]...)
}

// vaultEntry is one person to store under a reference.
type vaultEntry struct {
	ref    keys.Ref
	person Person
}

// put stores entries with one badger write batch, synced to disk before
// it returns, each entry expiring after the vault's retention. The keys
// and values of the batch share one buffer and the badger entries one
// slice.
func (v *Vault) put(entries []vaultEntry) error {
	size := 0
	for i := range entries {
		size += len(vaultPrefix) + len(keys.Ref{}) + personSize(&entries[i].person)
	}
	buf := make([]byte, 0, size)
	bes := make([]badger.Entry, len(entries))
	wb := v.db.NewWriteBatch()
	defer wb.Cancel()
	var expires uint64
	if v.retention > 0 {
		expires = uint64(time.Now().Add(v.retention).Unix())
	}
	for i := range entries {
		e := &entries[i]
		k := len(buf)
		buf = append(append(buf, vaultPrefix...), e.ref[:]...)
		val := len(buf)
		buf = appendPerson(buf, &e.person)
		bes[i] = badger.Entry{Key: buf[k:val:val], Value: buf[val:len(buf):len(buf)], ExpiresAt: expires}
		if err := wb.SetEntry(&bes[i]); err != nil {
			return fmt.Errorf("writing vault: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("writing vault: %w", err)
	}
	return nil
}

// The vault's value encoding of a Person: personV1 then, for each of
// RecordID, GivenName, FamilyName, DOB, Address and Postcode in that
// order, its length as a uvarint (in the fewest bytes) and its bytes. Vaults written before
// version 1 hold the Person as JSON (always starting with '{'), which
// decodePerson still reads; an entry is rewritten in version 1 when its
// record is submitted again.
const personV1 = 0x01

// personSize is the length of p's encoding.
func personSize(p *Person) int {
	n := 1
	for _, s := range [...]string{p.RecordID, p.GivenName, p.FamilyName, p.DOB, p.Address, p.Postcode} {
		n += uvarintSize(len(s)) + len(s)
	}
	return n
}

// uvarintSize is the length of n as a uvarint.
func uvarintSize(n int) int { return (bits.Len64(uint64(n)|1) + 6) / 7 }

// appendPerson appends p's encoding.
func appendPerson(dst []byte, p *Person) []byte {
	dst = append(dst, personV1)
	for _, s := range [...]string{p.RecordID, p.GivenName, p.FamilyName, p.DOB, p.Address, p.Postcode} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// errVaultValue is returned for a vault value in no known encoding.
var errVaultValue = errors.New("vault entry in an unknown encoding")

// decodePerson decodes a vault value: version 1, or the JSON of vaults
// written before it.
func decodePerson(val []byte) (Person, error) {
	var p Person
	if len(val) == 0 {
		return p, errVaultValue
	}
	if val[0] == '{' {
		err := json.Unmarshal(val, &p)
		return p, err
	}
	if val[0] != personV1 {
		return p, errVaultValue
	}
	rest := val[1:]
	for _, f := range [...]*string{&p.RecordID, &p.GivenName, &p.FamilyName, &p.DOB, &p.Address, &p.Postcode} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) || k != uvarintSize(int(n)) {
			return Person{}, errVaultValue
		}
		*f = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return Person{}, errVaultValue
	}
	return p, nil
}

// Resolve returns the people behind refs, and the refs the vault does not
// hold.
func (v *Vault) Resolve(ctx context.Context, refs []keys.Ref) (map[keys.Ref]Person, []keys.Ref, error) {
	found := make(map[keys.Ref]Person, len(refs))
	var unknown []keys.Ref
	err := v.db.View(func(txn *badger.Txn) error {
		for _, ref := range refs {
			if err := ctx.Err(); err != nil {
				return err
			}
			item, err := txn.Get(vaultKey(ref))
			if errors.Is(err, badger.ErrKeyNotFound) {
				unknown = append(unknown, ref)
				continue
			}
			if err != nil {
				return err
			}
			var p Person
			if err := item.Value(func(val []byte) (err error) { p, err = decodePerson(val); return err }); err != nil {
				return fmt.Errorf("decoding vault entry: %w", err)
			}
			found[ref] = p
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading vault: %w", err)
	}
	return found, unknown, nil
}

// Len returns the number of people in the vault.
func (v *Vault) Len() (int, error) {
	n := 0
	err := v.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(vaultPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}
