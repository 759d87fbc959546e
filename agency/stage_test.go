package agency

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"tfmatch/agency/mapping"
	"tfmatch/synth"
)

// TestMatchKeyStage checks that the stage makes exactly the tokens Run
// sends, row by row, for every agency of a synthetic district.
func TestMatchKeyStage(t *testing.T) {
	dir := t.TempDir()
	d, err := synth.Generate(synth.Config{Seed: 7, Households: 300})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	asof, err := synth.AsOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := newKeys(t)
	ps, err := NewPseudonymiser(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, agency := range synth.Agencies() {
		t.Run(agency, func(t *testing.T) {
			m := loadMapping(t, filepath.Join(dir, "mappings", agency+".yaml"))
			extract := filepath.Join(dir, agency+".csv")
			sink := &fakeSink{}
			sum, err := Run(context.Background(), Config{Mapping: m, Extract: extract, AsOf: asof, Keys: k}, openVault(t), sink)
			if err != nil {
				t.Fatal(err)
			}
			var sent [][]Token
			for _, r := range sink.records() {
				sent = append(sent, r.Tokens)
			}

			f, err := os.Open(extract)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rd, err := m.NewReader(f, agency+".csv", mapping.ReaderOptions{AsOf: asof})
			if err != nil {
				t.Fatal(err)
			}
			stage := ps.NewMatchKeyStage()
			var made [][]Token
			total := 0
			for {
				row, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					continue // a row the mapping rejects
				}
				n := stage.Tokens(row.Fields)
				if n != len(stage.buf) {
					t.Fatalf("Tokens = %d, made %d", n, len(stage.buf))
				}
				if n > 0 {
					made = append(made, append([]Token(nil), stage.buf...))
				}
				total += n
			}
			if total != sum.Tokens || total == 0 {
				t.Errorf("stage made %d tokens, Run sent %d", total, sum.Tokens)
			}
			if !reflect.DeepEqual(made, sent) {
				t.Errorf("stage and Run made different tokens (%d and %d records)", len(made), len(sent))
			}
		})
	}
}
