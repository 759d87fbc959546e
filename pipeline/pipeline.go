// Package pipeline runs the whole tfmatch pipeline in one process, for
// evaluation on data with known truth: each source goes through the agency
// node's code (mapping, normalisation, match keys, tokens, vault), the
// batches go through the matcher's ingest (validation, blinding, the badger
// token store), and the matcher's engine links, forms households and
// applies the rules. Only the network is missing; the keys are ephemeral.
package pipeline

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"tfmatch/agency"
	"tfmatch/agency/mapping"
	"tfmatch/keys"
	"tfmatch/matcher"
	"tfmatch/matcher/ingest"
	"tfmatch/matcher/linkage"
	"tfmatch/matcher/rules"
	"tfmatch/matcher/store"
)

// Source is one agency's extract.
type Source struct {
	Name    string // the source name written in clusters.csv
	Data    string // CSV extract
	Mapping string // mapping file
}

// Config configures Run. Zero values of optional fields mean defaults.
type Config struct {
	Sources []Source
	// Out receives clusters.csv, flagged.csv and one rejects file per source.
	Out string
	// Rules defaults to the phase-1 rule set.
	Rules *rules.RuleSet
	// AsOf is the indicators' reference date (default today).
	AsOf    time.Time
	Linkage linkage.Config
	Logger  *slog.Logger
	// Progress, when set, receives each source's progress line.
	Progress io.Writer
	// Keys, when set, are the run's keys; by default each run draws
	// fresh ones. The similarity tier's Bloom filters, and so a few
	// borderline links, depend on the keys: fixed keys make an
	// evaluation repeatable.
	Keys *Keys
}

// Keys are the secrets of one run.
type Keys struct {
	Secret   keys.ProgrammeSecret
	Blinding keys.BlindingKey
	// Local holds each source's local key, by source name; a source not
	// in it gets a fresh one.
	Local map[string]keys.LocalKey
}

// Summary reports a run.
type Summary struct {
	Sources    map[string]agency.Summary
	Records    int
	Persons    int
	Households int
	Flagged    int
	// Threshold is the similarity tier's Dice threshold (zero when the
	// tier is off).
	Threshold float64
	Elapsed   time.Duration
}

var sourceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

// Validate reports whether c can run.
func (c Config) Validate() error {
	if len(c.Sources) == 0 {
		return errors.New("no sources")
	}
	if c.Out == "" {
		return errors.New("no output directory")
	}
	if c.Keys != nil && (c.Keys.Secret.Equal(keys.ProgrammeSecret{}) || c.Keys.Blinding.Equal(keys.BlindingKey{})) {
		return errors.New("keys given without a programme secret or a blinding key")
	}
	seen := map[string]bool{}
	for _, s := range c.Sources {
		if !sourceName.MatchString(s.Name) {
			return fmt.Errorf("source name %q: use letters, digits, '-' and '_', starting with a letter", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("source %q given twice", s.Name)
		}
		seen[s.Name] = true
	}
	return c.Linkage.Validate()
}

// ephemeralISA is hashed into the ephemeral token keys.
const ephemeralISA = "tfmatch one-process evaluation run (ephemeral keys)"

// Run pseudonymises, ingests, links and evaluates every source and writes
// the results to cfg.Out.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if cfg.Rules == nil {
		cfg.Rules = rules.Phase1()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	maps := make([]*mapping.Mapping, len(cfg.Sources))
	for i, s := range cfg.Sources {
		m, err := mapping.Load(s.Mapping)
		if err != nil {
			return Summary{}, fmt.Errorf("source %s: mapping %s: %w", s.Name, s.Mapping, err)
		}
		maps[i] = m
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return Summary{}, fmt.Errorf("output directory: %w", err)
	}
	work, err := os.MkdirTemp("", "tfmatch-link-")
	if err != nil {
		return Summary{}, err
	}
	defer os.RemoveAll(work)

	k := Keys{}
	if cfg.Keys != nil {
		k = *cfg.Keys
	} else {
		if k.Secret, err = keys.NewProgrammeSecret(); err != nil {
			return Summary{}, err
		}
		if k.Blinding, err = keys.NewBlindingKey(); err != nil {
			return Summary{}, err
		}
	}
	secret, blinding := k.Secret, k.Blinding
	kctx := keys.Context{ISAHash: keys.HashISA([]byte(ephemeralISA)), Epoch: 1}
	st, err := store.Open(filepath.Join(work, "store"), store.Options{Logger: cfg.Logger})
	if err != nil {
		return Summary{}, err
	}
	defer st.Close()
	in := &ingest.Ingester{Store: st, Blinding: blinding, ISAHash: kctx.ISAHash, Epoch: kctx.Epoch}

	sum := Summary{Sources: map[string]agency.Summary{}}
	vaults := map[string]*agency.Vault{}
	defer func() {
		for _, v := range vaults {
			v.Close()
		}
	}()
	for i, s := range cfg.Sources {
		local, ok := k.Local[s.Name]
		if !ok {
			if local, err = keys.NewLocalKey(); err != nil {
				return sum, err
			}
		}
		v, err := agency.OpenVault(filepath.Join(work, "vault-"+s.Name), agency.VaultOptions{Logger: cfg.Logger})
		if err != nil {
			return sum, err
		}
		vaults[s.Name] = v
		as, err := agency.Run(ctx, agency.Config{
			Source:       s.Name,
			Mapping:      maps[i],
			Extract:      s.Data,
			AsOf:         cfg.AsOf,
			Keys:         agency.Keys{Secret: secret, Context: kctx, Local: local},
			RejectsPath:  filepath.Join(cfg.Out, "rejects-"+s.Name+".csv"),
			WarningsPath: filepath.Join(cfg.Out, "warnings-"+s.Name+".csv"),
			Logger:       cfg.Logger,
			Progress:     cfg.Progress,
		}, v, &ingestSink{in: in, source: s.Name})
		sum.Sources[s.Name] = as
		if err != nil {
			return sum, fmt.Errorf("source %s: %w", s.Name, err)
		}
	}

	cl, err := matcher.Cluster(ctx, st, cfg.Rules, cfg.Linkage)
	if err != nil {
		return sum, err
	}
	ids, err := resolveAll(ctx, cl, vaults)
	if err != nil {
		return sum, err
	}
	if err := writeClusters(filepath.Join(cfg.Out, "clusters.csv"), cl, ids); err != nil {
		return sum, err
	}
	if err := writeLinks(filepath.Join(cfg.Out, "links.csv"), cl, ids); err != nil {
		return sum, err
	}
	flagged := cl.Flagged()
	if err := writeFlagged(filepath.Join(cfg.Out, "flagged.csv"), flagged); err != nil {
		return sum, err
	}
	sum.Records = len(cl.Records)
	sum.Households = len(cl.Households)
	sum.Flagged = len(flagged)
	sum.Threshold = cl.Link.Threshold
	persons := map[int]bool{}
	for _, a := range cl.Records {
		persons[a.Person] = true
	}
	sum.Persons = len(persons)
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// ingestSink hands batches straight to the matcher's ingest.
type ingestSink struct {
	in     *ingest.Ingester
	source string
	acked  int
}

func (s *ingestSink) Send(ctx context.Context, b agency.Batch) error {
	ib := ingest.Batch{Source: s.source, ID: b.ID, ISAHash: b.ISAHash[:], Epoch: b.Epoch, Records: make([]ingest.Record, len(b.Records))}
	for i, r := range b.Records {
		rec := ingest.Record{Ref: r.Ref[:], Tokens: make([]ingest.Token, len(r.Tokens)), Indicators: r.Indicators}
		if r.Filter != nil {
			rec.Filter = r.Filter[:]
		}
		for j, t := range r.Tokens {
			rec.Tokens[j] = ingest.Token{Kind: t.Kind, Value: t.Value[:]}
		}
		ib.Records[i] = rec
	}
	res, err := s.in.Accept(ctx, ib)
	if err != nil {
		return err
	}
	s.acked += res.Records
	return nil
}

func (s *ingestSink) Close(context.Context) (int, error) { return s.acked, nil }

// writeFileAtomic writes through a temporary file and renames it into
// place, so a reader never sees half a file.
func writeFileAtomic(path string, write func(w *csv.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := write(w); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// recordIDs maps each source's references to its local record ids.
type recordIDs map[string]map[keys.Ref]agency.Person

func (ids recordIDs) id(a matcher.Assignment) string { return ids[a.Source][keys.Ref(a.Ref)].RecordID }

// resolveAll turns every stored reference back into its record id through
// the source's vault.
func resolveAll(ctx context.Context, cl *matcher.Clustering, vaults map[string]*agency.Vault) (recordIDs, error) {
	refsBySource := map[string][]keys.Ref{}
	for _, a := range cl.Records {
		refsBySource[a.Source] = append(refsBySource[a.Source], keys.Ref(a.Ref))
	}
	ids := recordIDs{}
	for src, refs := range refsBySource {
		v, ok := vaults[src]
		if !ok {
			return nil, fmt.Errorf("records of unknown source %q in the store", src)
		}
		found, unknown, err := v.Resolve(ctx, refs)
		if err != nil {
			return nil, err
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("source %s: %d stored references missing from its vault", src, len(unknown))
		}
		ids[src] = found
	}
	return ids, nil
}

func writeClusters(path string, cl *matcher.Clustering, ids recordIDs) error {
	type row struct{ source, id, person, household string }
	rows := make([]row, 0, len(cl.Records))
	for _, a := range cl.Records {
		rows = append(rows, row{a.Source, ids.id(a), a.PersonID, a.HouseholdID})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].source != rows[j].source {
			return rows[i].source < rows[j].source
		}
		return rows[i].id < rows[j].id
	})
	return writeFileAtomic(path, func(w *csv.Writer) error {
		if err := w.Write([]string{"source", "record_id", "person_id", "household_id"}); err != nil {
			return err
		}
		for _, r := range rows {
			if err := w.Write([]string{r.source, r.id, r.person, r.household}); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeLinks writes every union linkage made: person-level unions join two
// records, household-level unions two persons (each shown by its first
// record).
func writeLinks(path string, cl *matcher.Clustering, ids recordIDs) error {
	first := map[int]int{}
	for i, a := range cl.Records {
		if _, ok := first[a.Person]; !ok {
			first[a.Person] = i
		}
	}
	return writeFileAtomic(path, func(w *csv.Writer) error {
		if err := w.Write([]string{"level", "source_a", "record_id_a", "source_b", "record_id_b", "kind"}); err != nil {
			return err
		}
		write := func(level string, a, b int, kind string) error {
			ra, rb := cl.Records[a], cl.Records[b]
			return w.Write([]string{level, ra.Source, ids.id(ra), rb.Source, ids.id(rb), kind})
		}
		for _, u := range cl.Link.Links {
			if err := write("person", u.A, u.B, string(u.Kind)); err != nil {
				return err
			}
		}
		for _, u := range cl.Link.HouseholdLinks {
			if err := write("household", first[u.A], first[u.B], string(u.Kind)); err != nil {
				return err
			}
		}
		return nil
	})
}

// FlaggedColumns are the criteria columns of flagged.csv, in order.
var flaggedColumns = []string{"crime_asb", "education", "work", "local_concern"}

func writeFlagged(path string, hs []matcher.Household) error {
	sort.Slice(hs, func(i, j int) bool { return hs[i].ID < hs[j].ID })
	return writeFileAtomic(path, func(w *csv.Writer) error {
		if err := w.Write(append([]string{"household_id", "rule"}, flaggedColumns...)); err != nil {
			return err
		}
		for _, h := range hs {
			rec := []string{h.ID, h.Outcome.Rule}
			for _, c := range flaggedColumns {
				v := "0"
				if h.Outcome.Criteria[c] {
					v = "1"
				}
				rec = append(rec, v)
			}
			if err := w.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
}
