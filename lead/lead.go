// Package lead is the programme lead's client: it starts link runs on the
// matcher, lists the households a run flagged, purges a retired key epoch
// from the matcher, and re-identifies members through the vault of an
// agency node that allows it (the council's own node, for its own
// records).
package lead

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	pb "tfmatch/proto/tfmatch/v1"
)

// Run summarises a link run. Counts the matcher withheld under the
// agreement's small-number rule are 0 and named in Suppressed; print
// counts with Count.
type Run struct {
	ID             string
	RuleSetVersion string
	Epoch          uint32 // key epoch of the records linked
	Records        uint64
	Persons        uint64
	Households     uint64
	Flagged        uint64
	FlaggedByRule  map[string]uint64
	LinksByKind    map[string]uint64
	Review         int
	// Threshold is the agreement's small-number threshold.
	Threshold int
	// Suppressed names the withheld counts ("records", "flagged_by_rule/all_three", ...).
	Suppressed map[string]bool
}

// Count renders the count called name (as the matcher names it, e.g.
// "households" or "flagged_by_rule/all_three"): the number, or
// "<threshold" when the matcher withheld it.
func (r Run) Count(name string, n uint64) string {
	return FormatCount(r.Suppressed, r.Threshold, name, n)
}

// FormatCount renders the count called name: n, or "<threshold" when
// suppressed names it.
func FormatCount(suppressed map[string]bool, threshold int, name string, n uint64) string {
	if suppressed[name] {
		return fmt.Sprintf("<%d", threshold)
	}
	return fmt.Sprint(n)
}

func suppressedSet(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Household is a flagged household as the lead sees it.
type Household struct {
	ID       string
	Rule     string
	Criteria map[string]bool
	// Members maps an agency to the references it holds for members.
	Members map[string][][]byte
}

// Person is one re-identified member.
type Person struct {
	RecordID, GivenName, FamilyName, DOB, Address, Postcode string
}

// Client talks to the matcher as the lead.
type Client struct {
	Matcher pb.LeadClient
}

func runFromProto(r *pb.LinkRun) Run {
	return Run{
		ID: r.GetRunId(), RuleSetVersion: r.GetRuleSetVersion(), Epoch: r.GetKeyEpoch(), Records: r.GetRecords(),
		Persons: r.GetPersons(), Households: r.GetHouseholds(), Flagged: r.GetFlagged(), FlaggedByRule: r.GetFlaggedByRule(),
		LinksByKind: r.GetLinksByKind(), Review: len(r.GetReview()),
		Threshold: int(r.GetSmallNumberThreshold()), Suppressed: suppressedSet(r.GetSuppressed()),
	}
}

// StartRun asks the matcher to link and evaluate the rules.
func (c *Client) StartRun(ctx context.Context, purpose string) (Run, error) {
	r, err := c.Matcher.StartLinkRun(ctx, &pb.StartLinkRunRequest{Purpose: purpose})
	if err != nil {
		return Run{}, fmt.Errorf("starting link run: %w", err)
	}
	return runFromProto(r), nil
}

// Flagged lists the households of a run (the latest when runID is empty),
// ordered by household id.
func (c *Client) Flagged(ctx context.Context, runID, purpose string) (Run, []Household, error) {
	resp, err := c.Matcher.ListFlaggedHouseholds(ctx, &pb.ListFlaggedHouseholdsRequest{RunId: runID, Purpose: purpose})
	if err != nil {
		return Run{}, nil, fmt.Errorf("listing flagged households: %w", err)
	}
	hs := make([]Household, 0, len(resp.GetHouseholds()))
	for _, h := range resp.GetHouseholds() {
		hh := Household{ID: h.GetHouseholdId(), Rule: h.GetRule(), Criteria: h.GetCriteria(), Members: map[string][][]byte{}}
		for _, m := range h.GetMembers() {
			hh.Members[m.GetAgency()] = append(hh.Members[m.GetAgency()], m.GetRefs()...)
		}
		hs = append(hs, hh)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].ID < hs[j].ID })
	return runFromProto(resp.GetRun()), hs, nil
}

// Holdings is what the matcher stores of one key epoch. Record counts it
// withheld under the small-number rule are 0 and named in Suppressed
// ("records", "records_by_agency/police").
type Holdings struct {
	Epoch           uint32
	Records         uint64
	RecordsByAgency map[string]uint64
	Batches, Runs   uint64
	Suppressed      map[string]bool
}

// Purge is the matcher's answer to a purge: what was deleted (for a dry
// run, what would be; zero when the epoch holds nothing), and what it
// holds afterwards.
type Purge struct {
	Purged    Holdings
	Epochs    []Holdings
	InForce   uint32 // the key epoch the matcher serves
	Threshold int    // the agreement's small-number threshold
}

func holdingsFromProto(h *pb.EpochHoldings) Holdings {
	return Holdings{Epoch: h.GetKeyEpoch(), Records: h.GetRecords(), RecordsByAgency: h.GetRecordsByAgency(),
		Batches: h.GetBatches(), Runs: h.GetRuns(), Suppressed: suppressedSet(h.GetSuppressed())}
}

// PurgeEpoch asks the matcher to delete everything it stores under the
// retired key epoch; with dryRun it deletes nothing and reports what it
// holds.
func (c *Client) PurgeEpoch(ctx context.Context, epoch uint32, purpose string, dryRun bool) (Purge, error) {
	resp, err := c.Matcher.PurgeEpoch(ctx, &pb.PurgeEpochRequest{KeyEpoch: epoch, Purpose: purpose, DryRun: dryRun})
	if err != nil {
		return Purge{}, fmt.Errorf("purging key epoch %d: %w", epoch, err)
	}
	p := Purge{InForce: resp.GetEpochInForce(), Threshold: int(resp.GetSmallNumberThreshold())}
	if resp.GetPurged() != nil {
		p.Purged = holdingsFromProto(resp.GetPurged())
	}
	for _, h := range resp.GetEpochs() {
		p.Epochs = append(p.Epochs, holdingsFromProto(h))
	}
	return p, nil
}

// WriteHoldings prints what the matcher holds per key epoch, one line
// each, marking the epoch in force.
func WriteHoldings(w io.Writer, p Purge) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EPOCH\tRECORDS\tBY AGENCY\tBATCHES\tRUNS\t")
	for _, h := range p.Epochs {
		agencies := make([]string, 0, len(h.RecordsByAgency))
		for a := range h.RecordsByAgency {
			agencies = append(agencies, a)
		}
		sort.Strings(agencies)
		var by []string
		for _, a := range agencies {
			by = append(by, a+":"+FormatCount(h.Suppressed, p.Threshold, "records_by_agency/"+a, h.RecordsByAgency[a]))
		}
		mark := ""
		if h.Epoch == p.InForce {
			mark = "in force"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", h.Epoch, FormatCount(h.Suppressed, p.Threshold, "records", h.Records),
			strings.Join(by, " "), h.Batches, h.Runs, mark)
	}
	return tw.Flush()
}

// maxResolveBatch matches the vault's limit per request.
const maxResolveBatch = 10000

// Reidentify resolves refs through an agency's vault. The result maps the
// reference (as a string of its bytes) to the person.
func Reidentify(ctx context.Context, vault pb.VaultClient, refs [][]byte, purpose string) (map[string]Person, error) {
	out := make(map[string]Person, len(refs))
	for start := 0; start < len(refs); start += maxResolveBatch {
		end := min(start+maxResolveBatch, len(refs))
		resp, err := vault.Resolve(ctx, &pb.ResolveRequest{Refs: refs[start:end], Purpose: purpose})
		if err != nil {
			return nil, fmt.Errorf("re-identifying: %w", err)
		}
		for _, p := range resp.GetPeople() {
			out[string(p.GetRef())] = Person{
				RecordID: p.GetRecordId(), GivenName: p.GetGivenName(), FamilyName: p.GetFamilyName(),
				DOB: p.GetDob(), Address: p.GetAddress(), Postcode: p.GetPostcode(),
			}
		}
	}
	return out, nil
}

// Criteria in the order the table shows them; others follow by name.
var criteriaOrder = []string{"crime_asb", "education", "work", "local_concern"}

func orderedCriteria(hs []Household) []string {
	seen := map[string]bool{}
	var names []string
	for _, n := range criteriaOrder {
		seen[n] = true
	}
	for _, h := range hs {
		for n := range h.Criteria {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return append(append([]string(nil), criteriaOrder...), names...)
}

// WriteTable prints the flagged households: criteria met, how many members
// each agency holds, and the names of the members the lead could
// re-identify (people, keyed by reference; may be nil).
func WriteTable(w io.Writer, hs []Household, people map[string]Person) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	crit := orderedCriteria(hs)
	header := []string{"HOUSEHOLD", "RULE"}
	for _, c := range crit {
		header = append(header, strings.ToUpper(c))
	}
	header = append(header, "MEMBERS BY AGENCY", "KNOWN MEMBERS")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, h := range hs {
		row := []string{h.ID, h.Rule}
		for _, c := range crit {
			mark := "-"
			if h.Criteria[c] {
				mark = "yes"
			}
			row = append(row, mark)
		}
		agencies := make([]string, 0, len(h.Members))
		for a := range h.Members {
			agencies = append(agencies, a)
		}
		sort.Strings(agencies)
		var counts, names []string
		for _, a := range agencies {
			counts = append(counts, fmt.Sprintf("%s:%d", a, len(h.Members[a])))
			for _, ref := range h.Members[a] {
				if p, ok := people[string(ref)]; ok {
					names = append(names, strings.TrimSpace(p.GivenName+" "+p.FamilyName)+" ("+p.DOB+")")
				}
			}
		}
		sort.Strings(names)
		row = append(row, strings.Join(counts, " "), strings.Join(names, "; "))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
