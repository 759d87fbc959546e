package agency

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tfmatch/agency/mapping"
	"tfmatch/agency/normalize"
	"tfmatch/keys"
)

// Sink receives batches. Send may return before the matcher has
// acknowledged the batch; Close waits for every acknowledgement and reports
// how many records were acknowledged. Send must not keep the batch's
// records, tokens or filters once it returns (a sink that needs them later
// copies them): Run uses their memory again for later batches.
type Sink interface {
	Send(ctx context.Context, b Batch) error
	Close(ctx context.Context) (acknowledged int, err error)
}

// Reject is a row that was not accepted.
type Reject struct {
	Line      int
	Field     string
	Column    string
	Indicator string
	Reason    string
}

// Summary reports a run.
type Summary struct {
	Read     int
	Accepted int
	Rejected int
	// Merged counts rows that repeat an earlier row's record id (one row
	// per offence, per claim): they are not records of their own; their
	// indicators are combined with the first row's.
	Merged int
	Sent   int
	Issues int // non-fatal problems, such as an invalid identifier dropped
	// Tokens is the number of match-key tokens in the accepted records
	// (each one HMAC of a canonical key).
	Tokens  int
	Elapsed time.Duration
}

// String is the run's one-line summary.
func (s Summary) String() string {
	merged := ""
	if s.Merged > 0 {
		merged = fmt.Sprintf(", merged %d", s.Merged)
	}
	return fmt.Sprintf("read %d, accepted %d, rejected %d%s, sent %d, warnings %d, tokens %d, elapsed %s",
		s.Read, s.Accepted, s.Rejected, merged, s.Sent, s.Issues, s.Tokens, s.Elapsed.Round(time.Millisecond))
}

// Config configures Run. Zero values of optional fields mean defaults.
type Config struct {
	// Source is the agency's party id, used in logs.
	Source string
	// Mapping reads the extract.
	Mapping *mapping.Mapping
	// Extract is the path of the CSV extract.
	Extract string
	// AsOf is the reference date for indicators (default: today).
	AsOf time.Time
	// Keys pseudonymise the records.
	Keys Keys
	// RejectsPath receives rejected rows as CSV (default: none written).
	RejectsPath string
	// WarningsPath receives, in the same layout, the values left out of
	// accepted rows (default: none written).
	WarningsPath string
	// BatchSize is the number of records per batch (default 2000).
	BatchSize int
	// Workers is the number of pseudonymising goroutines (default GOMAXPROCS).
	Workers int
	// Logger receives progress logs (default: discard).
	Logger *slog.Logger
	// Progress, when set, receives a live progress line (for a terminal).
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Mapping == nil {
		return errors.New("agency run: no mapping")
	}
	if c.Extract == "" {
		return errors.New("agency run: no extract file")
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 2000
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AsOf.IsZero() {
		c.AsOf = time.Now().UTC().Truncate(24 * time.Hour)
	}
	return nil
}

// maxChunkRows bounds the rows a new chunk has room for before it grows:
// a batch size far beyond what the matcher accepts costs no memory until
// an extract fills it.
const maxChunkRows = 1 << 14

// chunk is a run of consecutive accepted rows, pseudonymised together.
type chunk struct {
	seq     int
	rows    []mapping.Row
	results []result
	// The slabs the results' tokens and filters were cut from, cut again
	// from the start when the chunk is used again.
	tokens  []Token
	filters []keys.Filter
}

// Run reads the extract, pseudonymises every accepted row, stores the
// agency's own copy in the vault and sends the tokens to sink. Rows the
// mapping or the normaliser reject are written to cfg.RejectsPath with
// their line, field and reason. A record is written to the vault before its
// batch is sent, so every reference the matcher holds can be resolved.
func Run(ctx context.Context, cfg Config, vault *Vault, sink Sink) (Summary, error) {
	start := time.Now()
	if err := cfg.defaults(); err != nil {
		return Summary{}, err
	}
	ps, err := NewPseudonymiser(cfg.Keys)
	if err != nil {
		return Summary{}, err
	}
	f, err := os.Open(cfg.Extract)
	if err != nil {
		return Summary{}, fmt.Errorf("opening extract: %w", err)
	}
	defer f.Close()
	rd, err := cfg.Mapping.NewReader(f, filepath.Base(cfg.Extract), mapping.ReaderOptions{AsOf: cfg.AsOf})
	if err != nil {
		return Summary{}, err
	}
	runID := newRunID(start)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		read, accepted, sent atomic.Int64
		tokens               int // accepted records' tokens (collector only)
		rejMu                sync.Mutex
		rejects              []Reject
	)
	addReject := func(r Reject) {
		rejMu.Lock()
		rejects = append(rejects, r)
		rejMu.Unlock()
	}

	todo := make(chan *chunk, cfg.Workers)
	done := make(chan *chunk, cfg.Workers)
	// Chunks are used again once emitted: a chunk's rows (each holds
	// every canonical field), results and the slabs of its records'
	// tokens and filters are large, and fresh memory for every chunk
	// costs more than reusing them.
	free := make(chan *chunk, cfg.Workers+2)
	newChunk := func(seq int) *chunk {
		select {
		case c := <-free:
			c.seq, c.rows, c.results = seq, c.rows[:0], c.results[:0]
			return c
		default:
			return &chunk{seq: seq, rows: make([]mapping.Row, 0, min(cfg.BatchSize, maxChunkRows))}
		}
	}

	// Reader: cuts the extract into chunks of accepted rows. A record id
	// seen before (several rows for one person: one per offence, per
	// claim) is not a record of its own: one reference stands for one
	// record. The row's true indicators are kept in extra, and once the
	// extract has been read the first row is sent again with them
	// combined (see resendMerged).
	firstLine := map[string]int{}
	extra := map[string]*repeated{}
	var merges []Reject // warnings about merged rows (reader only)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(todo)
		seq := 0
		cur := newChunk(seq)
		for ctx.Err() == nil {
			row, err := rd.NextValues()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				// Declared here, not for every row: errors.As makes it
				// escape, an allocation per row.
				var re *mapping.RowError
				if errors.As(err, &re) {
					read.Add(1)
					addReject(Reject{Line: re.Line, Field: re.Field, Column: re.Column, Indicator: re.Indicator, Reason: re.Reason})
					continue
				}
				cancel(fmt.Errorf("reading %s: %w", cfg.Extract, err))
				return
			}
			read.Add(1)
			id := row.Values.RecordID
			if first, dup := firstLine[id]; dup {
				rp := extra[id]
				if rp == nil {
					rp = &repeated{lines: map[int]bool{first: true}, indicators: map[string]bool{}}
					extra[id] = rp
				}
				rp.lines[row.Line] = true
				for name, v := range row.Indicators {
					if v {
						rp.indicators[name] = true
					}
				}
				merges = append(merges, Reject{Line: row.Line, Field: normalize.FieldRecordID,
					Reason: fmt.Sprintf("repeats the record id of line %d: the id stays one record, with the indicators of all its rows combined and the other fields of the first row that can be accepted", first)})
				continue
			}
			// The id is a slice of the row's whole line as the CSV
			// reader read it: a copy keeps only the id alive.
			firstLine[strings.Clone(id)] = row.Line
			cur.rows = append(cur.rows, row)
			if len(cur.rows) == cfg.BatchSize {
				select {
				case todo <- cur:
				case <-ctx.Done():
					return
				}
				seq++
				cur = newChunk(seq)
			}
		}
		if len(cur.rows) > 0 {
			select {
			case todo <- cur:
			case <-ctx.Done():
			}
		}
	}()

	// Workers: pseudonymise whole chunks.
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := ps.newWorker()
			for c := range todo {
				if cap(c.results) < len(c.rows) {
					c.results = make([]result, len(c.rows))
				}
				c.results = c.results[:len(c.rows)]
				w.tokens, w.filters = c.tokens[:0], c.filters[:0]
				for i := range c.rows {
					c.results[i] = w.row(&c.rows[i])
				}
				// The last slabs cut from (grown, if the chunk's were
				// too small) serve the chunk's next use.
				c.tokens, c.filters = w.tokens, w.filters
				select {
				case done <- c:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	stopProgress := startProgress(cfg.Progress, cfg.Source, &read, &accepted, &sent)

	// Collector: in chunk order, vault then send. Warnings are values left
	// out of accepted rows (an invalid identifier, a date of birth that is
	// not a date).
	var warnings []Reject
	pending := map[int]*chunk{}
	next := 0
	emit := func(c *chunk) error {
		b := Batch{
			ID:      fmt.Sprintf("%s-%06d", runID, c.seq),
			ISAHash: cfg.Keys.Context.ISAHash,
			Epoch:   cfg.Keys.Context.Epoch,
		}
		b.Records = make([]Record, 0, len(c.results))
		entries := make([]vaultEntry, 0, len(c.results))
		for i, r := range c.results {
			if r.reject != nil {
				addReject(*r.reject)
				continue
			}
			line := c.rows[i].Line
			for _, w := range c.rows[i].Warnings {
				warnings = append(warnings, Reject{Line: line, Field: w.Field, Column: w.Column, Reason: w.Reason})
			}
			for _, is := range r.issues {
				warnings = append(warnings, Reject{Line: line, Field: is.Field, Reason: is.Reason})
			}
			b.Records = append(b.Records, r.rec)
			entries = append(entries, vaultEntry{ref: r.rec.Ref, person: r.person})
		}
		if len(b.Records) == 0 {
			return nil
		}
		if err := vault.put(entries); err != nil {
			return err
		}
		if err := sink.Send(ctx, b); err != nil {
			return fmt.Errorf("sending batch %s: %w", b.ID, err)
		}
		accepted.Add(int64(len(b.Records)))
		for _, r := range b.Records {
			tokens += len(r.Tokens)
		}
		return nil
	}
	var runErr error
	for c := range done {
		if runErr != nil {
			continue
		}
		pending[c.seq] = c
		for {
			c, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := emit(c); err != nil {
				runErr = err
				cancel(err)
				break
			}
			// The vault has written the entries and Send has returned,
			// so by the Sink contract nothing keeps the records' tokens
			// or filters: the chunk's rows, results and slabs can be
			// used again.
			select {
			case free <- c:
			default:
			}
		}
	}
	if runErr == nil {
		runErr = context.Cause(ctx)
		if runErr == context.Canceled {
			runErr = ctx.Err()
		}
	}
	if runErr != nil {
		cancel(runErr)
	}
	<-readerDone
	warnings = append(warnings, merges...)
	resent, promoted := 0, 0
	if runErr == nil && len(extra) > 0 {
		var err error
		resent, promoted, err = resendMerged(ctx, cfg, ps, vault, sink, runID, firstLine, extra)
		if err != nil {
			runErr = err
			cancel(err)
		}
		accepted.Add(int64(promoted))
	}
	acked, closeErr := sink.Close(context.WithoutCancel(ctx))
	sent.Store(int64(acked))
	stopProgress()

	sum := Summary{
		Read:     int(read.Load()),
		Accepted: int(accepted.Load()),
		Rejected: len(rejects),
		Merged:   len(merges) - promoted,
		Sent:     acked - (resent - promoted),
		Issues:   len(warnings),
		Tokens:   tokens,
		Elapsed:  time.Since(start),
	}
	if cfg.RejectsPath != "" {
		if err := writeRejects(cfg.RejectsPath, filepath.Base(cfg.Extract), rejects); err != nil && runErr == nil {
			runErr = err
		}
	}
	if cfg.WarningsPath != "" {
		if err := writeRejects(cfg.WarningsPath, filepath.Base(cfg.Extract), warnings); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr == nil && closeErr != nil {
		runErr = closeErr
	}
	if want := sum.Accepted + resent - promoted; runErr == nil && acked != want {
		runErr = fmt.Errorf("matcher acknowledged %d of %d records (%d of them sent again with merged indicators)", acked, want, resent-promoted)
	}
	cfg.Logger.Info("agency run finished", "source", cfg.Source, "read", sum.Read, "accepted", sum.Accepted,
		"rejected", sum.Rejected, "sent", sum.Sent, "elapsed", sum.Elapsed)
	return sum, runErr
}

// repeated is what the first pass keeps of a record id found on several
// rows: the rows' lines and the indicators true in any repeat.
type repeated struct {
	lines      map[int]bool
	indicators map[string]bool
	done       bool // second pass: the id's record is settled
}

// resendMerged reads the extract again and settles every record id that
// repeated: the first of its rows that can be accepted is the record, with
// the true indicators of all its rows combined into its own (an indicator
// is true if it is true in any row). If that is the first row, it was sent
// in the first pass and is sent again only if the repeats change its
// indicators (the matcher's copy is replaced); if the first row was
// rejected, a later row becomes the record and is sent (promoted). It
// returns the records sent and, of those, the ones promoted.
func resendMerged(ctx context.Context, cfg Config, ps *Pseudonymiser, vault *Vault, sink Sink, runID string, firstLine map[string]int, extra map[string]*repeated) (sent, promoted int, err error) {
	f, err := os.Open(cfg.Extract)
	if err != nil {
		return 0, 0, fmt.Errorf("opening extract again to merge repeated record ids: %w", err)
	}
	defer f.Close()
	rd, err := cfg.Mapping.NewReader(f, filepath.Base(cfg.Extract), mapping.ReaderOptions{AsOf: cfg.AsOf})
	if err != nil {
		return 0, 0, err
	}
	w := ps.newWorker()
	seq := 0
	var b Batch
	var entries []vaultEntry
	flush := func() error {
		if len(b.Records) == 0 {
			return nil
		}
		b.ID = fmt.Sprintf("%s-merged-%06d", runID, seq)
		b.ISAHash, b.Epoch = cfg.Keys.Context.ISAHash, cfg.Keys.Context.Epoch
		seq++
		if err := vault.put(entries); err != nil {
			return err
		}
		if err := sink.Send(ctx, b); err != nil {
			return fmt.Errorf("sending batch %s: %w", b.ID, err)
		}
		sent += len(b.Records)
		b, entries = Batch{}, nil
		// As Run does per chunk: the batch is sent, so its tokens'
		// and filters' slabs are cut again from the start, and they
		// stay the size of a batch however many records are resent.
		w.tokens, w.filters = w.tokens[:0], w.filters[:0]
		return nil
	}
	for ctx.Err() == nil {
		row, err := rd.NextValues()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var re *mapping.RowError
			if errors.As(err, &re) {
				continue // rejected in the first pass already
			}
			return sent, promoted, fmt.Errorf("reading %s again: %w", cfg.Extract, err)
		}
		id := row.Values.RecordID
		rp, ok := extra[id]
		if !ok || rp.done || !rp.lines[row.Line] {
			continue
		}
		first := row.Line == firstLine[id]
		changed := !first
		inds := make(map[string]bool, len(row.Indicators)+len(rp.indicators))
		for name, v := range row.Indicators {
			inds[name] = v
		}
		for name := range rp.indicators {
			changed = changed || !inds[name]
			inds[name] = true
		}
		row.Indicators = inds
		r := w.row(&row)
		if r.reject != nil {
			continue // the first row was rejected in the first pass; try the next
		}
		rp.done = true
		if !changed {
			continue
		}
		if !first {
			promoted++
		}
		b.Records = append(b.Records, r.rec)
		entries = append(entries, vaultEntry{ref: r.rec.Ref, person: r.person})
		if len(b.Records) == cfg.BatchSize {
			if err := flush(); err != nil {
				return sent, promoted, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return sent, promoted, err
	}
	return sent, promoted, flush()
}

func newRunID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// writeRejects writes a rejects (or warnings) file atomically: a reader
// never sees a half-written file.
func writeRejects(path, file string, rejects []Reject) error {
	sort.SliceStable(rejects, func(i, j int) bool { return rejects[i].Line < rejects[j].Line })
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing rejects: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"file", "line", "field", "column", "indicator", "reason"})
	for _, r := range rejects {
		_ = w.Write([]string{file, strconv.Itoa(r.Line), r.Field, r.Column, r.Indicator, r.Reason})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("writing rejects: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing rejects: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing rejects: %w", err)
	}
	return nil
}

// startProgress prints a live progress line to w every quarter second until
// the returned function is called.
func startProgress(w io.Writer, source string, read, accepted, sent *atomic.Int64) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s: read %d, accepted %d", source, read.Load(), accepted.Load())
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
