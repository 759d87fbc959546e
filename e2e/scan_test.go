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
// to lower case, without spaces, and names joined. Needles are indexed by
// their first minNeedle bytes so a scan costs one map lookup per byte.
type needles struct {
	byPrefix map[string][]needle
	count    int
}

type needle struct {
	s, what string
}

func newNeedles() *needles { return &needles{byPrefix: map[string][]needle{}} }

func (n *needles) add(s, what string) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, v := range []string{s, strings.ReplaceAll(s, " ", "")} {
		if len(v) < minNeedle {
			continue
		}
		p := v[:minNeedle]
		dup := false
		for _, e := range n.byPrefix[p] {
			dup = dup || e.s == v
		}
		if !dup {
			n.byPrefix[p] = append(n.byPrefix[p], needle{v, what})
			n.count++
		}
	}
}

func collectNeedles(t *testing.T, districtDir string, agencies []string) *needles {
	t.Helper()
	n := newNeedles()
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
func (n *needles) find(hay []byte) (found, what string) {
	low := bytes.ToLower(hay)
	for i := 0; i+minNeedle <= len(low); i++ {
		cands, ok := n.byPrefix[string(low[i:i+minNeedle])]
		if !ok {
			continue
		}
		for _, c := range cands {
			if bytes.HasPrefix(low[i:], []byte(c.s)) && !insideHexID(low, i, len(c.s)) {
				return c.s, c.what
			}
		}
	}
	return "", ""
}

// insideHexID reports whether hay[i:i+n] lies within a run of at least 16
// hexadecimal characters: the matcher's own person and household ids
// ("H-" and 16 hex digits) contain digit strings by chance, and a digit
// needle found there is not an identity.
func insideHexID(hay []byte, i, n int) bool {
	isHex := func(b byte) bool { return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' }
	lo, hi := i, i+n
	for k := i; k < i+n; k++ {
		if !isHex(hay[k]) {
			return false
		}
	}
	for lo > 0 && isHex(hay[lo-1]) {
		lo--
	}
	for hi < len(hay) && isHex(hay[hi]) {
		hi++
	}
	return hi-lo >= 16
}

func TestNeedlesFind(t *testing.T) {
	n := newNeedles()
	n.add("Zoë Smith-Jones", "name")
	n.add("LS1 4AP", "postcode")
	n.add("Bob", "short name is ignored")
	n.add("19760426", "dob")
	tests := []struct {
		hay  string
		want string
	}{
		{"xx ZOË SMITH-JONES yy", "zoë smith-jones"},
		{"\x00\x01ls14ap\x02", "ls14ap"},
		{"bob bob bob", ""},
		{"H-00ls14ap", "ls14ap"},
		{"id H-0a19760426b3c4d5 here", ""},
		{"dob 19760426 here", "19760426"},
		{"nothing here", ""},
	}
	for _, tt := range tests {
		if got, _ := n.find([]byte(tt.hay)); got != tt.want {
			t.Errorf("find(%q) = %q, want %q", tt.hay, got, tt.want)
		}
	}
}
