package agency

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
	dir := t.TempDir()
	v, err := OpenVault(dir, VaultOptions{})
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
		v, err := OpenVault(dir, VaultOptions{})
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
