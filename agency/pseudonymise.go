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
	tz    map[matchkey.Kind]*keys.Tokenizer
	group *keys.Tokenizer
	unit  *keys.Tokenizer
	local keys.LocalKey
	clk   *clk.Worker
}

func (p *Pseudonymiser) newWorker() *worker {
	w := &worker{tz: make(map[matchkey.Kind]*keys.Tokenizer, len(p.tokenKeys)), group: p.group.NewTokenizer(), unit: p.unit.NewTokenizer(), local: p.local, clk: p.clk.NewWorker()}
	for kind, tk := range p.tokenKeys {
		w.tz[kind] = tk.NewTokenizer()
	}
	return w
}

// result is the outcome of one row.
type result struct {
	rec    Record
	person Person
	issues []normalize.Issue
	reject *Reject
}

// row normalises, derives and pseudonymises one mapped row.
func (w *worker) row(r mapping.Row) result {
	p, issues, err := normalize.Normalize(r.Fields)
	if err != nil {
		field, reason := "", err.Error()
		if fe, ok := err.(*normalize.FieldError); ok {
			field, reason = fe.Field, fe.Reason
		}
		return result{reject: &Reject{Line: r.Line, Field: field, Reason: reason}}
	}
	pk := derive.PersonKeys(p)
	bk := derive.BlockKeys(p)
	var filter *keys.Filter
	if f, err := w.clk.Encode(p); err == nil {
		filter = &f
	}
	// A record without person keys (a name and no date of birth, say)
	// can still be linked by the similarity tier: its filter is compared
	// within the blocks its block keys put it in.
	if len(pk) == 0 && (filter == nil || len(bk) == 0) {
		return result{reject: &Reject{Line: r.Line, Reason: "no match key can be made: needs an identifier, or a name and one more detail (the other name, a date of birth or a postcode)"}}
	}
	ak := derive.AddressKeys(p)
	rec := Record{
		Ref:        w.local.Ref(p.RecordID),
		Tokens:     make([]Token, 0, len(pk)+len(ak)+len(bk)+2),
		Indicators: r.Indicators,
		Filter:     filter,
	}
	for _, set := range [][]derive.Key{pk, ak, bk} {
		for _, k := range set {
			tz, ok := w.tz[k.Kind]
			if !ok {
				return result{reject: &Reject{Line: r.Line, Reason: fmt.Sprintf("internal: no token key for kind %q", k.Kind)}}
			}
			rec.Tokens = append(rec.Tokens, Token{Kind: k.Kind, Value: tz.Token(k.Fields)})
		}
	}
	if p.HouseholdRef != "" {
		rec.Tokens = append(rec.Tokens, Token{Kind: matchkey.HouseholdGroup, Value: w.group.Token([]string{p.HouseholdRef})})
	}
	if p.UnitRef != "" {
		rec.Tokens = append(rec.Tokens, Token{Kind: matchkey.UnitGroup, Value: w.unit.Token([]string{p.UnitRef})})
	}
	return result{rec: rec, person: vaultPerson(r.Fields), issues: issues}
}

// vaultPerson keeps the agency's own view of the person, as mapped, for
// re-identification by the agency itself.
func vaultPerson(f map[string]string) Person {
	given := f[normalize.FieldGivenName]
	family := f[normalize.FieldFamilyName]
	if given == "" && family == "" {
		given = f[normalize.FieldFullName]
	}
	var addr []string
	for _, k := range []string{normalize.FieldFlat, normalize.FieldHouseNumber, normalize.FieldStreet, normalize.FieldAddress, normalize.FieldTown} {
		if v := f[k]; v != "" {
			addr = append(addr, v)
		}
	}
	return Person{
		RecordID:   f[normalize.FieldRecordID],
		GivenName:  given,
		FamilyName: family,
		DOB:        f[normalize.FieldDOB],
		Address:    strings.Join(addr, ", "),
		Postcode:   f[normalize.FieldPostcode],
	}
}
