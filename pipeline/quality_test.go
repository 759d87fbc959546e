package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"tfmatch/eval"
	"tfmatch/synth"
)

// qualityFloor is the linkage quality the generated district must reach at
// default error rates, on a fixed seed. A change that drops below it fails
// the build; raise it as linkage improves.
var qualityFloor = struct {
	persons, households, flagged float64
}{persons: 0.995, households: 0.99, flagged: 0.99}

// TestQualityFloor runs the whole one-process pipeline on a generated
// district and scores it against the generator's truth.
func TestQualityFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline on 3,000 households")
	}
	dir := t.TempDir()
	district := filepath.Join(dir, "district")
	d, err := synth.Generate(synth.Config{Seed: 3, Households: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(district); err != nil {
		t.Fatal(err)
	}
	asof, err := synth.AsOf(district)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Out: filepath.Join(dir, "out"), AsOf: asof}
	for _, a := range synth.Agencies() {
		cfg.Sources = append(cfg.Sources, Source{
			Name:    a,
			Data:    filepath.Join(district, a+".csv"),
			Mapping: filepath.Join(district, "mappings", a+".yaml"),
		})
	}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Evaluate(filepath.Join(district, "truth"), cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records, %d persons, %d households, %d flagged", sum.Records, sum.Persons, sum.Households, sum.Flagged)
	if rep.Unknown != 0 {
		t.Errorf("%d records in clusters.csv unknown to the truth", rep.Unknown)
	}
	for _, c := range []struct {
		name  string
		p     eval.PRF
		floor float64
	}{
		{"persons", rep.Persons, qualityFloor.persons},
		{"households", rep.Households, qualityFloor.households},
		{"flagged households", rep.Flagged, qualityFloor.flagged},
	} {
		msg := fmt.Sprintf("%s: precision %.4f recall %.4f F1 %.4f", c.name, c.p.Precision(), c.p.Recall(), c.p.F1())
		t.Log(msg)
		if c.p.F1() < c.floor {
			t.Errorf("%s below the floor %.3f", msg, c.floor)
		}
	}
	for _, k := range rep.Kinds {
		if k.Level == "person" && k.Wrong > 0 {
			t.Errorf("match key %s made %d wrong person links of %d", k.Kind, k.Wrong, k.Links)
		}
	}
}
