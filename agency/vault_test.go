package agency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tfmatch/keys"
)

func testPeople(t testing.TB, local keys.LocalKey, n int) []vaultEntry {
	t.Helper()
	out := make([]vaultEntry, n)
	for i := range out {
		id := fmt.Sprintf("R%04d", i)
		out[i] = vaultEntry{ref: local.Ref(id), person: Person{
			RecordID: id, GivenName: "Given" + id, FamilyName: "O'Family", DOB: "2001-02-03",
			Address: "Flat 1, 2 Road, Town", Postcode: "LS1 1AA",
		}}
	}
	return out
}

func TestVaultRoundTrip(t *testing.T) {
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	vk, err := local.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v, err := OpenVault(dir, VaultOptions{Key: vk, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	entries := testPeople(t, local, 25)
	if err := v.put(entries[:20]); err != nil {
		t.Fatal(err)
	}
	// A second put replaces an entry and adds new ones.
	changed := entries[3]
	changed.person.GivenName = "Renamed"
	if err := v.put(append([]vaultEntry{changed}, entries[20:]...)); err != nil {
		t.Fatal(err)
	}
	missing := []keys.Ref{local.Ref("nobody"), local.Ref("R9999")}

	check := func(t *testing.T, v *Vault) {
		t.Helper()
		refs := []keys.Ref{missing[0]}
		for _, e := range entries {
			refs = append(refs, e.ref)
		}
		refs = append(refs, missing[1])
		found, unknown, err := v.Resolve(context.Background(), refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != len(entries) {
			t.Errorf("found %d of %d people", len(found), len(entries))
		}
		for i, e := range entries {
			want := e.person
			if i == 3 {
				want.GivenName = "Renamed"
			}
			if found[e.ref] != want {
				t.Errorf("ref of %s: got %+v, want %+v", e.person.RecordID, found[e.ref], want)
			}
		}
		if len(unknown) != 2 || unknown[0] != missing[0] || unknown[1] != missing[1] {
			t.Errorf("unknown = %x, want the two missing refs in request order", unknown)
		}
		if n, err := v.Len(); err != nil || n != len(entries) {
			t.Errorf("Len = %d, %v; want %d", n, err, len(entries))
		}
	}
	t.Run("open", func(t *testing.T) { check(t, v) })
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("reopened", func(t *testing.T) {
		v, err := OpenVault(dir, VaultOptions{Key: vk, Retention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		check(t, v)
	})
}

func TestVaultEmptyAndCanceled(t *testing.T) {
	v := openVault(t)
	found, unknown, err := v.Resolve(context.Background(), nil)
	if err != nil || len(found) != 0 || len(unknown) != 0 {
		t.Errorf("Resolve(nil) = %v, %v, %v", found, unknown, err)
	}
	if n, err := v.Len(); err != nil || n != 0 {
		t.Errorf("empty vault Len = %d, %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := v.Resolve(ctx, []keys.Ref{{1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Resolve on a canceled context: %v", err)
	}
}

func TestOpenVaultBadDir(t *testing.T) {
	f := writeFile(t, "not-a-dir", "x")
	if v, err := OpenVault(f, VaultOptions{}); err == nil {
		v.Close()
		t.Fatal("OpenVault on a file succeeded")
	}
}

// newVaultKey returns the vault key of a fresh local key.
func newVaultKey(t testing.TB) keys.VaultKey {
	t.Helper()
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	vk, err := local.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	return vk
}

// TestVaultEncryptedAtRest writes people with distinctive details, closes
// the vault and scans every byte of every file in its directory for them.
func TestVaultEncryptedAtRest(t *testing.T) {
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	vk, err := local.VaultKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	v, err := OpenVault(dir, VaultOptions{Key: vk, Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	entries := testPeople(t, local, 500)
	for i := range entries {
		entries[i].person.FamilyName = "Quasimodo-Featherstonehaugh"
		entries[i].person.Postcode = "ZZ99 9QX"
	}
	if err := v.put(entries); err != nil {
		t.Fatal(err)
	}
	// Force the memtable into a table file as well, so both the value log
	// and an SST are scanned.
	if err := v.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"Quasimodo-Featherstonehaugh", "Featherstonehaugh", "ZZ99 9QX", "GivenR0001", "R0042", "Flat 1, 2 Road"}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds %q in clear", filepath.Base(path), s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the vault directory holds no files")
	}
	// The same key reads it back.
	v, err = OpenVault(dir, VaultOptions{Key: vk})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	found, _, err := v.Resolve(context.Background(), []keys.Ref{entries[42].ref})
	if err != nil || found[entries[42].ref] != entries[42].person {
		t.Errorf("reopened vault: %+v, %v", found, err)
	}
}

func TestOpenVaultRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare writes a vault in dir the way the case needs.
		prepare func(t *testing.T, dir string)
		want    error
		says    string
	}{
		{
			name: "another key",
			prepare: func(t *testing.T, dir string) {
				v, err := OpenVault(dir, VaultOptions{Key: newVaultKey(t)})
				if err != nil {
					t.Fatal(err)
				}
				if err := v.put(testPeople(t, keys.LocalKey{}, 3)); err != nil {
					t.Fatal(err)
				}
				v.Close()
			},
			want: ErrVaultKey,
			says: "not written with this node's local key",
		},
		{
			name: "unencrypted vault of an older version",
			prepare: func(t *testing.T, dir string) {
				db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Update(func(txn *badger.Txn) error {
					return txn.Set([]byte(vaultPrefix+"0123456789abcdef"), []byte(`{"record_id":"R1"}`))
				}); err != nil {
					t.Fatal(err)
				}
				db.Close()
			},
			want: ErrVaultNotEncrypted,
			says: "move it aside and submit the extract again",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.prepare(t, dir)
			v, err := OpenVault(dir, VaultOptions{Key: newVaultKey(t)})
			if err == nil {
				v.Close()
				t.Fatal("OpenVault succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("OpenVault: %v; want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestVaultExpiry writes with a retention of one second and checks the
// entries are gone after it (badger's TTL has a resolution of a second).
func TestVaultExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits two seconds")
	}
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := OpenVault(t.TempDir(), VaultOptions{Key: newVaultKey(t), Retention: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	entries := testPeople(t, local, 10)
	if err := v.put(entries); err != nil {
		t.Fatal(err)
	}
	refs := []keys.Ref{entries[0].ref, entries[9].ref}
	if found, _, err := v.Resolve(context.Background(), refs); err != nil || len(found) != 2 {
		t.Fatalf("before expiry: found %d, %v", len(found), err)
	}
	time.Sleep(2100 * time.Millisecond)
	found, unknown, err := v.Resolve(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 0 || len(unknown) != 2 {
		t.Errorf("after the retention: found %d, unknown %d; want 0 and 2", len(found), len(unknown))
	}
	if n, err := v.Len(); err != nil || n != 0 {
		t.Errorf("after the retention: Len = %d, %v", n, err)
	}
}

func TestOpenVaultNegativeRetention(t *testing.T) {
	if v, err := OpenVault(t.TempDir(), VaultOptions{Retention: -time.Second}); err == nil {
		v.Close()
		t.Fatal("OpenVault with a negative retention succeeded")
	}
}

// TestPersonEncoding pins the vault's value encoding (version 1) byte for
// byte, and checks that it round-trips people with empty, non-ASCII and
// long fields.
func TestPersonEncoding(t *testing.T) {
	p := Person{RecordID: "R1", GivenName: "Zoë", DOB: "2001-02-03", Postcode: "LS1 1AA"}
	want := "\x01\x02R1\x04Zo\xc3\xab\x00\x0a2001-02-03\x00\x07LS1 1AA"
	if got := string(appendPerson(nil, &p)); got != want {
		t.Errorf("encoding = %q, want %q", got, want)
	}
	for _, p := range []Person{
		{},
		p,
		{RecordID: strings.Repeat("x", 300), GivenName: "A", FamilyName: "O'Brien-Smith", DOB: "1", Address: strings.Repeat("Flat 1, ", 40), Postcode: "YO1 7HH"},
	} {
		b := appendPerson(nil, &p)
		if len(b) != personSize(&p) {
			t.Errorf("personSize = %d, encoding %d bytes", personSize(&p), len(b))
		}
		got, err := decodePerson(b)
		if err != nil || got != p {
			t.Errorf("decodePerson(appendPerson(%+v)) = %+v, %v", p, got, err)
		}
		for n := range len(b) {
			if _, err := decodePerson(b[:n]); err == nil {
				t.Errorf("decodePerson accepts %d of %d bytes", n, len(b))
			}
		}
		if _, err := decodePerson(append(b, 0)); err == nil {
			t.Error("decodePerson accepts a trailing byte")
		}
	}
	if _, err := decodePerson([]byte{0x02, 0}); err == nil {
		t.Error("decodePerson accepts an unknown version")
	}
}

// TestVaultReadsJSONEntries checks that a vault written before the binary
// encoding (people as JSON) still resolves.
func TestVaultReadsJSONEntries(t *testing.T) {
	local, err := keys.NewLocalKey()
	if err != nil {
		t.Fatal(err)
	}
	v := openVault(t)
	entries := testPeople(t, local, 3)
	err = v.db.Update(func(txn *badger.Txn) error {
		for _, e := range entries {
			val, err := json.Marshal(e.person)
			if err != nil {
				return err
			}
			if err := txn.Set(vaultKey(e.ref), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found, unknown, err := v.Resolve(context.Background(), []keys.Ref{entries[0].ref, entries[2].ref})
	if err != nil || len(unknown) != 0 {
		t.Fatalf("Resolve: %v, unknown %d", err, len(unknown))
	}
	for _, e := range []vaultEntry{entries[0], entries[2]} {
		if found[e.ref] != e.person {
			t.Errorf("got %+v, want %+v", found[e.ref], e.person)
		}
	}
}

func FuzzDecodePerson(f *testing.F) {
	f.Add(appendPerson(nil, &Person{RecordID: "R1", GivenName: "Zoë", Address: "1 Road"}))
	f.Add([]byte(`{"record_id":"R1"}`))
	f.Add([]byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePerson(b)
		if err != nil || len(b) == 0 || b[0] != personV1 {
			return
		}
		if again := appendPerson(nil, &p); string(again) != string(b) {
			t.Fatalf("re-encoding %x gives %x", b, again)
		}
	})
}

// TestVaultReadsCompressedTables checks that a vault whose tables an
// earlier build wrote Snappy-compressed (badger's default, before the
// vault turned compression off) still reads: badger records each table's
// compression in its manifest.
func TestVaultReadsCompressedTables(t *testing.T) {
	dir := t.TempDir()
	key, err := keys.NewScratchVaultKey()
	if err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithEncryptionKey(key.AES256()).
		WithIndexCacheSize(vaultIndexCacheSize).WithCompression(options.Snappy))
	if err != nil {
		t.Fatal(err)
	}
	old := &Vault{db: db}
	entries := testPeople(t, newKeys(t).Local, 500)
	if err := old.put(entries); err != nil {
		t.Fatal(err)
	}
	// Closing flushes the memtable to a (compressed) table.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if tables, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(tables) == 0 {
		t.Fatal("no table written: the test would read the write-ahead log instead")
	}
	v, err := OpenVault(dir, VaultOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	refs := make([]keys.Ref, len(entries))
	for i, e := range entries {
		refs[i] = e.ref
	}
	found, unknown, err := v.Resolve(context.Background(), refs)
	if err != nil || len(unknown) != 0 {
		t.Fatalf("Resolve: %v, %d unknown", err, len(unknown))
	}
	for _, e := range entries {
		if found[e.ref] != e.person {
			t.Fatalf("%s reads back as %+v, want %+v", e.person.RecordID, found[e.ref], e.person)
		}
	}
}
