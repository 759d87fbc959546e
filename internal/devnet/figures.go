package devnet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"tfmatch/keys"
)

// Names of the stages Run times, as the figures find them.
const (
	StageGenerate = "generate district"
	StageIngest   = "ingest (4 agencies, parallel)"
	StageLink     = "link run (persons, households, rules)"
)

// Figures are the performance measurements of one run of the net, as
// `matchctl bench` prints them and writes them as one JSON line. Rates are
// per second of wall time unless named per CPU second.
type Figures struct {
	Households int       `json:"households"`
	Time       time.Time `json:"time"`
	GoMaxProcs int       `json:"gomaxprocs"`
	// AgencyGoMaxProcs is each agency node's GOMAXPROCS when the run set
	// one (Config.AgencyProcs); zero when they had the machine's default.
	AgencyGoMaxProcs int `json:"agency_gomaxprocs,omitempty"`

	// Records is what the matcher linked; Tokens what the agencies sent.
	Records           int `json:"records"`
	Tokens            int `json:"tokens"`
	Persons           int `json:"persons"`
	LinkedHouseholds  int `json:"linked_households"`
	FlaggedHouseholds int `json:"flagged_households"`
	ExtractRows       int `json:"extract_rows"`

	// HMACLimitNs is the cost of one HMAC-SHA256 of a canonical match key
	// with reused state on this machine, measured in the same run.
	HMACLimitNs float64 `json:"hmac_limit_ns"`

	// Stage wall times, seconds.
	GenerateSec float64 `json:"generate_s"`
	IngestSec   float64 `json:"ingest_s"`
	LinkSec     float64 `json:"link_s"`
	// PipelineSec is ingest + link: extracts in, flagged households out.
	PipelineSec float64 `json:"pipeline_s"`

	// Pseudonymisation: the agencies' processor time over the ingest stage
	// and the tokens made per CPU second, and their share of the HMAC limit.
	AgencyCPUSec        float64 `json:"agency_cpu_s"`
	PseudoRecordsPerCPU float64 `json:"pseudonymise_records_per_cpu_s"`
	PseudoTokensPerCPU  float64 `json:"pseudonymise_tokens_per_cpu_s"`
	PseudoShareOfLimit  float64 `json:"pseudonymise_share_of_hmac_limit"`
	// The match-key stage alone (normalise, derive, one HMAC per key),
	// measured in matchctl's own process on the same extracts, one
	// goroutine: what pseudonymisation costs without the rest of the node
	// (CSV, Bloom filter, vault, wire). See MeasureMatchKeyStage.
	StageRecordsPerCPU float64 `json:"match_key_stage_records_per_cpu_s,omitempty"`
	StageTokensPerCPU  float64 `json:"match_key_stage_tokens_per_cpu_s,omitempty"`
	StageShareOfLimit  float64 `json:"match_key_stage_share_of_hmac_limit,omitempty"`
	// StageHMACLimitNs is the HMAC limit measured by processor time in
	// turns with the stage, which its share is taken of: both see the
	// same load on a shared machine.
	StageHMACLimitNs          float64 `json:"match_key_stage_hmac_limit_ns,omitempty"`
	StreamRecordsPerSec       float64 `json:"stream_records_per_s"`
	IngestTokensPerSec        float64 `json:"ingest_tokens_per_s"`
	MatcherIngestCPUSec       float64 `json:"matcher_ingest_cpu_s"`
	IngestTokensPerCPU        float64 `json:"ingest_tokens_per_cpu_s"`
	LinkRecordsPerSec         float64 `json:"link_records_per_s"`
	MatcherLinkCPUSec         float64 `json:"matcher_link_cpu_s"`
	PipelineMicrosPerRec      float64 `json:"pipeline_us_per_record"`
	MatcherPeakBytesPerRecord float64 `json:"matcher_peak_bytes_per_record"`

	// PeakRSS is each node's peak resident set, bytes.
	PeakRSS map[string]int64 `json:"peak_rss_bytes"`
	// PeakAnon is each node's peak anonymous resident memory (heap, not
	// mapped files), sampled every 100 ms, bytes.
	PeakAnon map[string]int64 `json:"peak_anon_bytes,omitempty"`
	// PeakTotalRSS is the largest sum of every running node's resident
	// set, sampled every 100 ms, bytes: the whole programme's memory at
	// its peak.
	PeakTotalRSS int64 `json:"peak_total_rss_bytes,omitempty"`
	// MatcherPeakIngest is the matcher's peak by the end of the ingest
	// stage (before the link run), bytes.
	MatcherPeakIngest int64 `json:"matcher_peak_rss_ingest_bytes"`
	// CPUSec is each node's processor time over its life, seconds.
	CPUSec map[string]float64 `json:"cpu_s"`
}

// MeasureHMACLimit returns the cost of one HMAC-SHA256 of a typical
// canonical match key (given name, family name, date of birth) with the
// HMAC state reused, as keys' BenchmarkHMACSHA256Limit measures it: the
// most a token stage could do per core. It runs for about d of this
// process's processor time (wall time where that is not reported), so
// that time the process spends descheduled on a busy machine does not
// count; nothing else should run in the process meanwhile.
func MeasureHMACLimit(d time.Duration) time.Duration {
	h := newLimitHMAC()
	// Processor time rather than wall time, where the system reports it:
	// on a shared machine time spent descheduled is not the HMAC's.
	clock := processCPU
	if _, err := clock(); err != nil {
		start := time.Now()
		clock = func() (time.Duration, error) { return time.Since(start), nil }
	}
	n := 0
	start, _ := clock()
	for {
		h.run(1000)
		n += 1000
		if now, _ := clock(); now-start >= d {
			return (now - start) / time.Duration(n)
		}
	}
}

// limitHMAC is the loop MeasureHMACLimit times.
type limitHMAC struct {
	mac hash.Hash
	msg []byte
	out [32]byte
}

func newLimitHMAC() *limitHMAC {
	return &limitHMAC{mac: hmac.New(sha256.New, make([]byte, 32)),
		msg: keys.AppendCanonical(nil, []string{"william", "smith", "2013-04-01"})}
}

// run makes n HMACs.
func (h *limitHMAC) run(n int) {
	for range n {
		h.mac.Reset()
		h.mac.Write(h.msg)
		h.mac.Sum(h.out[:0])
	}
}

var summaryCounts = regexp.MustCompile(`read (\d+), accepted (\d+),.* tokens (\d+)`)

// agencyCounts returns rows read and tokens sent from an agency's summary.
func agencyCounts(line string) (read, tokens int, ok bool) {
	m := summaryCounts.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, false
	}
	read, _ = strconv.Atoi(m[1])
	tokens, _ = strconv.Atoi(m[3])
	return read, tokens, true
}

// Measure derives the figures of a run. limit is the HMAC limit measured
// on the same machine (MeasureHMACLimit).
func Measure(res *Result, households int, limit time.Duration, now time.Time) (Figures, error) {
	f := Figures{
		Households:        households,
		Time:              now.UTC().Truncate(time.Second),
		GoMaxProcs:        runtime.GOMAXPROCS(0),
		Records:           int(res.Run.Records),
		Persons:           int(res.Run.Persons),
		LinkedHouseholds:  int(res.Run.Households),
		FlaggedHouseholds: len(res.Households),
		HMACLimitNs:       float64(limit.Nanoseconds()),
		PeakRSS:           map[string]int64{},
		PeakAnon:          map[string]int64{},
		CPUSec:            map[string]float64{},
	}
	for name, line := range res.Agencies {
		read, tokens, ok := agencyCounts(line)
		if !ok {
			return f, fmt.Errorf("agency %s: no counts in its summary", name)
		}
		f.ExtractRows += read
		f.Tokens += tokens
	}
	var ingest, link *Stage
	for i := range res.Stages {
		s := &res.Stages[i]
		switch s.Name {
		case StageGenerate:
			f.GenerateSec = s.Elapsed.Seconds()
		case StageIngest:
			ingest = s
		case StageLink:
			link = s
		}
	}
	if ingest == nil || link == nil {
		return f, fmt.Errorf("the run has no %q or %q stage", StageIngest, StageLink)
	}
	f.IngestSec, f.LinkSec = ingest.Elapsed.Seconds(), link.Elapsed.Seconds()
	f.PipelineSec = f.IngestSec + f.LinkSec
	for name, d := range ingest.CPU {
		if name == MatcherParty {
			f.MatcherIngestCPUSec = d.Seconds()
		} else {
			f.AgencyCPUSec += d.Seconds()
		}
	}
	f.MatcherLinkCPUSec = link.CPU[MatcherParty].Seconds()
	f.MatcherPeakIngest = ingest.PeakRSS[MatcherParty]
	f.PseudoRecordsPerCPU = ratio(float64(f.Records), f.AgencyCPUSec)
	f.PseudoTokensPerCPU = ratio(float64(f.Tokens), f.AgencyCPUSec)
	if limit > 0 {
		f.PseudoShareOfLimit = f.PseudoTokensPerCPU * limit.Seconds()
	}
	f.StreamRecordsPerSec = ratio(float64(f.Records), f.IngestSec)
	f.IngestTokensPerSec = ratio(float64(f.Tokens), f.IngestSec)
	f.IngestTokensPerCPU = ratio(float64(f.Tokens), f.MatcherIngestCPUSec)
	f.LinkRecordsPerSec = ratio(float64(f.Records), f.LinkSec)
	f.PipelineMicrosPerRec = ratio(f.PipelineSec*1e6, float64(f.Records))
	for name, u := range res.Usage {
		f.PeakRSS[name] = u.PeakRSS
		if u.PeakAnon > 0 {
			f.PeakAnon[name] = u.PeakAnon
		}
		f.CPUSec[name] = u.CPU.Seconds()
	}
	f.MatcherPeakBytesPerRecord = ratio(float64(f.PeakRSS[MatcherParty]), float64(f.Records))
	f.PeakTotalRSS = res.PeakTotalRSS
	return f, nil
}

// SetMatchKeyStage records the in-process measurement of the match-key
// stage (MeasureMatchKeyStage) and its share of the HMAC limit.
func (f *Figures) SetMatchKeyStage(r StageRate) {
	f.StageRecordsPerCPU = ratio(float64(r.Records), r.CPU.Seconds())
	f.StageTokensPerCPU = ratio(float64(r.Tokens), r.CPU.Seconds())
	f.StageHMACLimitNs = ratio(float64(r.LimitCPU.Nanoseconds()), float64(r.LimitHMACs))
	f.StageShareOfLimit = f.StageTokensPerCPU * f.StageHMACLimitNs / 1e9
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// WriteJSON writes the figures as one JSON line.
func (f Figures) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding figures: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteTable prints the figures for a reader.
// agencyProcs is the table's note of the agencies' GOMAXPROCS, when set.
func agencyProcs(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(", GOMAXPROCS %d each", n)
}

func (f Figures) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(what, value, note string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", what, value, note) }
	row("district", fmt.Sprintf("%d households", f.Households), fmt.Sprintf("%d extract rows, %d records linked, %d tokens (%.2f per record)", f.ExtractRows, f.Records, f.Tokens, ratio(float64(f.Tokens), float64(f.Records))))
	row("result", fmt.Sprintf("%d persons", f.Persons), fmt.Sprintf("%d households, %d flagged", f.LinkedHouseholds, f.FlaggedHouseholds))
	row("HMAC-SHA256 limit", fmt.Sprintf("%.0f ns", f.HMACLimitNs), fmt.Sprintf("%s tokens/s per core", human(ratio(1e9, f.HMACLimitNs))))
	row("pseudonymise, whole node", fmt.Sprintf("%s tokens/CPU s", human(f.PseudoTokensPerCPU)), fmt.Sprintf("%.1f%% of the HMAC limit; %s records/CPU s; agencies %.2f CPU s (CSV, normalise, keys, Bloom filter, vault, wire)%s", 100*f.PseudoShareOfLimit, human(f.PseudoRecordsPerCPU), f.AgencyCPUSec, agencyProcs(f.AgencyGoMaxProcs)))
	if f.StageTokensPerCPU > 0 {
		row("pseudonymise, match keys", fmt.Sprintf("%s tokens/CPU s", human(f.StageTokensPerCPU)), fmt.Sprintf("%.1f%% of the HMAC limit (%.0f ns, measured in turns with it); %s records/CPU s (normalise, derive, one HMAC per key; in-process, one core)", 100*f.StageShareOfLimit, f.StageHMACLimitNs, human(f.StageRecordsPerCPU)))
	}
	row("stream to matcher", fmt.Sprintf("%s records/s", human(f.StreamRecordsPerSec)), fmt.Sprintf("ingest stage %.2f s wall", f.IngestSec))
	row("matcher ingest", fmt.Sprintf("%s tokens/s", human(f.IngestTokensPerSec)), fmt.Sprintf("%s tokens/CPU s; matcher %.2f CPU s", human(f.IngestTokensPerCPU), f.MatcherIngestCPUSec))
	row("link, households, rules", fmt.Sprintf("%s records/s", human(f.LinkRecordsPerSec)), fmt.Sprintf("%.2f s wall, matcher %.2f CPU s", f.LinkSec, f.MatcherLinkCPUSec))
	row("pipeline (ingest + link)", fmt.Sprintf("%.2f s", f.PipelineSec), fmt.Sprintf("%.1f µs per record", f.PipelineMicrosPerRec))
	names := make([]string, 0, len(f.PeakRSS))
	for n := range f.PeakRSS {
		names = append(names, n)
	}
	sort.Strings(names)
	var mem []string
	for _, n := range names {
		mem = append(mem, fmt.Sprintf("%s %s", n, mib(f.PeakRSS[n])))
	}
	row("peak memory", mib(f.PeakRSS[MatcherParty])+" matcher", fmt.Sprintf("%.0f bytes per record, %s by the end of ingest; %s", f.MatcherPeakBytesPerRecord, mib(f.MatcherPeakIngest), strings.Join(mem, ", ")))
	if a := f.PeakAnon[MatcherParty]; a > 0 {
		row("peak anonymous memory", mib(a)+" matcher", "heap and stacks, without the store's memory-mapped files (sampled every 100 ms)")
	}
	if f.PeakTotalRSS > 0 {
		row("peak memory, all nodes", mib(f.PeakTotalRSS), "the largest sum of every running node's resident set (sampled every 100 ms)")
	}
	return tw.Flush()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// human prints a rate with a k or M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
