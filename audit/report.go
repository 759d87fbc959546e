package audit

import (
	"cmp"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// Section groups report rows.
type Section string

// Report sections, in the order reports show them.
const (
	// SectionSharing: one row per submitted batch: who shared what, when,
	// under which ISA and key epoch.
	SectionSharing Section = "sharing"
	// SectionAccess: queries and re-identifications, one row per party,
	// kind, counterparty and stated purpose, with how many and when.
	SectionAccess Section = "access"
	// SectionRefusals: one row per refused request.
	SectionRefusals Section = "refusals"
	// SectionEvents: link runs, key ceremonies and rotations, purges.
	SectionEvents Section = "events"
)

func (s Section) order() int {
	return slices.Index([]Section{SectionSharing, SectionAccess, SectionRefusals, SectionEvents}, s)
}

// Row is one line of the audit report. Fields that do not apply to its
// section are zero.
type Row struct {
	Section Section `json:"section"`
	// Time is when the event happened; for an access row, the first.
	Time time.Time `json:"time"`
	// Last is the last event of an access row.
	Last         time.Time `json:"last,omitzero"`
	Kind         string    `json:"kind"`
	Party        string    `json:"party"`
	Counterparty string    `json:"counterparty,omitempty"`
	ISA          string    `json:"isa,omitempty"` // ISA hash, hex
	KeyEpoch     uint32    `json:"key_epoch,omitempty"`
	Batch        string    `json:"batch,omitempty"`
	// Records is the records submitted, linked, returned, revealed or
	// purged (summed over an access row's events).
	Records uint64 `json:"records,omitempty"`
	// Count is the number of events an access row stands for.
	Count   uint64 `json:"count,omitempty"`
	Purpose string `json:"purpose,omitempty"`
	Action  string `json:"action,omitempty"` // refusals: what was asked
	Code    string `json:"code,omitempty"`   // refusals: the error code
	// Detail is the indicator counts of a batch, the reason for a
	// refusal, or the particulars of another event.
	Detail string `json:"detail,omitempty"`
}

// ReportOptions selects and shapes a report. The zero value reports
// every entry with no count withheld.
type ReportOptions struct {
	// From and To bound the entries reported by time, [From, To); a zero
	// bound leaves that end open.
	From, To time.Time
	// SmallNumberThreshold is the agreement's: the counts of records,
	// persons or households with a characteristic (a batch's indicator
	// counts, a link run's persons, households and flagged households)
	// from 1 to SmallNumberThreshold-1 are shown as "<threshold". Volumes
	// an auditor reconciles with receipts (records submitted, returned,
	// revealed or purged) and counts of events are shown as they are.
	SmallNumberThreshold int
}

// Report summarises the entries selected by opts: who shared what, when
// and under which ISA; queries and re-identifications by party and
// purpose; refusals; other events. Rows come in section order, then by
// time (access rows by party, kind and purpose).
func Report(entries []Entry, opts ReportOptions) []Row {
	from, to, threshold := opts.From, opts.To, opts.SmallNumberThreshold
	var rows []Row
	type accessKey struct{ kind, party, counterparty, purpose string }
	access := map[accessKey]*Row{}
	for _, e := range entries {
		if !from.IsZero() && e.Time.Before(from) || !to.IsZero() && !e.Time.Before(to) {
			continue
		}
		t := e.Time.UTC()
		switch e.Kind {
		case KindSubmission:
			rows = append(rows, Row{
				Section: SectionSharing, Time: t, Kind: e.Kind.String(), Party: e.Party,
				ISA: hashHex(e.ISAHash), KeyEpoch: e.KeyEpoch, Batch: e.BatchID,
				Records: e.RecordCount, Detail: formatCounts(e.IndicatorCounts, threshold),
			})
		case KindQuery, KindReidentification:
			k := accessKey{e.Kind.String(), e.Party, e.Counterparty, e.Purpose}
			r := access[k]
			if r == nil {
				r = &Row{Section: SectionAccess, Time: t, Last: t, Kind: k.kind, Party: e.Party, Counterparty: e.Counterparty, Purpose: e.Purpose}
				access[k] = r
			}
			r.Count++
			r.Records += e.RecordCount
			if t.Before(r.Time) {
				r.Time = t
			}
			if t.After(r.Last) {
				r.Last = t
			}
		case KindRefusal:
			rows = append(rows, Row{
				Section: SectionRefusals, Time: t, Kind: e.Kind.String(), Party: e.Party,
				Action: e.Refusal.Action, Code: e.Refusal.Code, Detail: e.Refusal.Reason,
			})
		default:
			rows = append(rows, Row{
				Section: SectionEvents, Time: t, Kind: e.Kind.String(), Party: e.Party,
				Counterparty: e.Counterparty, ISA: hashHex(e.ISAHash), KeyEpoch: e.KeyEpoch,
				Records: e.RecordCount, Purpose: e.Purpose, Detail: eventDetail(e, threshold),
			})
		}
	}
	for _, r := range access {
		rows = append(rows, *r)
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := cmp.Compare(a.Section.order(), b.Section.order()); c != 0 {
			return c
		}
		if a.Section == SectionAccess {
			return cmp.Or(cmp.Compare(a.Party, b.Party), cmp.Compare(a.Kind, b.Kind),
				cmp.Compare(a.Purpose, b.Purpose), cmp.Compare(a.Counterparty, b.Counterparty))
		}
		return a.Time.Compare(b.Time)
	})
	return rows
}

func hashHex(h [32]byte) string {
	if h == ([32]byte{}) {
		return ""
	}
	return hex.EncodeToString(h[:])
}

// formatCounts renders counts as "a=1 b=2", keys sorted, each count from 1
// to threshold-1 as "<threshold".
func formatCounts(m map[string]uint64, threshold int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		v := strconv.FormatUint(m[k], 10)
		if n := m[k]; n > 0 && threshold > 1 && n < uint64(threshold) {
			v = "<" + strconv.Itoa(threshold)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

// eventDetail describes an event; the counts of a link run are subject to
// the small-number threshold, those of purges and key events are not
// (they count records and epochs, not people with a characteristic).
func eventDetail(e Entry, threshold int) string {
	if e.Kind != KindLinkRun {
		threshold = 0
	}
	var parts []string
	if e.RunID != "" {
		parts = append(parts, "run "+e.RunID)
	}
	if e.RuleSet != "" {
		parts = append(parts, "rules "+e.RuleSet)
	}
	if len(e.Recipients) > 0 {
		parts = append(parts, "wrapped to "+strings.Join(e.Recipients, ", "))
	}
	if c := formatCounts(e.Counts, threshold); c != "" {
		parts = append(parts, c)
	}
	return strings.Join(parts, "; ")
}

// Report output formats.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// WriteReport writes rows in format: "table" (for people), "csv" or
// "json" (an array of rows).
func WriteReport(w io.Writer, rows []Row, format string) error {
	switch format {
	case FormatTable, "":
		return writeTable(w, rows)
	case FormatCSV:
		return writeCSV(w, rows)
	case FormatJSON:
		if rows == nil {
			rows = []Row{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return fmt.Errorf("audit: write report: %w", err)
		}
		return nil
	}
	return fmt.Errorf("audit: report format %q: want table, csv or json", format)
}

func writeCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	header := []string{"section", "time", "last", "kind", "party", "counterparty", "isa", "key_epoch", "batch", "records", "count", "purpose", "action", "code", "detail"}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("audit: write report: %w", err)
	}
	for _, r := range rows {
		rec := []string{
			string(r.Section), fmtTime(r.Time), fmtTime(r.Last), r.Kind, r.Party, r.Counterparty,
			r.ISA, fmtUint(uint64(r.KeyEpoch), r.Section == SectionSharing), r.Batch,
			fmtUint(r.Records, r.Section == SectionSharing), fmtUint(r.Count, false),
			r.Purpose, r.Action, r.Code, r.Detail,
		}
		for i := range rec {
			rec[i] = csvSafe(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("audit: write report: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("audit: write report: %w", err)
	}
	return nil
}

// csvSafe stops a spreadsheet from reading free text as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtUint renders n, or "" for zero unless zero is meaningful.
func fmtUint(n uint64, showZero bool) string {
	if n == 0 && !showZero {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

func writeTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sections := []struct {
		s      Section
		title  string
		header []string
		cells  func(Row) []string
	}{
		{SectionSharing, "Shared: who shared what, when, under which ISA",
			[]string{"TIME", "PARTY", "ISA", "EPOCH", "BATCH", "RECORDS", "INDICATORS"},
			func(r Row) []string {
				return []string{fmtTime(r.Time), r.Party, shortHash(r.ISA), fmtUint(uint64(r.KeyEpoch), true), r.Batch, fmtUint(r.Records, true), r.Detail}
			}},
		{SectionAccess, "Queries and re-identifications, by party and purpose",
			[]string{"PARTY", "KIND", "PURPOSE", "DISCLOSED BY", "COUNT", "RECORDS", "FIRST", "LAST"},
			func(r Row) []string {
				return []string{r.Party, r.Kind, r.Purpose, r.Counterparty, fmtUint(r.Count, true), fmtUint(r.Records, true), fmtTime(r.Time), fmtTime(r.Last)}
			}},
		{SectionRefusals, "Refusals",
			[]string{"TIME", "PARTY", "ACTION", "CODE", "REASON"},
			func(r Row) []string { return []string{fmtTime(r.Time), r.Party, r.Action, r.Code, r.Detail} }},
		{SectionEvents, "Other events: link runs, keys, purges",
			[]string{"TIME", "KIND", "PARTY", "ISA", "EPOCH", "RECORDS", "PURPOSE", "DETAIL"},
			func(r Row) []string {
				return []string{fmtTime(r.Time), r.Kind, r.Party, shortHash(r.ISA), fmtUint(uint64(r.KeyEpoch), false), fmtUint(r.Records, false), r.Purpose, r.Detail}
			}},
	}
	for i, sec := range sections {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s\n", sec.title)
		n := 0
		for _, r := range rows {
			if r.Section != sec.s {
				continue
			}
			if n == 0 {
				fmt.Fprintln(tw, strings.Join(sec.header, "\t"))
			}
			n++
			cells := sec.cells(r)
			for j := range cells {
				cells[j] = tableSafe(cells[j])
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if n == 0 {
			fmt.Fprintln(tw, "(none)")
		}
		// Flush per section so that each has its own column widths.
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("audit: write report: %w", err)
		}
	}
	return nil
}

// shortHash shortens a hex hash for a table; the CSV and JSON give it in
// full.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// tableSafe keeps a cell on one line and in its column.
func tableSafe(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
