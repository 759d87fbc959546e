package agency

import (
	"fmt"
	"strings"

	"tfmatch/agency/clk"
	"tfmatch/agency/derive"
	"tfmatch/agency/mapping"
	"tfmatch/agency/normalize"
	"tfmatch/keys"
	"tfmatch/matchkey"
)

// Token is one pseudonymised match key.
type Token struct {
	Kind  matchkey.Kind
	Value keys.Token
}

// Record is one pseudonymised record as it is sent to the matcher.
type Record struct {
	Ref        keys.Ref
	Tokens     []Token
	Indicators map[string]bool
	// Filter is the record's Bloom-filter encoding for the similarity
	// tier (package agency/clk); nil when the record has no name.
	Filter *keys.Filter
}

// Batch is a unit of submission.
type Batch struct {
	ID      string
	ISAHash [32]byte
	Epoch   uint32
	Records []Record
}

// Keys is the key material an agency node pseudonymises with.
type Keys struct {
	Secret  keys.ProgrammeSecret
	Context keys.Context
	Local   keys.LocalKey
}

// Pseudonymiser derives token keys once and hands out per-goroutine
// workers that reuse HMAC state.
type Pseudonymiser struct {
	tokenKeys map[matchkey.Kind]keys.TokenKey
	group     keys.TokenKey
	unit      keys.TokenKey
	local     keys.LocalKey
	clk       *clk.Encoder
}

// NewPseudonymiser derives the token key of every match-key kind.
func NewPseudonymiser(k Keys) (*Pseudonymiser, error) {
	var err error
	p := &Pseudonymiser{tokenKeys: make(map[matchkey.Kind]keys.TokenKey), local: k.Local}
	for _, in := range matchkey.All() {
		if in.Class == matchkey.Group {
			continue
		}
		var tk keys.TokenKey
		tk, err = k.Secret.TokenKey(in.Kind, k.Context)
		if err != nil {
			return nil, err
		}
		p.tokenKeys[in.Kind] = tk
	}
	if p.group, err = k.Local.GroupKey(matchkey.HouseholdGroup); err != nil {
		return nil, err
	}
	if p.unit, err = k.Local.GroupKey(matchkey.UnitGroup); err != nil {
		return nil, err
	}
	if p.clk, err = clk.NewEncoder(k.Secret, k.Context); err != nil {
		return nil, err
	}
	return p, nil
}

// worker pseudonymises rows on one goroutine.
type worker struct {
	// tz holds a tokenizer for every token kind, in the kinds' strength
	// order (matchkey.All); next is where tokenizer starts its search.
	tz    []kindTokenizer
	next  int
	group *keys.Tokenizer
	unit  *keys.Tokenizer
	ref   *keys.RefMaker
	clk   *clk.Worker
	keys  derive.Deriver

	// Records' tokens and filters are cut from slabs, a few allocations
	// per thousand records instead of two per record.
	tokens  []Token
	filters []keys.Filter
}

// Slab sizes, in tokens and filters.
const (
	tokenSlab  = 8192
	filterSlab = 512
)

// kindTokenizer is the tokenizer of one kind.
type kindTokenizer struct {
	kind matchkey.Kind
	tz   *keys.Tokenizer
}

func (p *Pseudonymiser) newWorker() *worker {
	w := &worker{group: p.group.NewTokenizer(), unit: p.unit.NewTokenizer(), ref: p.local.NewRefMaker(), clk: p.clk.NewWorker()}
	for _, in := range matchkey.All() {
		if tk, ok := p.tokenKeys[in.Kind]; ok {
			w.tz = append(w.tz, kindTokenizer{in.Kind, tk.NewTokenizer()})
		}
	}
	return w
}

// tokenizer returns the tokenizer of kind, nil if there is none. A
// record's keys come nearly in the order of w.tz (package derive adds them
// kind by kind, strongest first), so the search starts where the previous
// one ended and is a comparison or two, where a map would hash every
// kind's name.
func (w *worker) tokenizer(kind matchkey.Kind) *keys.Tokenizer {
	for range 2 {
		for i := w.next; i < len(w.tz); i++ {
			if w.tz[i].kind == kind {
				w.next = i
				return w.tz[i].tz
			}
		}
		w.next = 0
	}
	return nil
}

// tokenSpace returns an empty slice with room for n tokens, cut from the
// worker's slab; appending beyond n never writes into the slab.
func (w *worker) tokenSpace(n int) []Token {
	if cap(w.tokens)-len(w.tokens) < n {
		// Twice the last slab: a chunk's slab (see chunk) soon holds a
		// whole batch.
		w.tokens = make([]Token, 0, max(tokenSlab, 2*cap(w.tokens), n))
	}
	l := len(w.tokens)
	return w.tokens[l : l : l+n]
}

// keepTokens advances the slab past ts, which tokenSpace returned.
func (w *worker) keepTokens(ts []Token) { w.tokens = w.tokens[:len(w.tokens)+len(ts)] }

// newFilter returns a zero filter cut from the worker's slab.
func (w *worker) newFilter() *keys.Filter {
	if len(w.filters) == cap(w.filters) {
		w.filters = make([]keys.Filter, 0, max(filterSlab, 2*cap(w.filters)))
	}
	w.filters = w.filters[:len(w.filters)+1]
	f := &w.filters[len(w.filters)-1]
	*f = keys.Filter{} // a slab used again holds an earlier record's
	return f
}

// result is the outcome of one row.
type result struct {
	rec    Record
	person Person
	issues []normalize.Issue
	reject *Reject
}

// row normalises, derives and pseudonymises one mapped row.
func (w *worker) row(r *mapping.Row) result {
	p, issues, err := normalize.NormalizeValues(&r.Values)
	if err != nil {
		field, reason := "", err.Error()
		if fe, ok := err.(*normalize.FieldError); ok {
			field, reason = fe.Field, fe.Reason
		}
		return result{reject: &Reject{Line: r.Line, Field: field, Reason: reason}}
	}
	// The keys are valid until the next row: only their tokens are kept.
	pk, ak, bk := w.keys.Keys(p)
	var filter *keys.Filter
	if f, err := w.clk.Encode(p); err == nil {
		filter = w.newFilter()
		*filter = f
	}
	// A record without person keys (a name and no date of birth, say)
	// can still be linked by the similarity tier: its filter is compared
	// within the blocks its block keys put it in.
	if len(pk) == 0 && (filter == nil || len(bk) == 0) {
		return result{reject: &Reject{Line: r.Line, Reason: "no match key can be made: needs an identifier, or a name and one more detail (the other name, a date of birth or a postcode)"}}
	}
	rec := Record{
		Ref:        w.ref.Ref(p.RecordID),
		Indicators: r.Indicators,
		Filter:     filter,
	}
	rec.Tokens, err = w.matchTokens(w.tokenSpace(len(pk)+len(ak)+len(bk)+2), p, pk, ak, bk)
	if err != nil {
		return result{reject: &Reject{Line: r.Line, Reason: err.Error()}}
	}
	w.keepTokens(rec.Tokens)
	return result{rec: rec, person: vaultPerson(&r.Values), issues: issues}
}

// matchTokens appends to dst the token of every key in sets and of p's
// own groupings.
func (w *worker) matchTokens(dst []Token, p normalize.Person, sets ...[]derive.Key) ([]Token, error) {
	w.next = 0
	for _, set := range sets {
		for _, k := range set {
			tz := w.tokenizer(k.Kind)
			if tz == nil {
				return dst, fmt.Errorf("internal: no token key for kind %q", k.Kind)
			}
			dst = append(dst, Token{Kind: k.Kind, Value: tz.Token(k.Fields)})
		}
	}
	if p.HouseholdRef != "" {
		dst = append(dst, Token{Kind: matchkey.HouseholdGroup, Value: w.group.Token([]string{p.HouseholdRef})})
	}
	if p.UnitRef != "" {
		dst = append(dst, Token{Kind: matchkey.UnitGroup, Value: w.unit.Token([]string{p.UnitRef})})
	}
	return dst, nil
}

// vaultPerson keeps the agency's own view of the person, as mapped, for
// re-identification by the agency itself.
func vaultPerson(f *normalize.Values) Person {
	given, family := f.GivenName, f.FamilyName
	if given == "" && family == "" {
		given = f.FullName
	}
	var buf [5]string
	addr := buf[:0]
	for _, v := range [...]string{f.Flat, f.HouseNumber, f.Street, f.Address, f.Town} {
		if v != "" {
			addr = append(addr, v)
		}
	}
	return Person{
		RecordID:   f.RecordID,
		GivenName:  given,
		FamilyName: family,
		DOB:        f.DOB,
		Address:    strings.Join(addr, ", "),
		Postcode:   f.Postcode,
	}
}
