package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPhase1(t *testing.T) {
	rs := Phase1()
	if got, want := rs.Version(), "phase1-2012"; got != want {
		t.Errorf("Version() = %q, want %q", got, want)
	}
	if got, want := rs.Indicators(), []string{"crime_asb", "education", "local_concern", "work"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Indicators() = %v, want %v", got, want)
	}
	tests := []struct {
		name  string
		count map[string]int
		rule  string
		crit  map[string]bool
	}{
		{"all three", map[string]int{"crime_asb": 1, "education": 2, "work": 1}, "all_three",
			map[string]bool{"crime_asb": true, "education": true, "work": true, "local_concern": false}},
		{"all three and local", map[string]int{"crime_asb": 1, "education": 1, "work": 1, "local_concern": 1}, "all_three",
			map[string]bool{"crime_asb": true, "education": true, "work": true, "local_concern": true}},
		{"two plus local", map[string]int{"crime_asb": 1, "work": 3, "local_concern": 1}, "two_plus_local",
			map[string]bool{"crime_asb": true, "education": false, "work": true, "local_concern": true}},
		{"two without local", map[string]int{"education": 1, "work": 1}, "",
			map[string]bool{"crime_asb": false, "education": true, "work": true, "local_concern": false}},
		{"one plus local", map[string]int{"work": 1, "local_concern": 2}, "",
			map[string]bool{"crime_asb": false, "education": false, "work": true, "local_concern": true}},
		{"none", nil, "",
			map[string]bool{"crime_asb": false, "education": false, "work": false, "local_concern": false}},
		{"zero counts present", map[string]int{"crime_asb": 0, "education": 0, "work": 0, "other": 4}, "",
			map[string]bool{"crime_asb": false, "education": false, "work": false, "local_concern": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := rs.Evaluate(Facts{Count: tt.count, Members: 3})
			if err != nil {
				t.Fatal(err)
			}
			if out.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q", out.Rule, tt.rule)
			}
			if !reflect.DeepEqual(out.Criteria, tt.crit) {
				t.Errorf("Criteria = %v, want %v", out.Criteria, tt.crit)
			}
		})
	}
}

func TestFactsAndDefaults(t *testing.T) {
	src := `version: t1
criteria:
  big: members >= 4
  known_police: sources.police > 0
  health: count["health"] > 0
rules:
  - name: big-and-police
    expr: big && known_police
  - name: health_only
    expr: health && count.health >= 2
`
	rs, err := Parse([]byte(src), "t1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    Facts
		rule string
	}{
		{Facts{Members: 5, Sources: map[string]int{"police": 1}}, "big-and-police"},
		{Facts{Members: 5, Sources: map[string]int{"school": 3}}, ""},
		{Facts{Members: 2, Count: map[string]int{"health": 2}}, "health_only"},
		{Facts{Members: 2, Count: map[string]int{"health": 1}}, ""},
		{Facts{}, ""},
	}
	for i, tt := range tests {
		out, err := rs.Evaluate(tt.f)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if out.Rule != tt.rule {
			t.Errorf("case %d: Rule = %q, want %q", i, out.Rule, tt.rule)
		}
	}
	if got, want := rs.Rules(), []string{"big-and-police", "health_only"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Rules() = %v, want %v", got, want)
	}
	if got, want := rs.Criteria(), []string{"big", "known_police", "health"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Criteria() = %v, want %v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"not yaml", "version: [", []string{"bad.yaml", "yaml"}},
		{"no version", "criteria:\n  a: true\nrules:\n  - name: r\n    expr: a\n", []string{"bad.yaml:1", "version"}},
		{"no criteria", "version: v\nrules:\n  - name: r\n    expr: true\n", []string{"criteria", "required"}},
		{"no rules", "version: v\ncriteria:\n  a: true\n", []string{"rules", "required"}},
		{"unknown key", "version: v\nfoo: 1\ncriteria:\n  a: true\nrules:\n  - name: r\n    expr: a\n", []string{"bad.yaml:2", `unknown key "foo"`}},
		{"cel syntax", "version: v\ncriteria:\n  a: count.x >\nrules:\n  - name: r\n    expr: a\n", []string{"bad.yaml:3", `criterion "a"`, "CEL"}},
		{"not bool", "version: v\ncriteria:\n  a: count.x + 1\nrules:\n  - name: r\n    expr: a\n", []string{"bad.yaml:3", `criterion "a"`, "want bool"}},
		{"unknown variable", "version: v\ncriteria:\n  a: true\nrules:\n  - name: r\n    expr: a && b\n", []string{"bad.yaml:6", `rule "r"`, "undeclared reference"}},
		{"rule type", "version: v\ncriteria:\n  a: true\nrules:\n  - name: r\n    expr: '1'\n", []string{`rule "r"`, "want bool"}},
		{"reserved criterion", "version: v\ncriteria:\n  count: true\nrules:\n  - name: r\n    expr: count\n", []string{`criterion "count"`, "reserved"}},
		{"bad criterion name", "version: v\ncriteria:\n  a-b: true\nrules:\n  - name: r\n    expr: true\n", []string{`criterion "a-b"`}},
		{"duplicate rule", "version: v\ncriteria:\n  a: true\nrules:\n  - name: r\n    expr: a\n  - name: r\n    expr: a\n", []string{"bad.yaml:7", `rule "r"`, "twice"}},
		{"rule without name", "version: v\ncriteria:\n  a: true\nrules:\n  - expr: a\n", []string{"rule 1 name"}},
		{"rule unknown key", "version: v\ncriteria:\n  a: true\nrules:\n  - name: r\n    exp: a\n", []string{"rule 1", `unknown key "exp"`}},
		{"empty expr", "version: v\ncriteria:\n  a: ''\nrules:\n  - name: r\n    expr: a\n", []string{`criterion "a"`, "empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "bad.yaml")
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEvaluateError(t *testing.T) {
	rs, err := Parse([]byte("version: v\ncriteria:\n  a: 10 / count.x > 1\nrules:\n  - name: r\n    expr: a\n"), "div.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Evaluate(Facts{}); err == nil || !strings.Contains(err.Error(), `criterion "a"`) {
		t.Errorf("Evaluate error = %v, want a division error naming the criterion", err)
	}
}

func TestLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(p, Phase1().Format(), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Version() != "phase1-2012" {
		t.Errorf("Version() = %q", rs.Version())
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// TestFormatGolden pins the canonical form of the phase-1 rule set.
func TestFormatGolden(t *testing.T) {
	got := Phase1().Format()
	want, err := os.ReadFile("testdata/phase1.canonical.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Format() =\n%s\nwant\n%s", got, want)
	}
}

func equalSets(a, b *RuleSet) bool {
	if a.version != b.version || a.description != b.description || len(a.criteria) != len(b.criteria) || len(a.rules) != len(b.rules) {
		return false
	}
	for i := range a.criteria {
		if a.criteria[i].name != b.criteria[i].name || a.criteria[i].expr != b.criteria[i].expr {
			return false
		}
	}
	for i := range a.rules {
		if a.rules[i].name != b.rules[i].name || a.rules[i].expr != b.rules[i].expr {
			return false
		}
	}
	return reflect.DeepEqual(a.indicators, b.indicators) && reflect.DeepEqual(a.sources, b.sources)
}

func FuzzParse(f *testing.F) {
	f.Add(phase1YAML)
	f.Add([]byte("version: v\ncriteria:\n  a: members > 1 && sources[\"x\"] == 0\nrules:\n  - name: r\n    expr: a || count.y > 2\n"))
	f.Add([]byte("version: \"1\"\ndescription: |\n  multi\n  line\ncriteria:\n  a: 'true'\nrules:\n  - name: r-1\n    expr: \"a\"\n"))
	f.Add([]byte("version: v\ncriteria: {a: true}\nrules: [{name: r, expr: a}]\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		// Round trip: the canonical form parses back to the same set.
		rs2, err := Parse(rs.Format(), "formatted.yaml")
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, rs.Format())
		}
		if !equalSets(rs, rs2) {
			t.Fatalf("round trip changed the rule set:\n%s", rs.Format())
		}
		// Evaluation never panics; every criterion gets a value.
		out, err := rs.Evaluate(Facts{Members: 2, Count: map[string]int{"x": 1}})
		if err == nil && len(out.Criteria) != len(rs.criteria) {
			t.Fatalf("Criteria has %d entries, want %d", len(out.Criteria), len(rs.criteria))
		}
	})
}
