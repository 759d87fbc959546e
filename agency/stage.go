package agency

import (
	"tfmatch/agency/normalize"
)

// MatchKeyStage is the match-key part of pseudonymisation on its own:
// normalise a mapped row, derive every match key and block key, and make
// one token (one HMAC) per key and per agency grouping, exactly as Run
// does. It leaves out what else an agency node does with a record (the
// Bloom filter, the reference, the vault, the wire), so that the cost of
// making tokens can be measured apart from the node around it. Not safe
// for concurrent use.
type MatchKeyStage struct {
	w   *worker
	buf []Token
}

// NewMatchKeyStage returns a stage with the keys of p.
func (p *Pseudonymiser) NewMatchKeyStage() *MatchKeyStage {
	return &MatchKeyStage{w: p.newWorker()}
}

// Tokens pseudonymises one mapped row's fields and returns the number of
// tokens made; a row the normaliser rejects makes none.
func (s *MatchKeyStage) Tokens(fields map[string]string) int {
	v := normalize.ValuesOf(fields)
	return s.TokensValues(&v)
}

// TokensValues is Tokens for a row's fields held as Run holds them
// (mapping.Reader.NextValues), without reading them out of a map first.
func (s *MatchKeyStage) TokensValues(v *normalize.Values) int {
	p, _, err := normalize.NormalizeValues(v)
	if err != nil {
		return 0
	}
	pk, ak, bk := s.w.keys.Keys(p)
	s.buf, err = s.w.matchTokens(s.buf[:0], p, pk, ak, bk)
	if err != nil {
		return 0
	}
	return len(s.buf)
}
