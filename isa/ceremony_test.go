package isa

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"tfmatch/keys"
)

// TestCeremony: every agency can open its own file and no other; the
// matcher, the lead and the auditor open none; the files are bound to the
// agreement and epoch.
func TestCeremony(t *testing.T) {
	f := newFixture(t)
	// Keep the agreement in force whenever the test runs.
	f.a.ValidUntil = time.Now().AddDate(1, 0, 0).Truncate(time.Second)
	f.signAll(t)
	dir := t.TempDir()
	rec, err := Ceremony(f.a, 1, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := f.a.Hash()
	if rec.ISAHash != hex.EncodeToString(h[:]) || rec.Epoch != 1 {
		t.Errorf("record = %+v", rec)
	}
	agencies := f.a.PartiesWithRole(RoleAgency)
	if len(rec.Wrapped) != len(agencies) {
		t.Fatalf("%d files for %d agencies", len(rec.Wrapped), len(agencies))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(agencies) {
		t.Errorf("output directory holds %d files, want %d", len(ents), len(agencies))
	}
	for _, w := range rec.Wrapped {
		if w.File != w.Party+".programme.age" {
			t.Errorf("file %q for %s", w.File, w.Party)
		}
		data, err := os.ReadFile(filepath.Join(dir, w.File))
		if err != nil {
			t.Fatal(err)
		}
		for party, id := range f.ids {
			p, ctx, err := keys.UnwrapProgrammeSecret(data, id)
			if party != w.Party {
				if !errors.Is(err, keys.ErrUnwrap) {
					t.Errorf("%s opened %s's file: %v", party, w.Party, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s cannot open its file: %v", party, err)
			}
			if ctx != f.a.KeyContext(1) || p.CheckValue() != rec.Check {
				t.Errorf("%s: context %+v, check %s, want %+v, %s", party, ctx, p.CheckValue(), f.a.KeyContext(1), rec.Check)
			}
		}
	}

	// Rotation: epoch 2 is a new secret under the same agreement.
	rec2, err := Ceremony(f.a, 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Check == rec.Check || rec2.Epoch != 2 || rec2.ISAHash != rec.ISAHash {
		t.Errorf("epoch 2 record = %+v", rec2)
	}
}

func TestCeremonyRefuses(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(f *fixture)
		epoch uint32
		want  string
	}{
		{"unsigned", func(f *fixture) { f.a.Signatures = f.a.Signatures[1:] }, 1, "not signed"},
		{"epoch zero", func(*fixture) {}, 0, "epochs start at 1"},
		{"expired", func(f *fixture) {
			f.a.ValidFrom, f.a.ValidUntil = testFrom.AddDate(-10, 0, 0), testFrom.AddDate(-9, 0, 0)
			f.signAll(t)
		}, 1, "expired"},
		{"matcher recipient on an agency", func(f *fixture) {
			// Validate refuses a shared recipient outright, so the
			// ceremony never gets as far as wrapping to it.
			m, _ := f.a.Party("matcher")
			for i := range f.a.Parties {
				if f.a.Parties[i].ID == "dwp" {
					f.a.Parties[i].AgeRecipient = m.AgeRecipient
				}
			}
		}, 1, "same age recipient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.a.ValidUntil = time.Now().AddDate(1, 0, 0).Truncate(time.Second)
			f.signAll(t)
			tc.mut(f)
			dir := t.TempDir()
			_, err := Ceremony(f.a, tc.epoch, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("refused ceremony wrote %d files", len(ents))
			}
		})
	}
}

// TestCeremonyMatcherCannotUnwrap uses the matcher's own identity from the
// fixture against every output, as the brief for the ceremony demands.
func TestCeremonyMatcherCannotUnwrap(t *testing.T) {
	f := newFixture(t)
	f.a.ValidUntil = time.Now().AddDate(1, 0, 0).Truncate(time.Second)
	f.signAll(t)
	dir := t.TempDir()
	rec, err := Ceremony(f.a, 1, dir)
	if err != nil {
		t.Fatal(err)
	}
	var m age.Identity = f.ids["matcher"]
	for _, w := range rec.Wrapped {
		data, _ := os.ReadFile(filepath.Join(dir, w.File))
		if _, _, err := keys.UnwrapProgrammeSecret(data, m); !errors.Is(err, keys.ErrUnwrap) {
			t.Errorf("matcher opened %s: %v", w.File, err)
		}
	}
}
