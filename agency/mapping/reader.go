package mapping

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"golang.org/x/text/encoding/charmap"

	"tfmatch/agency/normalize"
)

// ReaderOptions configures a Reader. The zero value means defaults.
type ReaderOptions struct {
	// AsOf is the run's reference date: ages, months_since, days_since and
	// two-digit years are computed against it. Only its calendar date (in
	// its own location) is used. Zero means today's UTC date.
	AsOf time.Time
}

// Row is one accepted CSV record after the mapping is applied.
type Row struct {
	// Line is the physical line on which the record starts (the header is
	// line 1).
	Line int
	// Fields maps canonical field names to values: trimmed, runs of
	// whitespace collapsed to one space, dates as YYYY-MM-DD. A field whose
	// value is empty is absent. NextValues leaves it nil.
	Fields map[string]string
	// Values holds the same fields by index ("" for an absent one), as
	// normalize.NormalizeValues reads them.
	Values normalize.Values
	// Indicators holds every indicator's result; nil when the mapping has
	// no indicators. Rows with the same results may share one map: it is
	// read-only.
	Indicators map[string]bool
	// Warnings are problems that did not reject the row: a value left out
	// (a date of birth that is not a date, say).
	Warnings []Warning
}

// Warning is a value left out of an accepted row.
type Warning struct {
	Field  string // canonical field
	Column string // CSV column(s)
	Reason string
}

// RowError reports a rejected row. The caller records it and reads on.
type RowError struct {
	File      string
	Line      int    // physical line where the record starts
	Field     string // canonical field, if the problem is with one
	Column    string // CSV column(s), if the problem is with one
	Indicator string // indicator, if its evaluation failed
	Reason    string
}

// Error formats the error as "file:line: field F (column C): reason".
func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	switch {
	case e.Indicator != "":
		fmt.Fprintf(&b, "indicator %s: ", e.Indicator)
	case e.Field != "" && e.Column != "":
		fmt.Fprintf(&b, "field %s (column %s): ", e.Field, e.Column)
	case e.Field != "":
		fmt.Fprintf(&b, "field %s: ", e.Field)
	case e.Column != "":
		fmt.Fprintf(&b, "column %s: ", e.Column)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Reader reads one CSV file through a Mapping. It is not safe for
// concurrent use.
type Reader struct {
	m       *Mapping
	file    string
	cr      *csv.Reader
	asof    time.Time
	refYear int
	checkU8 bool
	header  []string
	fields  []boundField
	dates   []boundDate
	rowCols []boundColumn // filled into row for indicators
	act     *activation
	sets    map[uint64]map[string]bool // indicator results shared by rows, see indicators
	err     error                      // sticky: io.EOF or a fatal error
}

type boundField struct {
	spec  *fieldSpec
	index int // of the field in normalize.Values
	idx   []int
	label string // column name(s) for messages
}

type boundDate struct {
	column string
	idx    int
	key    ref.Val
	fmts   dateFormats
}

type boundColumn struct {
	key string
	idx int
}

// NewReader reads and checks the header of a CSV extract. file names the
// extract in messages. Every column the mapping names must be in the header:
// matched exactly after trimming spaces (and a byte-order mark), or failing
// that ignoring case when only one header column matches.
func (m *Mapping) NewReader(r io.Reader, file string, opts ReaderOptions) (*Reader, error) {
	asof := opts.AsOf
	if asof.IsZero() {
		asof = time.Now().UTC()
	}
	y, mo, d := asof.Date()
	asof = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)

	var src io.Reader
	switch m.encoding {
	case EncodingWindows1252:
		src = bufio.NewReader(charmap.Windows1252.NewDecoder().Reader(r))
	default:
		br := bufio.NewReader(r)
		if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
			_, _ = br.Discard(3)
		}
		src = br
	}
	cr := csv.NewReader(src)
	cr.Comma = m.delimiter
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1

	rd := &Reader{
		m:       m,
		file:    file,
		cr:      cr,
		asof:    asof,
		refYear: asof.Year(),
		checkU8: m.encoding != EncodingWindows1252,
	}
	rec, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s: no header: the file is empty", file)
	case err != nil:
		return nil, fmt.Errorf("%s: header: %w", file, err)
	}
	if err := rd.bindHeader(rec); err != nil {
		return nil, err
	}
	return rd, nil
}

// AsOf returns the reference date the Reader computes against.
func (rd *Reader) AsOf() time.Time { return rd.asof }

func (rd *Reader) bindHeader(rec []string) error {
	var errs []error
	rd.header = make([]string, len(rec))
	index := make(map[string]int, len(rec))
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		if rd.checkU8 && !utf8.ValidString(h) {
			return fmt.Errorf("%s: header column %d is not valid UTF-8 (if the file is windows-1252, set csv.encoding)", rd.file, i+1)
		}
		rd.header[i] = h
		if h == "" {
			continue // unnamed columns (trailing delimiters) cannot be mapped
		}
		if j, dup := index[h]; dup {
			errs = append(errs, fmt.Errorf("%s: header: column %q appears twice (columns %d and %d)", rd.file, clip(h, 40), j+1, i+1))
			continue
		}
		index[h] = i
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	missing := make(map[string]bool)
	find := func(col, user string) int {
		i, problem := rd.lookup(index, col)
		if problem != "" && !missing[col+"\x00"+user] {
			missing[col+"\x00"+user] = true
			errs = append(errs, fmt.Errorf("%s: column %q (%s) %s", rd.file, clip(col, 40), user, problem))
		}
		return i
	}
	for i := range rd.m.fields {
		spec := &rd.m.fields[i]
		index, _ := normalize.FieldIndex(spec.name) // Parse admits canonical names only
		bf := boundField{spec: spec, index: index, label: strings.Join(spec.columns, "+")}
		for _, c := range spec.columns {
			bf.idx = append(bf.idx, find(c, "field "+spec.name))
		}
		rd.fields = append(rd.fields, bf)
	}
	for _, dc := range rd.m.dates {
		rd.dates = append(rd.dates, boundDate{
			column: dc.column,
			idx:    find(dc.column, "dates"),
			key:    types.String(dc.column),
			fmts:   dc.formats,
		})
	}
	if len(rd.m.indicators) > 0 {
		// Every named header column is in row, for presence tests; a
		// column's value is filled in for each record unless no
		// expression can read it.
		byName := true
		for _, ind := range rd.m.indicators {
			byName = byName && ind.rowByName
		}
		read := make(map[string]bool)
		for _, ind := range rd.m.indicators {
			for _, c := range ind.rowCols {
				read[c] = true
			}
		}
		rd.act = newActivation(rd.asof)
		for i, h := range rd.header {
			if h == "" {
				continue
			}
			rd.act.rowVals[h] = ""
			if !byName || read[h] {
				rd.rowCols = append(rd.rowCols, boundColumn{key: h, idx: i})
			}
		}
		aliased := make(map[string]bool)
		for _, ind := range rd.m.indicators {
			for _, c := range ind.rowCols {
				i := find(c, "indicator "+ind.name)
				if i >= 0 && rd.header[i] != c && !aliased[c] {
					aliased[c] = true
					rd.rowCols = append(rd.rowCols, boundColumn{key: c, idx: i})
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// lookup finds col in the header: exactly, else ignoring case if that is
// unambiguous. On failure it returns -1 and a description of the problem.
func (rd *Reader) lookup(index map[string]int, col string) (int, string) {
	if i, ok := index[col]; ok {
		return i, ""
	}
	found := -1
	var same []string
	for i, h := range rd.header {
		if h != "" && strings.EqualFold(h, col) {
			if found < 0 {
				found = i
			}
			same = append(same, fmt.Sprintf("%q", clip(h, 40)))
		}
	}
	switch {
	case len(same) == 1:
		return found, ""
	case len(same) > 1:
		return -1, "is not in the header, and matches " + strings.Join(same, ", ") + " ignoring case"
	}
	msg := "is not in the header"
	if near := nearest(col, rd.header, 3); len(near) > 0 {
		msg += "; near matches: " + strings.Join(near, ", ")
	}
	return -1, msg
}

// Next returns the next row. At the end it returns io.EOF. A rejected row
// comes back as a *RowError: record it and call Next again. Any other
// error is fatal and is returned again by later calls.
func (rd *Reader) Next() (Row, error) {
	row, err := rd.NextValues()
	if err == nil {
		row.Fields = row.Values.Map()
	}
	return row, err
}

// NextValues is Next without Row.Fields: the row's fields are in
// Row.Values alone, which spares building a map for every row.
func (rd *Reader) NextValues() (Row, error) {
	if rd.err != nil {
		return Row{}, rd.err
	}
	rec, err := rd.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			reason := fmt.Sprintf("malformed CSV: %v (line %d, column %d)", pe.Err, pe.Line, pe.Column)
			if pe.Line > pe.StartLine {
				reason += "; a quoted field runs over several lines: check for an unbalanced quote"
			}
			return Row{}, &RowError{File: rd.file, Line: pe.StartLine, Reason: reason}
		case errors.Is(err, io.EOF):
			rd.err = io.EOF
		default:
			rd.err = fmt.Errorf("%s: read: %w", rd.file, err)
		}
		return Row{}, rd.err
	}
	line, _ := rd.cr.FieldPos(0)
	rowErr := func(f *boundField, reason string) (Row, error) {
		e := &RowError{File: rd.file, Line: line, Reason: reason}
		if f != nil {
			e.Field, e.Column = f.spec.name, f.label
		}
		return Row{}, e
	}
	if len(rec) != len(rd.header) {
		return rowErr(nil, fmt.Sprintf("has %d columns, the header has %d", len(rec), len(rd.header)))
	}
	if rd.checkU8 {
		for i, v := range rec {
			if !isASCII(v) && !utf8.ValidString(v) {
				return Row{}, &RowError{File: rd.file, Line: line, Column: columnName(rd.header, i),
					Reason: "is not valid UTF-8 (if the file is windows-1252, set csv.encoding)"}
			}
		}
	}

	var fields normalize.Values
	var dob time.Time
	haveDOB := false
	var warnings []Warning
	for i := range rd.fields {
		f := &rd.fields[i]
		v := joinColumns(rec, f.idx, f.spec.separator)
		if f.spec.formats != nil && v != "" {
			t, err := f.spec.formats.parse(v, rd.refYear)
			if err != nil && f.spec.name == normalize.FieldDOB {
				// A date of birth with day and month the other way round
				// is read so, with a warning. One that is no date at all
				// is left out with a warning: the record can still be
				// linked on its names, address and identifiers.
				if t, err = f.spec.formats.parseSwapped(v, rd.refYear); err == nil {
					warnings = append(warnings, Warning{Field: f.spec.name, Column: f.label,
						Reason: fmt.Sprintf("%q is not a date in format %s; read with day and month swapped as %s", clip(v, 40), f.spec.formats.describe(), isoDate(t))})
				} else {
					warnings = append(warnings, Warning{Field: f.spec.name, Column: f.label,
						Reason: fmt.Sprintf("%q is not a date in format %s; left out", clip(v, 40), f.spec.formats.describe())})
					continue
				}
			}
			if err != nil {
				return rowErr(f, fmt.Sprintf("%q is not a date in format %s", clip(v, 40), f.spec.formats.describe()))
			}
			v = isoDateOf(t, v)
			if f.spec.name == normalize.FieldDOB {
				dob, haveDOB = t, true
			}
		}
		if v == "" {
			if f.spec.name == normalize.FieldRecordID {
				return rowErr(f, "is empty")
			}
			continue
		}
		fields.Set(f.index, v)
	}

	a := rd.act
	if a != nil {
		clear(a.dateVal)
	}
	for _, d := range rd.dates {
		v := strings.TrimSpace(rec[d.idx])
		if v == "" {
			continue
		}
		t, err := d.fmts.parse(v, rd.refYear)
		if err != nil {
			return Row{}, &RowError{File: rd.file, Line: line, Column: d.column,
				Reason: fmt.Sprintf("%q is not a date in format %s", clip(v, 40), d.fmts.describe())}
		}
		if a != nil {
			a.dateVal[d.key] = types.Timestamp{Time: t}
		}
	}
	if a == nil {
		return Row{Line: line, Values: fields, Warnings: warnings}, nil
	}

	for _, c := range rd.rowCols {
		a.rowVals[c.key] = strings.TrimSpace(rec[c.idx])
	}
	a.age = types.Int(-1)
	if haveDOB {
		a.age = types.Int(ageAt(dob, rd.asof))
	}
	// The results as the bits of set (bit i: indicator i is true), or, for
	// a mapping of more than 64 indicators, in a map of the row's own.
	var set uint64
	var inds map[string]bool
	if len(rd.m.indicators) > 64 {
		inds = make(map[string]bool, len(rd.m.indicators))
	}
	for i, ind := range rd.m.indicators {
		out, _, err := ind.prg.Eval(a)
		if err != nil {
			return Row{}, &RowError{File: rd.file, Line: line, Indicator: ind.name, Reason: err.Error()}
		}
		b, ok := out.(types.Bool)
		if !ok {
			return Row{}, &RowError{File: rd.file, Line: line, Indicator: ind.name,
				Reason: fmt.Sprintf("yielded %s, not bool", out.Type().TypeName())}
		}
		switch {
		case inds != nil:
			inds[ind.name] = bool(b)
		case bool(b):
			set |= 1 << i
		}
	}
	if inds == nil {
		inds = rd.indicators(set)
	}
	return Row{Line: line, Values: fields, Indicators: inds, Warnings: warnings}, nil
}

// maxIndicatorSets bounds the distinct indicator maps a Reader keeps for
// its rows to share.
const maxIndicatorSets = 256

// indicators returns the Indicators of a row whose indicators are true as
// the bits of set say (bit i for the mapping's indicator i). Rows with the
// same results share one map, made the first time: a mapping has a few
// indicators, so a whole extract has a few distinct results, and a map
// per row would cost an allocation each. The mapping has at most 64
// indicators.
func (rd *Reader) indicators(set uint64) map[string]bool {
	inds := rd.m.indicators
	if m, ok := rd.sets[set]; ok {
		return m
	}
	m := make(map[string]bool, len(inds))
	for i, ind := range inds {
		m[ind.name] = set&(1<<i) != 0
	}
	if len(rd.sets) < maxIndicatorSets {
		if rd.sets == nil {
			rd.sets = make(map[uint64]map[string]bool)
		}
		rd.sets[set] = m
	}
	return m
}

func columnName(header []string, i int) string {
	if i < len(header) && header[i] != "" {
		return header[i]
	}
	return fmt.Sprintf("#%d", i+1)
}

// isASCII reports whether s is all ASCII, so valid UTF-8: for the short
// values of a row, a loop costs less than utf8.ValidString's call.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// joinColumns cleans each column's value and joins the non-empty ones.
func joinColumns(rec []string, idx []int, sep string) string {
	if len(idx) == 1 {
		return clean(rec[idx[0]])
	}
	n := len(sep) * (len(idx) - 1)
	for _, i := range idx {
		n += len(rec[i])
	}
	var b strings.Builder
	b.Grow(n) // at least the joined length: cleaning only shortens
	for _, i := range idx {
		v := clean(rec[i])
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(v)
	}
	return b.String()
}

// clean trims s and collapses runs of whitespace to one space. It does not
// allocate when s is already clean.
func clean(s string) string {
	prevSpace := true // leading space is dirty
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return strings.Join(strings.Fields(s), " ")
		case c == ' ':
			if prevSpace {
				return strings.Join(strings.Fields(s), " ")
			}
			prevSpace = true
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return strings.Join(strings.Fields(s), " ")
		default:
			prevSpace = false
		}
	}
	if prevSpace && len(s) > 0 {
		return strings.TrimRight(s, " ")
	}
	return s
}
