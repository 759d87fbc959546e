// Package rules owns the programme's identification criteria: a versioned
// rule set, written in YAML with CEL expressions, that decides per
// household whether it is flagged and by which rule.
//
// A rule set has named criteria, each a CEL bool expression over the
// household's facts, and an ordered list of rules, each a CEL bool
// expression over the criteria. The first rule that holds is the
// household's rule. Criteria see:
//
//	count    map(string, int)  members with each indicator true
//	members  int               persons in the household
//	sources  map(string, int)  members known to each agency (source)
//
// Every indicator or source named anywhere in the rule set (count.x,
// count["x"], sources.x) defaults to 0, so a rule never fails because no
// member of a household has some indicator. Rules see every criterion as
// a bool variable, and the facts as well.
//
// The phase-1 programme of 2012 is embedded (Phase1); councils load their
// own with Load.
package rules

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"gopkg.in/yaml.v3"
)

//go:embed phase1.yaml
var phase1YAML []byte

// Limits that keep a rule set reviewable and its evaluation cheap.
const (
	MaxEntries  = 256    // criteria, and rules, per set
	MaxExprLen  = 4096   // bytes per expression
	MaxNameLen  = 64     // bytes per criterion or rule name
	maxEvalCost = 100000 // CEL runtime cost per expression
)

// Names the facts take in expressions; no criterion may use them.
const (
	varCount   = "count"
	varMembers = "members"
	varSources = "sources"
)

// Facts are what a household's criteria are evaluated over.
type Facts struct {
	Count   map[string]int // indicator -> members with it true
	Members int            // persons in the household
	Sources map[string]int // source -> members known to it
}

// Outcome is a household's evaluation.
type Outcome struct {
	Criteria map[string]bool // every criterion's value
	Rule     string          // the first rule that held; "" if none
}

// RuleSet is a parsed, type-checked rule set. It is immutable and safe
// for concurrent use.
type RuleSet struct {
	version     string
	description string
	criteria    []entry
	rules       []entry
	indicators  []string // named in count.x anywhere, sorted
	sources     []string // named in sources.x anywhere, sorted
}

type entry struct {
	name string
	expr string
	prg  cel.Program
}

// Phase1 returns the embedded phase-1 (2012) rule set.
func Phase1() *RuleSet {
	rs, err := Parse(phase1YAML, "phase1.yaml")
	if err != nil {
		// The embedded file is checked by the tests.
		panic("rules: embedded phase-1 rule set: " + err.Error())
	}
	return rs
}

// Load reads and parses the rule set file at path.
func Load(path string) (*RuleSet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return Parse(data, path)
}

// Version returns the rule set's version string.
func (rs *RuleSet) Version() string { return rs.version }

// Description returns the rule set's description.
func (rs *RuleSet) Description() string { return rs.description }

// Criteria returns the criterion names in file order.
func (rs *RuleSet) Criteria() []string { return names(rs.criteria) }

// Rules returns the rule names in evaluation order.
func (rs *RuleSet) Rules() []string { return names(rs.rules) }

// Indicators returns the indicator names the rule set mentions, sorted.
func (rs *RuleSet) Indicators() []string { return slices.Clone(rs.indicators) }

func names(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out
}

// ParseError is a problem in a rule set file.
type ParseError struct {
	File string // the name given to Parse
	Line int    // YAML line, 0 if unknown
	What string // e.g. `criterion "work"`, empty for the file as a whole
	Err  error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.What != "" {
		b.WriteString(e.What + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// Parse parses and type-checks a rule set. name is used in errors (the
// file name). Every expression must type-check to bool.
func Parse(data []byte, name string) (*RuleSet, error) {
	perr := func(line int, what string, err error) error {
		return &ParseError{File: name, Line: line, What: what, Err: err}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, perr(0, "", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, perr(doc.Line, "", errors.New("want a mapping with version, description, criteria and rules"))
	}
	top := doc.Content[0]
	rs := &RuleSet{}
	var critNode, rulesNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if seen[k.Value] {
			return nil, perr(k.Line, "", fmt.Errorf("%q given twice", k.Value))
		}
		seen[k.Value] = true
		switch k.Value {
		case "version":
			s, err := scalar(v)
			if err != nil {
				return nil, perr(v.Line, "version", err)
			}
			rs.version = s
		case "description":
			s, err := scalar(v)
			if err != nil {
				return nil, perr(v.Line, "description", err)
			}
			rs.description = s
		case "criteria":
			critNode = v
		case "rules":
			rulesNode = v
		default:
			return nil, perr(k.Line, "", fmt.Errorf("unknown key %q (want version, description, criteria, rules)", truncate(k.Value)))
		}
	}
	if rs.version == "" || len(rs.version) > 128 || strings.ContainsFunc(rs.version, isControl) {
		return nil, perr(top.Line, "version", errors.New("required: 1-128 printable characters"))
	}
	if strings.ContainsFunc(rs.description, func(r rune) bool { return isControl(r) && r != '\n' && r != '\t' }) {
		return nil, perr(top.Line, "description", errors.New("control characters"))
	}
	if critNode == nil || critNode.Kind != yaml.MappingNode || len(critNode.Content) == 0 {
		return nil, perr(top.Line, "criteria", errors.New("required: a mapping of name to expression"))
	}
	if rulesNode == nil || rulesNode.Kind != yaml.SequenceNode || len(rulesNode.Content) == 0 {
		return nil, perr(top.Line, "rules", errors.New("required: a list of {name, expr}"))
	}
	if len(critNode.Content)/2 > MaxEntries || len(rulesNode.Content) > MaxEntries {
		return nil, perr(top.Line, "", fmt.Errorf("more than %d criteria or rules", MaxEntries))
	}

	critEnv, err := cel.NewEnv(factVars()...)
	if err != nil {
		return nil, fmt.Errorf("rules: CEL environment: %w", err)
	}
	mentioned := map[string]map[string]bool{varCount: {}, varSources: {}}
	critNames := map[string]bool{}
	for i := 0; i+1 < len(critNode.Content); i += 2 {
		k, v := critNode.Content[i], critNode.Content[i+1]
		what := fmt.Sprintf("criterion %q", truncate(k.Value))
		if err := checkName(k.Value, true); err != nil {
			return nil, perr(k.Line, what, err)
		}
		if critNames[k.Value] {
			return nil, perr(k.Line, what, errors.New("defined twice"))
		}
		critNames[k.Value] = true
		expr, err := scalar(v)
		if err != nil {
			return nil, perr(v.Line, what, err)
		}
		prg, err := compile(critEnv, expr, mentioned)
		if err != nil {
			return nil, perr(v.Line, what, err)
		}
		rs.criteria = append(rs.criteria, entry{name: k.Value, expr: expr, prg: prg})
	}

	ruleVars := factVars()
	for _, c := range rs.criteria {
		ruleVars = append(ruleVars, cel.Variable(c.name, cel.BoolType))
	}
	ruleEnv, err := cel.NewEnv(ruleVars...)
	if err != nil {
		return nil, fmt.Errorf("rules: CEL environment: %w", err)
	}
	ruleNames := map[string]bool{}
	for i, rn := range rulesNode.Content {
		what := fmt.Sprintf("rule %d", i+1)
		if rn.Kind != yaml.MappingNode {
			return nil, perr(rn.Line, what, errors.New("want a mapping with name and expr"))
		}
		var e entry
		exprLine := rn.Line
		fields := map[string]bool{}
		for j := 0; j+1 < len(rn.Content); j += 2 {
			k, v := rn.Content[j], rn.Content[j+1]
			if fields[k.Value] {
				return nil, perr(k.Line, what, fmt.Errorf("%q given twice", k.Value))
			}
			fields[k.Value] = true
			s, err := scalar(v)
			if err != nil {
				return nil, perr(v.Line, what+" "+k.Value, err)
			}
			switch k.Value {
			case "name":
				e.name = s
			case "expr":
				e.expr, exprLine = s, v.Line
			default:
				return nil, perr(k.Line, what, fmt.Errorf("unknown key %q (want name, expr)", truncate(k.Value)))
			}
		}
		if err := checkName(e.name, false); err != nil {
			return nil, perr(rn.Line, what+" name", err)
		}
		what = fmt.Sprintf("rule %q", e.name)
		if ruleNames[e.name] {
			return nil, perr(rn.Line, what, errors.New("defined twice"))
		}
		ruleNames[e.name] = true
		if e.prg, err = compile(ruleEnv, e.expr, mentioned); err != nil {
			return nil, perr(exprLine, what, err)
		}
		rs.rules = append(rs.rules, e)
	}
	rs.indicators = sortedKeys(mentioned[varCount])
	rs.sources = sortedKeys(mentioned[varSources])
	return rs, nil
}

func factVars() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Variable(varCount, cel.MapType(cel.StringType, cel.IntType)),
		cel.Variable(varMembers, cel.IntType),
		cel.Variable(varSources, cel.MapType(cel.StringType, cel.IntType)),
	}
}

// compile type-checks expr to bool and records the keys of count and
// sources it names.
func compile(env *cel.Env, expr string, mentioned map[string]map[string]bool) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty expression")
	}
	if len(expr) > MaxExprLen {
		return nil, fmt.Errorf("expression longer than %d bytes", MaxExprLen)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("CEL: %w", iss.Err())
	}
	if !ast.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("expression has type %s, want bool", ast.OutputType())
	}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			s := e.AsSelect()
			if op := s.Operand(); op.Kind() == celast.IdentKind && mentioned[op.AsIdent()] != nil {
				mentioned[op.AsIdent()][s.FieldName()] = true
			}
		case celast.CallKind:
			c := e.AsCall()
			args := c.Args()
			if c.FunctionName() == operators.Index && len(args) == 2 &&
				args[0].Kind() == celast.IdentKind && mentioned[args[0].AsIdent()] != nil &&
				args[1].Kind() == celast.LiteralKind {
				if s, ok := args[1].AsLiteral().Value().(string); ok {
					mentioned[args[0].AsIdent()][s] = true
				}
			}
		}
	}))
	prg, err := env.Program(ast, cel.CostLimit(maxEvalCost))
	if err != nil {
		return nil, fmt.Errorf("CEL program: %w", err)
	}
	return prg, nil
}

var reserved = map[string]bool{
	varCount: true, varMembers: true, varSources: true,
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true, "if": true,
	"import": true, "let": true, "loop": true, "package": true, "namespace": true,
	"return": true, "var": true, "void": true, "while": true,
}

// checkName accepts identifiers (criteria must be usable as CEL
// variables; rules may also use '-').
func checkName(s string, criterion bool) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("name must be 1-%d characters", MaxNameLen)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' ||
			i > 0 && (c >= '0' && c <= '9' || !criterion && c == '-')
		if !ok {
			return errors.New("name must be a letter or underscore followed by letters, digits or underscores")
		}
	}
	if criterion && reserved[s] {
		return fmt.Errorf("%q is reserved", s)
	}
	return nil
}

func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("want a plain value")
	}
	return n.Value, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func truncate(s string) string {
	if len(s) > MaxNameLen {
		return s[:MaxNameLen] + "..."
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Evaluate evaluates the criteria and then the rules for one household.
func (rs *RuleSet) Evaluate(f Facts) (Outcome, error) {
	act := map[string]any{
		varCount:   withDefaults(f.Count, rs.indicators),
		varMembers: int64(f.Members),
		varSources: withDefaults(f.Sources, rs.sources),
	}
	out := Outcome{Criteria: make(map[string]bool, len(rs.criteria))}
	for _, c := range rs.criteria {
		v, err := eval(c, act)
		if err != nil {
			return Outcome{}, fmt.Errorf("rules %s: criterion %q: %w", rs.version, c.name, err)
		}
		out.Criteria[c.name] = v
	}
	for name, v := range out.Criteria {
		act[name] = v
	}
	for _, r := range rs.rules {
		v, err := eval(r, act)
		if err != nil {
			return Outcome{}, fmt.Errorf("rules %s: rule %q: %w", rs.version, r.name, err)
		}
		if v {
			out.Rule = r.name
			break
		}
	}
	return out, nil
}

func eval(e entry, act map[string]any) (bool, error) {
	v, _, err := e.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %T, want bool", v.Value())
	}
	return b, nil
}

func withDefaults(m map[string]int, names []string) map[string]int64 {
	out := make(map[string]int64, len(m)+len(names))
	for _, n := range names {
		out[n] = 0
	}
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

// Format returns the rule set as canonical YAML that Parse reads back to
// an equal rule set.
func (rs *RuleSet) Format() []byte {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	top := &yaml.Node{Kind: yaml.MappingNode}
	top.Content = append(top.Content, str("version"), str(rs.version))
	if rs.description != "" {
		top.Content = append(top.Content, str("description"), str(rs.description))
	}
	crit := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range rs.criteria {
		crit.Content = append(crit.Content, str(c.name), str(c.expr))
	}
	rules := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rs.rules {
		rules.Content = append(rules.Content, &yaml.Node{Kind: yaml.MappingNode,
			Content: []*yaml.Node{str("name"), str(r.name), str("expr"), str(r.expr)}})
	}
	top.Content = append(top.Content, str("criteria"), crit, str("rules"), rules)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(top); err != nil {
		// Encoding a tree of string scalars cannot fail.
		panic("rules: format: " + err.Error())
	}
	enc.Close()
	return b.Bytes()
}
