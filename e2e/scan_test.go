package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/agency/mapping"
	"tfmatch/agency/normalize"
)

// minNeedle is the shortest identity string searched for: shorter strings
// turn up by chance in random token bytes.
const minNeedle = 6

// identityFields are the canonical fields whose values must never reach the
// matcher.
var identityFields = []string{
	normalize.FieldRecordID, normalize.FieldGivenName, normalize.FieldMiddleNames, normalize.FieldFamilyName,
	normalize.FieldFullName, normalize.FieldDOB, normalize.FieldNINO, normalize.FieldNHSNumber,
	normalize.FieldUPN, normalize.FieldUPRN, normalize.FieldAddress, normalize.FieldStreet,
	normalize.FieldPostcode, normalize.FieldHouseholdRef,
}

// needles collects every identity string in the district's extracts, read
// through their mappings, in the forms they could leak in: as given, folded
// to lower case, without spaces, and names joined.
type needles struct {
	byLen map[int]map[string]string // length -> needle -> description
	count int
}

func (n *needles) add(s, what string) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range []string{s, strings.ReplaceAll(s, " ", "")} {
		if len(v) < minNeedle {
			continue
		}
		if n.byLen[len(v)] == nil {
			n.byLen[len(v)] = map[string]string{}
		}
		if _, dup := n.byLen[len(v)][v]; !dup {
			n.count++
		}
		n.byLen[len(v)][v] = what
	}
}

func collectNeedles(t *testing.T, districtDir string, agencies []string) *needles {
	t.Helper()
	n := &needles{byLen: map[int]map[string]string{}}
	for _, a := range agencies {
		m, err := mapping.Load(filepath.Join(districtDir, "mappings", a+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(districtDir, a+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := m.NewReader(f, a+".csv", mapping.ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var re *mapping.RowError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, fld := range identityFields {
				if v := row.Fields[fld]; v != "" {
					n.add(v, a+" "+fld)
					// Date of birth also in its compact form.
					if fld == normalize.FieldDOB {
						n.add(strings.ReplaceAll(v, "-", ""), a+" dob")
					}
				}
			}
			g, fam := row.Fields[normalize.FieldGivenName], row.Fields[normalize.FieldFamilyName]
			if g != "" && fam != "" {
				n.add(g+" "+fam, a+" full name")
				n.add(fam+" "+g, a+" full name")
			}
		}
		f.Close()
	}
	return n
}

// find returns the first needle in hay (case-folded), or "".
func (n *needles) find(hay []byte) (needle, what string) {
	low := bytes.ToLower(hay)
	for l, set := range n.byLen {
		for i := 0; i+l <= len(low); i++ {
			if w, ok := set[string(low[i:i+l])]; ok {
				return string(low[i : i+l]), w
			}
		}
	}
	return "", ""
}

func TestNeedlesFind(t *testing.T) {
	n := &needles{byLen: map[int]map[string]string{}}
	n.add("Zoë Smith-Jones", "name")
	n.add("LS1 4AP", "postcode")
	n.add("Bob", "short name is ignored")
	tests := []struct {
		hay  string
		want string
	}{
		{"xx ZOË SMITH-JONES yy", "zoë smith-jones"},
		{"\x00\x01ls14ap\x02", "ls14ap"},
		{"bob bob bob", ""},
		{"nothing here", ""},
	}
	for _, tt := range tests {
		if got, _ := n.find([]byte(tt.hay)); got != tt.want {
			t.Errorf("find(%q) = %q, want %q", tt.hay, got, tt.want)
		}
	}
}
