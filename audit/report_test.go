package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// reportEntries is a small programme's log: batches from three agencies,
// a run, several queries and disclosures, refusals, key events, a purge.
func reportEntries() []Entry {
	var es []Entry
	for _, s := range sampleEntries()[:8] {
		es = append(es, s.entry)
	}
	es = append(es,
		Entry{Kind: KindSubmission, Time: t0.Add(10 * time.Minute), Party: "dwp", ISAHash: isa("2026"), KeyEpoch: 3,
			BatchID: "dwp-w10", BatchDigest: digest("d1"), RecordCount: 800, IndicatorCounts: map[string]uint64{"work": 640}},
		Entry{Kind: KindQuery, Time: t0.Add(7 * time.Hour), Party: "lead", RunID: "run-0001",
			Purpose: "allocate key workers", RecordCount: 118},
		Entry{Kind: KindReidentification, Time: t0.Add(8 * time.Hour), Party: "lead", Counterparty: "dwp",
			Purpose: "contact the family's key worker", RecordCount: 1},
		Entry{Kind: KindRefusal, Time: t0.Add(9 * time.Hour), Party: "unknown-client",
			Refusal: Refusal{Action: "ListFlaggedHouseholds", Code: "Unauthenticated", Reason: "no client certificate"}},
		Entry{Kind: KindQuery, Time: t0.Add(10 * time.Hour), Party: "lead", RunID: "run-0001",
			Purpose: "=HYPERLINK(\"x\")\tand\nmore", RecordCount: 3},
	)
	return es
}

func TestReportGolden(t *testing.T) {
	rows := Report(reportEntries(), ReportOptions{})
	for _, format := range []string{FormatTable, FormatCSV, FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteReport(&b, rows, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "report."+format, b.Bytes())
		})
	}
}

func TestReportContent(t *testing.T) {
	rows := Report(reportEntries(), ReportOptions{})
	count := map[Section]int{}
	for _, r := range rows {
		count[r.Section]++
	}
	// 2 batches; lead queries under 2 purposes + 1 disclosure purpose;
	// 2 refusals; run, ceremony, rotation, purge.
	want := map[Section]int{SectionSharing: 2, SectionAccess: 3, SectionRefusals: 2, SectionEvents: 4}
	for s, n := range want {
		if count[s] != n {
			t.Errorf("%s rows = %d, want %d", s, count[s], n)
		}
	}
	for _, r := range rows {
		if r.Section == SectionAccess && r.Kind == "query" && r.Purpose == "allocate key workers" {
			if r.Count != 2 || r.Records != 238 || !r.Time.Equal(t0.Add(2*time.Hour)) || !r.Last.Equal(t0.Add(7*time.Hour)) {
				t.Errorf("grouped query row = %+v", r)
			}
		}
		if r.Section == SectionAccess && r.Kind == "reidentification" {
			if r.Count != 2 || r.Counterparty != "dwp" || r.Records != 3 {
				t.Errorf("grouped re-identification row = %+v", r)
			}
		}
	}
	// Sections in order, sharing by time.
	if rows[0].Section != SectionSharing || rows[0].Party != "police" || rows[1].Party != "dwp" {
		t.Errorf("first rows: %+v, %+v", rows[0], rows[1])
	}
}

func TestReportWindow(t *testing.T) {
	es := reportEntries()
	tests := []struct {
		name     string
		from, to time.Time
		want     int // events represented (access rows count their events)
	}{
		{"all", time.Time{}, time.Time{}, len(es)},
		{"from is inclusive", t0.Add(6 * time.Hour), time.Time{}, 5},
		{"to is exclusive", time.Time{}, t0, 1}, // the ceremony the day before
		{"window", t0, t0.Add(time.Hour), 2},
		{"empty", t0.Add(100 * time.Hour), time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			for _, r := range Report(es, ReportOptions{From: tt.from, To: tt.to}) {
				if r.Section == SectionAccess {
					n += int(r.Count)
				} else {
					n++
				}
			}
			if n != tt.want {
				t.Errorf("%d events, want %d", n, tt.want)
			}
		})
	}
}

func TestReportFormats(t *testing.T) {
	rows := Report(reportEntries(), ReportOptions{})
	var b bytes.Buffer
	if err := WriteReport(&b, rows, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
	// CSV parses back, one record per row plus the header, and free text
	// cannot start a formula.
	b.Reset()
	if err := WriteReport(&b, rows, FormatCSV); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(rows)+1 {
		t.Fatalf("%d CSV records for %d rows", len(recs), len(rows))
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("CSV cell starts a formula: %q", cell)
			}
		}
	}
	// JSON parses back to the same rows.
	b.Reset()
	if err := WriteReport(&b, rows, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back []Row
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != len(rows) {
		t.Fatalf("JSON: %d rows, %v", len(back), err)
	}
	// The table keeps every row on one line.
	b.Reset()
	if err := WriteReport(&b, rows, FormatTable); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\t") || strings.Contains(b.String(), "\nmore") {
		t.Error("free text broke the table layout")
	}
	// An empty report says so.
	b.Reset()
	if err := WriteReport(&b, nil, FormatTable); err != nil || strings.Count(b.String(), "(none)") != 4 {
		t.Errorf("empty table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteReport(&b, nil, FormatJSON); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty JSON: %q", b.String())
	}
}

// TestReportSmallNumbers: under a threshold, indicator counts and a link
// run's counts from 1 to threshold-1 are withheld; zero, larger counts and
// record volumes are not.
func TestReportSmallNumbers(t *testing.T) {
	es := []Entry{
		{Kind: KindSubmission, Time: t0, Party: "police", BatchID: "b", BatchDigest: digest("b"), RecordCount: 7,
			IndicatorCounts: map[string]uint64{"asb": 3, "crime": 310, "dv": 0}},
		{Kind: KindLinkRun, Time: t0.Add(time.Hour), Party: "lead", RunID: "r", RecordCount: 5,
			Counts: map[string]uint64{"flagged": 4, "households": 1800, "persons": 9}},
		{Kind: KindPurge, Time: t0.Add(2 * time.Hour), Party: "matcher", RecordCount: 2,
			Counts: map[string]uint64{"records:dwp": 2, "runs": 1}},
	}
	tests := []struct {
		threshold int
		want      []string // Detail of each row
	}{
		{0, []string{"asb=3 crime=310 dv=0", "run r; flagged=4 households=1800 persons=9", "records:dwp=2 runs=1"}},
		{1, []string{"asb=3 crime=310 dv=0", "run r; flagged=4 households=1800 persons=9", "records:dwp=2 runs=1"}},
		{10, []string{"asb=<10 crime=310 dv=0", "run r; flagged=<10 households=1800 persons=<10", "records:dwp=2 runs=1"}},
	}
	for _, tt := range tests {
		rows := Report(es, ReportOptions{SmallNumberThreshold: tt.threshold})
		if len(rows) != 3 {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			if r.Detail != tt.want[i] {
				t.Errorf("threshold %d row %d detail %q, want %q", tt.threshold, i, r.Detail, tt.want[i])
			}
			if r.Records != es[i].RecordCount {
				t.Errorf("threshold %d row %d records %d, want the volume %d as it is", tt.threshold, i, r.Records, es[i].RecordCount)
			}
		}
	}
}
