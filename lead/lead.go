// Package lead is the programme lead's client: it starts link runs on the
// matcher, lists the households a run flagged, and re-identifies members
// through the vault of an agency node that allows it (the council's own
// node, for its own records).
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

// Run summarises a link run.
type Run struct {
	ID             string
	RuleSetVersion string
	Records        uint64
	Persons        uint64
	Households     uint64
	Flagged        uint64
	LinksByKind    map[string]uint64
	Review         int
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
		ID: r.GetRunId(), RuleSetVersion: r.GetRuleSetVersion(), Records: r.GetRecords(),
		Persons: r.GetPersons(), Households: r.GetHouseholds(), Flagged: r.GetFlagged(),
		LinksByKind: r.GetLinksByKind(), Review: len(r.GetReview()),
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
