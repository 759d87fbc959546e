package devnet

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tfmatch/lead"
	"tfmatch/synth"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		wantErr    bool
	}{
		{"plain", "1234 (matcher) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0", 3 * time.Second, false},
		{"name with spaces and parens", "99 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0", 100 * time.Millisecond, false},
		{"zero", "1 (x) S 0 0 0 0 0 0 0 0 0 0 0 0", 0, false},
		{"no name", "1 x S 0 0 0 0 0 0 0 0 0 0 0 0", 0, true},
		{"too short", "1 (x) S 0 0 0", 0, true},
		{"not a number", "1 (x) S 0 0 0 0 0 0 0 0 0 0 1x 0", 0, true},
		{"negative", "1 (x) S 0 0 0 0 0 0 0 0 0 0 -5 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.stat)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProcCPUOfSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc on this system")
	}
	if _, err := parseStatCPU(string(b)); err != nil {
		t.Fatalf("this process's own /proc/self/stat: %v", err)
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("1234 (matcher) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0")
	f.Add("99 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 7 3")
	f.Add(")")
	f.Fuzz(func(t *testing.T, stat string) {
		d, err := parseStatCPU(stat)
		if err != nil {
			if d != 0 {
				t.Fatalf("error with a time: %v", d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("negative processor time %v", d)
		}
		// Whatever follows the fields read does not change the result.
		d2, err := parseStatCPU(stat + " 1 2 3")
		if err != nil || d2 != d {
			t.Fatalf("appending fields changed the result: %v, %v -> %v", d, err, d2)
		}
	})
}

func TestParseStatusHWM(t *testing.T) {
	tests := []struct {
		name, status string
		want         int64
		wantErr      bool
	}{
		{"typical", "Name:\tmatcher\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n", 2 << 20, false},
		{"missing", "Name:\tmatcher\nVmRSS:\t 1024 kB\n", 0, true},
		{"not kB", "VmHWM:\t 2048 MB\n", 0, true},
		{"not a number", "VmHWM:\t 2x48 kB\n", 0, true},
		{"negative", "VmHWM:\t -1 kB\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseStatusHWM(tt.status)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if v, err := parseStatusHWM(string(b)); err != nil || v <= 0 {
			t.Errorf("this process's /proc/self/status: %d, %v", v, err)
		}
	}
}

func FuzzParseStatusHWM(f *testing.F) {
	f.Add("VmHWM:\t    2048 kB\n")
	f.Add("Name: x\nVmHWM: 1 kB")
	f.Fuzz(func(t *testing.T, status string) {
		v, err := parseStatusHWM(status)
		if err != nil {
			return
		}
		if v < 0 || v%1024 != 0 {
			t.Fatalf("VmHWM %d bytes: not a whole number of KiB", v)
		}
		// Lines after the first VmHWM do not change it.
		if v2, err := parseStatusHWM(status + "\nVmHWM: 7 kB\n"); err != nil || v2 != v {
			t.Fatalf("a later VmHWM line changed the result: %d -> %d, %v", v, v2, err)
		}
	})
}

func TestAgencyCounts(t *testing.T) {
	tests := []struct {
		line         string
		read, tokens int
		ok           bool
	}{
		{"council: read 13120, accepted 13120, rejected 0, sent 13120, warnings 0, tokens 280000, elapsed 8.232s", 13120, 280000, true},
		{"read 5, accepted 4, rejected 1, sent 4, warnings 2, tokens 0, elapsed 1ms", 5, 0, true},
		{"council: read 13120, accepted 13120, rejected 0, sent 13120, warnings 0, elapsed 8.232s", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		read, tokens, ok := agencyCounts(tt.line)
		if read != tt.read || tokens != tt.tokens || ok != tt.ok {
			t.Errorf("agencyCounts(%q) = %d, %d, %v; want %d, %d, %v", tt.line, read, tokens, ok, tt.read, tt.tokens, tt.ok)
		}
	}
}

// sampleResult is a run with round figures: 10,000 records, 200,000
// tokens, ingest 4 s (agencies 2 CPU s, matcher 3 CPU s), link 1 s.
func sampleResult() *Result {
	return &Result{
		Run:          lead.Run{Records: 10000, Persons: 8000, Households: 4000},
		Households:   make([]lead.Household, 100),
		PeakTotalRSS: 250 << 20,
		Agencies: map[string]string{
			"council": "council: read 6000, accepted 6000, rejected 0, sent 6000, warnings 0, tokens 120000, elapsed 4s",
			"police":  "police: read 4000, accepted 4000, rejected 0, sent 4000, warnings 0, tokens 80000, elapsed 3s",
		},
		Stages: []Stage{
			{Name: StageGenerate, Elapsed: 500 * time.Millisecond},
			{Name: StageIngest, Elapsed: 4 * time.Second, CPU: map[string]time.Duration{"council": 1200 * time.Millisecond, "police": 800 * time.Millisecond, MatcherParty: 3 * time.Second},
				PeakRSS: map[string]int64{MatcherParty: 60 << 20, "council": 50 << 20}},
			{Name: StageLink, Elapsed: time.Second, CPU: map[string]time.Duration{MatcherParty: 900 * time.Millisecond}},
		},
		Usage: map[string]Usage{
			MatcherParty: {CPU: 4 * time.Second, PeakRSS: 100 << 20},
			"council":    {CPU: 1300 * time.Millisecond, PeakRSS: 50 << 20},
			"police":     {CPU: 900 * time.Millisecond, PeakRSS: 40 << 20},
		},
	}
}

func TestMeasure(t *testing.T) {
	f, err := Measure(sampleResult(), 5000, 200*time.Nanosecond, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	f.GoMaxProcs = 2 // the machine's, not the run's
	f.AgencyGoMaxProcs = 1
	checks := []struct {
		name      string
		got, want float64
	}{
		{"records", float64(f.Records), 10000},
		{"tokens", float64(f.Tokens), 200000},
		{"extract rows", float64(f.ExtractRows), 10000},
		{"flagged", float64(f.FlaggedHouseholds), 100},
		{"pipeline s", f.PipelineSec, 5},
		{"agency CPU s", f.AgencyCPUSec, 2},
		{"tokens per CPU s", f.PseudoTokensPerCPU, 100000},
		{"share of limit", f.PseudoShareOfLimit, 0.02}, // 100k/s × 200 ns
		{"stream records/s", f.StreamRecordsPerSec, 2500},
		{"ingest tokens/s", f.IngestTokensPerSec, 50000},
		{"ingest tokens/CPU s", f.IngestTokensPerCPU, 200000.0 / 3},
		{"link records/s", f.LinkRecordsPerSec, 10000},
		{"matcher link CPU", f.MatcherLinkCPUSec, 0.9},
		{"µs per record", f.PipelineMicrosPerRec, 500},
		{"matcher bytes per record", f.MatcherPeakBytesPerRecord, float64(100<<20) / 10000},
		{"matcher peak by the end of ingest", float64(f.MatcherPeakIngest), 60 << 20},
		{"all nodes' peak", float64(f.PeakTotalRSS), 250 << 20},
	}
	f.SetMatchKeyStage(StageRate{Records: 3000, Tokens: 60000, CPU: 30 * time.Millisecond, LimitHMACs: 100000, LimitCPU: 25 * time.Millisecond})
	checks = append(checks, []struct {
		name      string
		got, want float64
	}{
		{"stage records per CPU s", f.StageRecordsPerCPU, 100000},
		{"stage tokens per CPU s", f.StageTokensPerCPU, 2000000},
		{"stage HMAC limit ns", f.StageHMACLimitNs, 250},
		{"stage share of limit", f.StageShareOfLimit, 0.5}, // 2 M/s × 250 ns
	}...)
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	var js bytes.Buffer
	if err := f.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(js.String(), "\n"); n != 1 || !strings.HasSuffix(js.String(), "\n") {
		t.Errorf("JSON is %d lines, want one line", n)
	}
	var back Figures
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	if back.Tokens != f.Tokens || back.PeakRSS[MatcherParty] != f.PeakRSS[MatcherParty] || !back.Time.Equal(f.Time) {
		t.Errorf("JSON round trip changed the figures: %+v", back)
	}
	var tab bytes.Buffer
	if err := f.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	golden(t, "figures.golden", tab.String()+js.String())
}

func TestMeasureErrors(t *testing.T) {
	noStage := sampleResult()
	noStage.Stages = noStage.Stages[:1]
	noTokens := sampleResult()
	noTokens.Agencies["police"] = "police: read 4000, accepted 4000"
	for name, res := range map[string]*Result{"no link stage": noStage, "summary without tokens": noTokens} {
		if _, err := Measure(res, 1, time.Nanosecond, time.Time{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMeasureMatchKeyStage(t *testing.T) {
	dir := t.TempDir()
	d, err := synth.Generate(synth.Config{Seed: 3, Households: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	r, err := MeasureMatchKeyStage(dir, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.CPU < 20*time.Millisecond || r.Records < 100 || r.Tokens < 10*r.Records || r.Tokens > 60*r.Records ||
		r.LimitHMACs < 1000 || r.LimitCPU <= 0 || r.LimitCPU/time.Duration(r.LimitHMACs) > 100*time.Microsecond {
		t.Errorf("stage measured %+v: implausible", r)
	}
	if _, err := MeasureMatchKeyStage(t.TempDir(), time.Millisecond); err == nil {
		t.Error("a directory without a district: no error")
	}
}

func TestMeasureHMACLimit(t *testing.T) {
	d := MeasureHMACLimit(20 * time.Millisecond)
	if d <= 0 || d > 100*time.Microsecond {
		t.Errorf("HMAC limit %v: implausible", d)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
