package mapping

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"gopkg.in/yaml.v3"
)

// Names in the CEL environment of an indicator expression.
const (
	varRow         = "row"
	varDate        = "date"
	varAsOf        = "asof"
	varAge         = "age"
	fnMonthsSince  = "months_since"
	fnDaysSince    = "days_since"
	fnNum          = "num"
	maxExprLength  = 10000
	maxIndicatorID = 64
)

// indicator is one compiled indicator expression.
type indicator struct {
	name     string
	expr     string
	line     int
	prg      cel.Program
	rowCols  []string // columns read as row.COL or row["COL"]
	dateCols []string // columns read as date.COL, date["COL"] or 'COL' in date
	// rowByName says the expression reads row only by literal column
	// names (rowNamedOnly): no value of a column outside rowCols matters.
	rowByName bool
}

// validIndicatorName reports whether s is a letter followed by letters,
// digits or underscores (ASCII), at most maxIndicatorID long.
func validIndicatorName(s string) bool {
	if s == "" || len(s) > maxIndicatorID {
		return false
	}
	for i, c := range []byte(s) {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c != '_' && (c < '0' || c > '9')) {
			return false
		}
	}
	return true
}

// newEnv builds the CEL environment indicator expressions are checked and
// run in. months_since and days_since are bound late, per Reader, because
// they depend on the run's as-of date.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(varRow, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varDate, cel.MapType(cel.StringType, cel.TimestampType)),
		cel.Variable(varAsOf, cel.TimestampType),
		cel.Variable(varAge, cel.IntType),
		ext.Strings(ext.StringsVersion(3)),
		cel.Function(fnMonthsSince,
			cel.Overload("months_since_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.LateFunctionBinding())),
		cel.Function(fnDaysSince,
			cel.Overload("days_since_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.LateFunctionBinding())),
		cel.Function(fnNum,
			cel.Overload("num_string", []*cel.Type{cel.StringType}, cel.DoubleType,
				cel.UnaryBinding(num))),
	)
}

// parseIndicators compiles every indicator, checking it yields bool and
// that the date columns it reads are listed under dates:.
func (p *parser) parseIndicators(m *Mapping, pairs [][2]*yaml.Node) {
	env, err := newEnv()
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: indicator environment: %w", p.name, err))
		return
	}
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		name := k.Value
		if !validIndicatorName(name) {
			p.errorf(k, "indicator %q: a name is a letter followed by letters, digits or _ (at most %d)", clip(name, 40), maxIndicatorID)
			continue
		}
		what := "indicator " + name
		expr, ok := p.scalar(v, what)
		if !ok {
			continue
		}
		if strings.TrimSpace(expr) == "" {
			p.errorf(v, "%s: empty expression", what)
			continue
		}
		if len(expr) > maxExprLength {
			p.errorf(v, "%s: expression longer than %d bytes", what, maxExprLength)
			continue
		}
		ast, iss := env.CompileSource(common.NewStringSource(expr, name))
		if iss.Err() != nil {
			p.errorf(v, "%s does not compile:\n%s", what, iss.Err())
			continue
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			p.errorf(v, "%s must yield bool, not %s", what, ast.OutputType())
			continue
		}
		ind := &indicator{name: name, expr: expr, line: k.Line}
		ind.rowCols, ind.dateCols = references(ast.NativeRep())
		ind.rowByName = rowNamedOnly(ast.NativeRep())
		bad := false
		for _, c := range ind.dateCols {
			if !p.dates[c] {
				p.errorf(v, "%s reads date column %q, which is not listed under dates:", what, clip(c, 40))
				bad = true
			}
		}
		if bad {
			continue
		}
		ind.prg, err = env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			p.errorf(v, "%s: %v", what, err)
			continue
		}
		m.indicators = append(m.indicators, ind)
	}
	slices.SortFunc(m.indicators, func(a, b *indicator) int { return strings.Compare(a.name, b.name) })
}

// references lists the row and date columns an expression names as
// literals: row.COL, row["COL"], date.COL, date["COL"] and 'COL' in date.
// Presence tests such as has(row.COL) and 'COL' in row are not included.
func references(a *celast.AST) (rowCols, dateCols []string) {
	add := func(list *[]string, s string) {
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	target := func(e celast.Expr) *[]string {
		if e.Kind() != celast.IdentKind {
			return nil
		}
		switch e.AsIdent() {
		case varRow:
			return &rowCols
		case varDate:
			return &dateCols
		}
		return nil
	}
	literal := func(e celast.Expr) (string, bool) {
		if e.Kind() != celast.LiteralKind {
			return "", false
		}
		s, ok := e.AsLiteral().(types.String)
		return string(s), ok
	}
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if list := target(sel.Operand()); list != nil && !sel.IsTestOnly() {
				add(list, sel.FieldName())
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if len(args) != 2 {
				return
			}
			switch call.FunctionName() {
			case operators.Index:
				if list := target(args[0]); list != nil {
					if s, ok := literal(args[1]); ok {
						add(list, s)
					}
				}
			case operators.In:
				if list := target(args[1]); list == &dateCols {
					if s, ok := literal(args[0]); ok {
						add(list, s)
					}
				}
			}
		}
	}))
	return rowCols, dateCols
}

// rowNamedOnly reports whether every use of row in an expression names
// its column literally: row.COL, has(row.COL), row["COL"] or 'COL' in row.
// Such an expression reads the values of the columns references lists
// and no other, and whether other columns are present; any other use of
// row (size(row), row[x], a macro over it, row compared or converted)
// may read any value. A variable of a comprehension called row counts as
// another use, which errs on the safe side.
func rowNamedOnly(a *celast.AST) bool {
	isRow := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == varRow }
	isLiteral := func(e celast.Expr) bool {
		if e.Kind() != celast.LiteralKind {
			return false
		}
		_, ok := e.AsLiteral().(types.String)
		return ok
	}
	uses, named := 0, 0
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			if isRow(e) {
				uses++
			}
		case celast.SelectKind:
			if isRow(e.AsSelect().Operand()) {
				named++
			}
		case celast.CallKind:
			call := e.AsCall()
			args := call.Args()
			if len(args) != 2 || call.IsMemberFunction() {
				return
			}
			switch call.FunctionName() {
			case operators.Index:
				if isRow(args[0]) && isLiteral(args[1]) {
					named++
				}
			case operators.In:
				if isRow(args[1]) && isLiteral(args[0]) {
					named++
				}
			}
		}
	}))
	return uses == named
}

// num converts a string to a double: empty is 0, anything else must be a
// finite decimal number (surrounding spaces allowed).
func num(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	t := strings.TrimSpace(string(s))
	if t == "" {
		return types.Double(0)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return types.NewErr("num: %q is not a number", clip(t, 20))
	}
	return types.Double(f)
}

// monthsBetween returns the whole calendar months from a to b (dates,
// ignoring the time of day, in UTC): the count of month boundaries crossed,
// less one if b's day of month is before a's. It is negative when a is
// after b.
func monthsBetween(a, b time.Time) int64 {
	if a.After(b) {
		return -monthsBetween(b, a)
	}
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	months := int64(by-ay)*12 + int64(bm-am)
	if bd < ad {
		months--
	}
	return months
}

// daysBetween returns the whole days from a's date to b's date (UTC).
func daysBetween(a, b time.Time) int64 {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return int64(db.Sub(da) / (24 * time.Hour))
}

// ageAt returns whole years from dob to asof, or -1 when dob is after asof.
func ageAt(dob, asof time.Time) int64 {
	if dob.After(asof) {
		return -1
	}
	years := int64(asof.Year() - dob.Year())
	if asof.Month() < dob.Month() || asof.Month() == dob.Month() && asof.Day() < dob.Day() {
		years--
	}
	return years
}

// activation supplies the variables and the as-of-dependent functions to
// one Reader's evaluations. Its maps are refilled for every row.
type activation struct {
	row     traits.Mapper
	date    traits.Mapper
	asof    ref.Val
	age     ref.Val
	asofT   time.Time
	months  functions.LateBoundOp
	days    functions.LateBoundOp
	rowVals map[string]string
	dateVal map[ref.Val]ref.Val
}

func newActivation(asof time.Time) *activation {
	a := &activation{
		asof:    types.Timestamp{Time: asof},
		age:     types.Int(-1),
		asofT:   asof,
		rowVals: make(map[string]string),
		dateVal: make(map[ref.Val]ref.Val),
	}
	a.row = types.NewStringStringMap(types.DefaultTypeAdapter, a.rowVals)
	a.date = types.NewRefValMap(types.DefaultTypeAdapter, a.dateVal)
	a.months = func(_ string, args ...ref.Val) ref.Val {
		t, ok := timestampArg(args)
		if !ok {
			return types.NewErr("%s: want one timestamp", fnMonthsSince)
		}
		return types.Int(monthsBetween(t, a.asofT))
	}
	a.days = func(_ string, args ...ref.Val) ref.Val {
		t, ok := timestampArg(args)
		if !ok {
			return types.NewErr("%s: want one timestamp", fnDaysSince)
		}
		return types.Int(daysBetween(t, a.asofT))
	}
	return a
}

func timestampArg(args []ref.Val) (time.Time, bool) {
	if len(args) != 1 {
		return time.Time{}, false
	}
	ts, ok := args[0].(types.Timestamp)
	return ts.Time, ok
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varRow:
		return a.row, true
	case varDate:
		return a.date, true
	case varAsOf:
		return a.asof, true
	case varAge:
		return a.age, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// ResolveFunction implements interpreter.FunctionActivation.
func (a *activation) ResolveFunction(name string) (functions.LateBoundOp, bool) {
	switch name {
	case fnMonthsSince:
		return a.months, true
	case fnDaysSince:
		return a.days, true
	}
	return nil, false
}
