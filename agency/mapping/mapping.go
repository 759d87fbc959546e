// Package mapping reads an agency's CSV extract through a mapping file.
//
// It owns the mapping-file format (version 1, documented in docs/mapping.md):
// parsing and validating mapping files, matching a CSV header against them,
// turning each CSV row into canonical fields (see package normalize for the
// field names) with dates rewritten as YYYY-MM-DD, and evaluating the
// indicator expressions (CEL) that decide which programme indicators a
// record contributes.
//
// A Mapping is immutable once parsed and may be shared; a Reader reads one
// file and is not safe for concurrent use.
package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"tfmatch/agency/normalize"
)

// Version is the mapping-file format version this package reads.
const Version = 1

// Encodings accepted under csv.encoding.
const (
	EncodingUTF8        = "utf-8"
	EncodingWindows1252 = "windows-1252"
)

// maxErrors bounds how many problems one Parse reports.
const maxErrors = 20

// Mapping is a parsed, validated mapping file.
type Mapping struct {
	name       string // file name, for messages
	source     string
	delimiter  rune
	encoding   string
	fields     []fieldSpec // schema order
	dates      []dateColumn
	indicators []*indicator // sorted by name
}

// fieldSpec says where one canonical field comes from.
type fieldSpec struct {
	name      string
	columns   []string
	separator string
	formats   dateFormats // non-nil for a date field
	plain     bool        // written as a plain string in the file
	line      int
}

// dateColumn is one entry under dates:.
type dateColumn struct {
	column  string
	formats dateFormats
}

// Load reads and parses the mapping file at path.
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return Parse(data, filepath.Base(path))
}

// Source returns the source label from the mapping file (may be empty).
func (m *Mapping) Source() string { return m.source }

// Name returns the file name the mapping was parsed under.
func (m *Mapping) Name() string { return m.name }

// Fields returns the canonical fields the mapping fills, in schema order.
func (m *Mapping) Fields() []string {
	out := make([]string, len(m.fields))
	for i, f := range m.fields {
		out[i] = f.name
	}
	return out
}

// Indicators returns the indicator names, sorted.
func (m *Mapping) Indicators() []string {
	out := make([]string, len(m.indicators))
	for i, ind := range m.indicators {
		out[i] = ind.name
	}
	return out
}

// parser accumulates problems while walking the YAML tree.
type parser struct {
	name  string
	errs  []error
	dates map[string]bool // every column under dates:, even ones with errors
	hasID bool            // record_id appears under fields:, valid or not
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	if len(p.errs) == maxErrors {
		p.errs = append(p.errs, fmt.Errorf("%s: too many errors", p.name))
	}
	if len(p.errs) > maxErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, n.Line, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", p.name, msg))
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

// pairs returns the key/value pairs of a mapping node, reporting
// non-scalar and duplicate keys. what names the mapping in messages.
func (p *parser) pairs(n *yaml.Node, what string) [][2]*yaml.Node {
	n = resolve(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping of keys to values", what)
		return nil
	}
	var out [][2]*yaml.Node
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			p.errorf(n.Content[i], "%s: keys must be plain strings", what)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			p.errorf(k, "%s: duplicate key %q (first at line %d)", what, k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// scalar returns the string value of a scalar node, reporting anything else.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s: want a string", what)
		return "", false
	}
	return n.Value, true
}

// Parse parses and validates a mapping file. name is the file name used in
// error messages. The error lists every problem found (up to a limit), each
// as "name:line: message".
func Parse(data []byte, name string) (*Mapping, error) {
	if name == "" {
		name = "mapping"
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty mapping file", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", name, extra.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, fmt.Errorf("%s: empty mapping file", name)
		}
		root = root.Content[0]
	}
	p := &parser{name: name}
	m := &Mapping{name: name, delimiter: ',', encoding: EncodingUTF8}
	if resolve(root).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with keys version, source, csv, fields, dates, indicators", name, root.Line)
	}
	var version, fields *yaml.Node
	var indicatorPairs [][2]*yaml.Node
	for _, kv := range p.pairs(root, "mapping") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "version":
			version = k
			if s, ok := p.scalar(v, "version"); ok && s != strconv.Itoa(Version) {
				p.errorf(v, "version %q is not supported (this program reads version %d)", clip(s, 20), Version)
			}
		case "source":
			if s, ok := p.scalar(v, "source"); ok {
				m.source = s
			}
		case "csv":
			p.parseCSV(m, v)
		case "fields":
			fields = k
			p.parseFields(m, v)
		case "dates":
			p.parseDates(m, v)
		case "indicators":
			indicatorPairs = p.pairs(v, "indicators")
		default:
			p.errorf(k, "unknown key %q (want version, source, csv, fields, dates or indicators)", clip(k.Value, 40))
		}
	}
	if version == nil {
		p.errorf(root, "version is missing (want version: %d)", Version)
	}
	if fields == nil {
		p.errorf(root, "fields is missing (at least %s is required)", normalize.FieldRecordID)
	} else if !p.hasID {
		p.errorf(fields, "fields: %s is required", normalize.FieldRecordID)
	}
	if len(indicatorPairs) > 0 {
		p.parseIndicators(m, indicatorPairs)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return m, nil
}

func (p *parser) parseCSV(m *Mapping, n *yaml.Node) {
	for _, kv := range p.pairs(n, "csv") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "delimiter":
			s, ok := p.scalar(v, "csv.delimiter")
			if !ok {
				continue
			}
			if s == `\t` || strings.EqualFold(s, "tab") {
				s = "\t"
			}
			r, size := utf8.DecodeRuneInString(s)
			if size == 0 || size != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' || r == ' ' {
				p.errorf(v, "csv.delimiter must be exactly one character other than a quote, space or line break (\"\\t\" for tab)")
				continue
			}
			m.delimiter = r
		case "encoding":
			s, ok := p.scalar(v, "csv.encoding")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "utf-8", "utf8":
				m.encoding = EncodingUTF8
			case "windows-1252", "cp1252":
				m.encoding = EncodingWindows1252
			default:
				p.errorf(v, "csv.encoding %q is not supported (want %s or %s)", clip(s, 30), EncodingUTF8, EncodingWindows1252)
			}
		default:
			p.errorf(k, "csv: unknown key %q (want delimiter or encoding)", clip(k.Value, 40))
		}
	}
}

func (p *parser) parseFields(m *Mapping, n *yaml.Node) {
	for _, kv := range p.pairs(n, "fields") {
		k, v := kv[0], kv[1]
		if _, ok := normalize.FieldIndex(k.Value); !ok {
			hint := ""
			if syn := synonym(k.Value); syn != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", syn)
			} else if near := nearest(k.Value, normalize.Fields(), 3); len(near) > 0 {
				hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
			}
			p.errorf(k, "fields: unknown canonical field %q%s", clip(k.Value, 40), hint)
			continue
		}
		if k.Value == normalize.FieldRecordID {
			p.hasID = true
		}
		spec, ok := p.parseFieldSpec(k, v)
		if ok {
			m.fields = append(m.fields, spec)
		}
	}
	order := func(f fieldSpec) int { i, _ := normalize.FieldIndex(f.name); return i }
	slices.SortStableFunc(m.fields, func(a, b fieldSpec) int { return order(a) - order(b) })
}

func (p *parser) parseFieldSpec(k, v *yaml.Node) (fieldSpec, bool) {
	spec := fieldSpec{name: k.Value, separator: " ", line: k.Line}
	what := "field " + k.Value
	isDate := k.Value == normalize.FieldDOB
	nerr := len(p.errs)
	rv := resolve(v)
	switch {
	case rv != nil && rv.Kind == yaml.ScalarNode && !isNull(rv):
		spec.plain = true
		spec.columns = []string{strings.TrimSpace(rv.Value)}
	case rv != nil && rv.Kind == yaml.MappingNode:
		var column, columns, separator, format, formats *yaml.Node
		for _, kv := range p.pairs(rv, what) {
			switch kv[0].Value {
			case "column":
				column = kv[1]
				if s, ok := p.scalar(kv[1], what+": column"); ok {
					spec.columns = []string{strings.TrimSpace(s)}
				}
			case "columns":
				columns = kv[1]
				spec.columns = p.stringList(kv[1], what+": columns")
				if len(spec.columns) == 0 && len(p.errs) == nerr {
					p.errorf(kv[1], "%s: columns is empty", what)
				}
			case "separator":
				separator = kv[1]
				if s, ok := p.scalar(kv[1], what+": separator"); ok {
					spec.separator = s
				}
			case "format":
				format = kv[1]
				if s, ok := p.scalar(kv[1], what+": format"); ok {
					spec.formats = p.dateFormats(kv[1], what, []string{s})
				}
			case "formats":
				formats = kv[1]
				spec.formats = p.dateFormats(kv[1], what, p.stringList(kv[1], what+": formats"))
			default:
				p.errorf(kv[0], "%s: unknown key %q (want column, columns, separator, format or formats)", what, clip(kv[0].Value, 40))
			}
		}
		switch {
		case column != nil && columns != nil:
			p.errorf(columns, "%s: give column or columns, not both", what)
		case column == nil && columns == nil:
			p.errorf(rv, "%s: column or columns is required", what)
		}
		if separator != nil && columns == nil {
			p.errorf(separator, "%s: separator only applies with columns", what)
		}
		if format != nil && formats != nil {
			p.errorf(formats, "%s: give format or formats, not both", what)
		}
		if (format != nil || formats != nil) && !isDate {
			p.errorf(k, "%s: format only applies to the date field %s", what, normalize.FieldDOB)
		}
	default:
		p.errorf(v, "%s: want a column name or {column: ..., format: ...}", what)
		return spec, false
	}
	for _, c := range spec.columns {
		if c == "" {
			p.errorf(v, "%s: empty column name", what)
			break
		}
	}
	if isDate && spec.formats == nil && len(p.errs) == nerr {
		p.errorf(v, "%s: a date needs a format, e.g. {column: %s, format: DD/MM/YYYY}", what, clip(strings.Join(spec.columns, ""), 40))
	}
	return spec, len(p.errs) == nerr
}

// stringList reads a sequence of strings (or a single string).
func (p *parser) stringList(n *yaml.Node, what string) []string {
	rn := resolve(n)
	if rn != nil && rn.Kind == yaml.ScalarNode && !isNull(rn) {
		return []string{strings.TrimSpace(rn.Value)}
	}
	if rn == nil || rn.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: want a list of strings", what)
		return nil
	}
	out := make([]string, 0, len(rn.Content))
	for _, c := range rn.Content {
		if s, ok := p.scalar(c, what); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// dateFormats compiles formats, reporting bad ones against node n.
func (p *parser) dateFormats(n *yaml.Node, what string, srcs []string) dateFormats {
	if len(srcs) == 0 {
		p.errorf(n, "%s: no date format given", what)
		return nil
	}
	out := make(dateFormats, 0, len(srcs))
	for _, s := range srcs {
		f, err := compileDateFormat(s)
		if err != nil {
			p.errorf(n, "%s: %v", what, err)
			continue
		}
		out = append(out, f)
	}
	return out
}

func (p *parser) parseDates(m *Mapping, n *yaml.Node) {
	for _, kv := range p.pairs(n, "dates") {
		k, v := kv[0], kv[1]
		col := strings.TrimSpace(k.Value)
		what := "dates: column " + strconv.Quote(clip(col, 40))
		if col == "" {
			p.errorf(k, "dates: empty column name")
			continue
		}
		if p.dates[col] {
			p.errorf(k, "%s is listed twice", what)
			continue
		}
		if p.dates == nil {
			p.dates = make(map[string]bool)
		}
		p.dates[col] = true
		nerr := len(p.errs)
		fs := p.dateFormats(v, what, p.stringList(v, what))
		if len(p.errs) == nerr {
			m.dates = append(m.dates, dateColumn{column: col, formats: fs})
		}
	}
}

// synonym suggests the canonical field for a few common alternative names.
func synonym(s string) string {
	switch strings.ToLower(strings.NewReplacer(" ", "_", "-", "_").Replace(s)) {
	case "surname", "last_name", "lastname":
		return normalize.FieldFamilyName
	case "forename", "first_name", "firstname", "forenames":
		return normalize.FieldGivenName
	case "name":
		return normalize.FieldFullName
	case "date_of_birth", "birth_date", "birthdate", "dateofbirth":
		return normalize.FieldDOB
	case "gender":
		return normalize.FieldSex
	case "ni_number", "nino_number", "national_insurance_number":
		return normalize.FieldNINO
	case "nhs", "nhsno", "nhs_no":
		return normalize.FieldNHSNumber
	case "post_code", "postal_code", "zip":
		return normalize.FieldPostcode
	case "id", "ref", "reference", "record_ref":
		return normalize.FieldRecordID
	case "family_ref", "household", "household_id", "benefit_unit":
		return normalize.FieldHouseholdRef
	}
	return ""
}

// nearest returns up to max candidates within a small edit distance of s,
// or equal ignoring case and punctuation, closest first.
func nearest(s string, candidates []string, max int) []string {
	type cand struct {
		name string
		d    int
	}
	key := func(x string) string {
		var b strings.Builder
		for _, r := range strings.ToLower(x) {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	ks := key(s)
	limit := 2
	if len(ks) <= 3 {
		limit = 1
	}
	var cs []cand
	for _, c := range candidates {
		if c == s || c == "" {
			continue
		}
		d := editDistance(ks, key(c))
		if d <= limit {
			cs = append(cs, cand{c, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for i := 0; i < len(cs) && i < max; i++ {
		out = append(out, strconv.Quote(clip(cs[i].name, 40)))
	}
	return out
}

// editDistance is the Levenshtein distance between a and b in runes, capped
// for long inputs so header checks stay cheap.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
