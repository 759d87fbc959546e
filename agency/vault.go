package agency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"

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

// Vault maps the agency's record references back to its own records. It is
// a badger store in the agency's state directory.
type Vault struct {
	db *badger.DB
}

// VaultOptions configures OpenVault. The zero value is usable.
type VaultOptions struct {
	Logger *slog.Logger
}

// OpenVault opens (creating if needed) the vault in dir.
func OpenVault(dir string, opts VaultOptions) (*Vault, error) {
	bo := badger.DefaultOptions(dir).WithLogger(badgerlog.New(opts.Logger))
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("opening vault %s: %w", dir, err)
	}
	return &Vault{db: db}, nil
}

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

// put stores entries in one atomic transaction group.
func (v *Vault) put(entries []vaultEntry) error {
	wb := v.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range entries {
		val, err := json.Marshal(e.person)
		if err != nil {
			return fmt.Errorf("encoding vault entry: %w", err)
		}
		if err := wb.Set(vaultKey(e.ref), val); err != nil {
			return fmt.Errorf("writing vault: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("writing vault: %w", err)
	}
	return nil
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
			if err := item.Value(func(val []byte) error { return json.Unmarshal(val, &p) }); err != nil {
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
