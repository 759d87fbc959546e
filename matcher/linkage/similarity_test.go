package linkage

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// bitsFilter returns a filter with bits [from, to) set.
func bitsFilter(from, to int) []byte {
	f := make([]byte, store.FilterLen)
	for i := from; i < to; i++ {
		f[i/8] |= 1 << (i % 8)
	}
	return f
}

func withFilter(r store.Record, f []byte) store.Record {
	r.Filter = f
	return r
}

func TestSimilarity(t *testing.T) {
	// Filters of 300 bits; overlap of o bits gives Dice o/300.
	near := bitsFilter(0, 300)  // Dice with base: 280/300 = 0.93
	base := bitsFilter(20, 320) // the record everyone is compared with
	far := bitsFilter(100, 400) // Dice with base: 220/300 = 0.73
	same := bitsFilter(20, 320) // Dice 1
	blockName := tk(matchkey.BlockName, "jo smith")
	blockDOB := tk(matchkey.BlockFamilyDOB, "smith 2001")
	otherDOB := tk(matchkey.BlockFamilyDOB, "smith 1971")
	tests := []struct {
		name     string
		cfg      Config
		a, b     store.Record
		linked   bool
		guard    string
		compared int
		skipped  int
	}{
		{name: "similar in one block", a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", blockName), near), linked: true, compared: 1},
		{name: "below threshold", a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", blockName), far), compared: 1},
		{name: "threshold lowered", cfg: Config{SimilarityThreshold: 0.7}, a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", blockName), far), linked: true, compared: 1},
		{name: "no shared block", a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", tk(matchkey.BlockName, "other")), same)},
		{name: "same source", a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("police", "b", blockName), same), compared: 1},
		{name: "no filter", a: rec("police", "a", blockName), b: withFilter(rec("dwp", "b", blockName), same)},
		{name: "disabled", cfg: Config{DisableSimilarity: true}, a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", blockName), same)},
		{name: "dates of birth disagree", a: withFilter(rec("police", "a", blockName, blockDOB), base), b: withFilter(rec("dwp", "b", blockName, otherDOB), same), guard: GuardBirthDate, compared: 1},
		{name: "dates of birth disagree, identifiers one typo apart", a: withFilter(rec("police", "a", blockName, blockDOB, tk(matchkey.BlockOtherIDNear, "71564?3")), base), b: withFilter(rec("dwp", "b", blockName, otherDOB, tk(matchkey.BlockOtherIDNear, "71564?3")), near), linked: true, compared: 2},
		{name: "dates of birth agree", a: withFilter(rec("police", "a", blockName, blockDOB), base), b: withFilter(rec("dwp", "b", blockName, blockDOB), near), linked: true, compared: 2},
		{name: "one date of birth missing", a: withFilter(rec("police", "a", blockName, blockDOB), base), b: withFilter(rec("dwp", "b", blockName), near), linked: true, compared: 1},
		{name: "identifiers conflict", a: withFilter(rec("police", "a", blockName, tk(matchkey.NINO, "1")), base), b: withFilter(rec("dwp", "b", blockName, tk(matchkey.NINO, "2")), same), guard: GuardIdentifier, compared: 1},
		{name: "block too large", cfg: Config{MaxBlockRecords: 1}, a: withFilter(rec("police", "a", blockName), base), b: withFilter(rec("dwp", "b", blockName), same), skipped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Link([]store.Record{tt.a, tt.b}, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.PersonOf[0] == res.PersonOf[1]; got != tt.linked {
				t.Errorf("linked = %v, want %v", got, tt.linked)
			}
			if tt.linked && (len(res.Links) != 1 || res.Links[0].Kind != matchkey.Similarity || res.LinksByKind[matchkey.Similarity] != 1) {
				t.Errorf("links %+v, want one of kind %s", res.Links, matchkey.Similarity)
			}
			if tt.guard != "" && res.Blocked[tt.guard] != 1 {
				t.Errorf("blocked %v, want one by %s", res.Blocked, tt.guard)
			}
			if res.Compared != tt.compared {
				t.Errorf("compared %d pairs, want %d", res.Compared, tt.compared)
			}
			if n := res.SkippedBlocks[matchkey.BlockName]; n != tt.skipped {
				t.Errorf("skipped %d blocks, want %d", n, tt.skipped)
			}
		})
	}
}

// TestSimilarityBestFirst checks that when one record is similar to two
// records of one source, it joins the more similar one, whatever the
// input order.
func TestSimilarityBestFirst(t *testing.T) {
	blk := tk(matchkey.BlockName, "b")
	recs := []store.Record{
		withFilter(rec("police", "p", blk), bitsFilter(0, 300)),
		withFilter(rec("dwp", "close", blk), bitsFilter(5, 305)),
		withFilter(rec("dwp", "less", blk), bitsFilter(40, 340)),
	}
	want := []string{"close p", "less"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		names := make([]string, len(recs))
		for i, r := range recs {
			for _, n := range []string{"p", "close", "less"} {
				if r.Ref == ref(n) {
					names[i] = n
				}
			}
		}
		res, err := Link(recs, Config{})
		if err != nil {
			t.Fatal(err)
		}
		persons, _ := groups(recs, names, res)
		if !reflect.DeepEqual(persons, want) {
			t.Fatalf("persons %v, want %v", persons, want)
		}
	}
}

func TestLinkRejectsBadFilter(t *testing.T) {
	r := withFilter(rec("police", "a", tk(matchkey.NameDOB, "x")), make([]byte, 7))
	if _, err := Link([]store.Record{r}, Config{}); err == nil {
		t.Error("Link accepted a 7-byte filter")
	}
	if err := (Config{SimilarityThreshold: 1.5}).Validate(); err == nil {
		t.Error("Validate accepted threshold 1.5")
	}
}

func TestChooseThreshold(t *testing.T) {
	cands := func(ds ...float64) []candidate {
		var out []candidate
		for i, d := range ds {
			out = append(out, candidate{a: int32(i), b: int32(i + 1), dice: d})
		}
		return out
	}
	// 100 candidates spread over [0.70, 0.99].
	var spread []float64
	for i := range 100 {
		spread = append(spread, 0.70+float64(i%30)/100)
	}
	tests := []struct {
		name          string
		cands         []candidate
		decoys        []float64
		nCross, nSame int
		want          float64
	}{
		{"no same-source pairs to learn from", cands(spread...), nil, 1000, 0, DefaultSimilarityThreshold},
		{"different people never come close", cands(spread...), nil, 1000, 1000, MinAutoThreshold},
		{"look-alikes above 0.8 keep 0.8", cands(spread...), []float64{0.85, 0.9, 0.95}, 1000, 1000, DefaultSimilarityThreshold},
		// One decoy at 0.745, scaled by 2: two expected false
		// candidates, more than 1% of those at or above 0.74.
		{"a decoy stops the descent", cands(spread...), []float64{0.745}, 2000, 1000, 0.75},
		{"no candidates at all", nil, nil, 0, 10, MinAutoThreshold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chooseThreshold(tt.cands, tt.decoys, tt.nCross, tt.nSame); got != tt.want {
				t.Errorf("chooseThreshold = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAutoThresholdLinksWhatDataAllow checks the whole tier: a pair at
// Dice 0.73 is linked when the same sources' own pairs show different
// people never come that close, and not when they do.
func TestAutoThresholdLinksWhatDataAllow(t *testing.T) {
	base := bitsFilter(20, 320)
	far := bitsFilter(100, 400) // Dice with base 0.73
	unlike := bitsFilter(600, 900)
	block := tk(matchkey.BlockName, "jo smith")
	recs := []store.Record{
		withFilter(rec("police", "a", block), base),
		withFilter(rec("dwp", "b", block), far),
		withFilter(rec("police", "c", block), unlike),
	}
	res, err := Link(recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if res.PersonOf[0] != res.PersonOf[1] || res.Threshold != MinAutoThreshold {
		t.Errorf("clean data: linked %v at threshold %v, want linked at %v", res.PersonOf[0] == res.PersonOf[1], res.Threshold, MinAutoThreshold)
	}
	// A police look-alike of the police record (Dice 0.93) says
	// different people can come that close.
	recs[2] = withFilter(rec("police", "c", block), bitsFilter(0, 300))
	res, err = Link(recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if res.PersonOf[0] == res.PersonOf[1] || res.Threshold != DefaultSimilarityThreshold {
		t.Errorf("look-alikes: linked %v at threshold %v, want not linked at %v", res.PersonOf[0] == res.PersonOf[1], res.Threshold, DefaultSimilarityThreshold)
	}
}
