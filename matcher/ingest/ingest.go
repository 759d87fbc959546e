// Package ingest accepts batches of pseudonymised records into the
// matcher: it checks them against the agreement in force, re-keys every
// token with the matcher's blinding key and stores the result. The gRPC
// server and the one-process evaluation pipeline both go through it, so
// what is stored is the same whichever way records arrive.
package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"

	"tfmatch/keys"
	"tfmatch/matcher/store"
	"tfmatch/matchkey"
)

// Limits on what one batch may hold.
const (
	DefaultMaxRecords = 20000
	maxTokens         = 256
	maxIndicators     = 64
	maxNameLen        = 64
	refLen            = 16
	tokenLen          = 32
)

// ErrInvalid marks a batch that is malformed: the sender must fix it.
var ErrInvalid = errors.New("invalid batch")

// ErrWrongAgreement marks a batch made under another agreement or key
// epoch than the one in force.
var ErrWrongAgreement = errors.New("batch made under another agreement or key epoch")

// Token is one token as received.
type Token struct {
	Kind  matchkey.Kind
	Value []byte
}

// Record is one record as received.
type Record struct {
	Ref        []byte
	Tokens     []Token
	Indicators map[string]bool
	// Filter is the record's Bloom-filter encoding: keys.FilterBytes
	// bytes, or empty.
	Filter []byte
}

// Batch is one batch as received from an agency.
type Batch struct {
	Source  string
	ID      string
	ISAHash []byte
	Epoch   uint32
	Records []Record
}

// Ingester validates, blinds and stores batches.
type Ingester struct {
	// Store must be open for Epoch: it files every record under the
	// epoch it was opened for.
	Store *store.Store
	// Blinding is the blinding key of Epoch.
	Blinding keys.BlindingKey
	// ISAHash and Epoch are the agreement and key epoch in force.
	ISAHash [32]byte
	Epoch   uint32
	// MaxRecords bounds a batch (default DefaultMaxRecords).
	MaxRecords int

	// scratch holds Accept's working memory (*scratch) from one batch to
	// the next.
	scratch sync.Pool
}

// scratch is what Accept builds a batch's blinded records in: a batch of
// 2,000 records holds about 1.5 MB of tokens and filters, and fresh
// memory for every batch costs more than blinding into it.
type scratch struct {
	recs    []store.Record
	toks    []store.Token
	filters []byte
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// validate checks b without storing anything. Messages never quote record
// data: they point at the position of the problem.
func (in *Ingester) validate(b Batch) error {
	if b.ID == "" || len(b.ID) > 128 {
		return invalid("batch_id must be 1 to 128 characters")
	}
	if subtle.ConstantTimeCompare(b.ISAHash, in.ISAHash[:]) != 1 || b.Epoch != in.Epoch {
		return fmt.Errorf("%w: the matcher is running ISA %x epoch %d", ErrWrongAgreement, in.ISAHash[:6], in.Epoch)
	}
	max := in.MaxRecords
	if max <= 0 {
		max = DefaultMaxRecords
	}
	if len(b.Records) == 0 || len(b.Records) > max {
		return invalid("batch %s has %d records; want 1 to %d", b.ID, len(b.Records), max)
	}
	// A ref repeated within the batch is refused by the store, which
	// checks every batch for it before writing anything.
	for i, r := range b.Records {
		if len(r.Ref) != refLen {
			return invalid("record %d: ref is %d bytes, want %d", i, len(r.Ref), refLen)
		}
		if len(r.Tokens) == 0 || len(r.Tokens) > maxTokens {
			return invalid("record %d: %d tokens; want 1 to %d", i, len(r.Tokens), maxTokens)
		}
		if len(r.Filter) != 0 && len(r.Filter) != keys.FilterBytes {
			return invalid("record %d: filter is %d bytes, want %d or none", i, len(r.Filter), keys.FilterBytes)
		}
		person, block := false, false
		for j, t := range r.Tokens {
			info, ok := matchkey.Lookup(t.Kind)
			if !ok {
				return invalid("record %d token %d: unknown kind %q", i, j, truncate(string(t.Kind)))
			}
			if len(t.Value) != tokenLen {
				return invalid("record %d token %d: value is %d bytes, want %d", i, j, len(t.Value), tokenLen)
			}
			switch info.Class {
			case matchkey.Identifier, matchkey.Person:
				person = true
			case matchkey.Block:
				block = true
			}
		}
		// A record the similarity tier alone can link needs a filter
		// and a block to compare it in.
		if !person && !(block && len(r.Filter) != 0) {
			return invalid("record %d: no identifier or person token, and no filter with a block token", i)
		}
		if len(r.Indicators) > maxIndicators {
			return invalid("record %d: %d indicators; at most %d", i, len(r.Indicators), maxIndicators)
		}
		for name := range r.Indicators {
			if name == "" || len(name) > maxNameLen {
				return invalid("record %d: indicator name must be 1 to %d characters", i, maxNameLen)
			}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > maxNameLen {
		return s[:maxNameLen] + "..."
	}
	return s
}

// Accept validates b, blinds its tokens and stores it atomically. A batch
// that fails validation leaves nothing stored.
func (in *Ingester) Accept(ctx context.Context, b Batch) (store.BatchResult, error) {
	if err := in.validate(b); err != nil {
		return store.BatchResult{}, err
	}
	if e := in.Store.Epoch(); e != in.Epoch {
		// A configuration error, not the sender's: records of one epoch
		// must never be filed under another.
		return store.BatchResult{}, fmt.Errorf("ingest: the ingester accepts key epoch %d but its store is open for epoch %d", in.Epoch, e)
	}
	bl := in.Blinding.NewBlinder()
	// The permutation hides which filter bit an agency set, so filters
	// in the store are useless to whoever holds P without M.
	perm, err := in.Blinding.FilterPermutation()
	if err != nil {
		return store.BatchResult{}, fmt.Errorf("ingest: %w", err)
	}
	sc, _ := in.scratch.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	defer in.scratch.Put(sc)
	n := 0
	for _, r := range b.Records {
		n += len(r.Tokens)
	}
	// Every record's tokens in one slice, every filter in one buffer,
	// none of which grows below.
	recs := slices.Grow(sc.recs[:0], len(b.Records))[:len(b.Records)]
	toks := slices.Grow(sc.toks[:0], n)[:n]
	filters := slices.Grow(sc.filters[:0], len(b.Records)*keys.FilterBytes)
	sc.recs, sc.toks, sc.filters = recs, toks, filters
	// The records point into the batch (its indicators): let them go
	// with it.
	defer clear(recs)
	for i, r := range b.Records {
		sr := store.Record{Source: b.Source, Ref: [refLen]byte(r.Ref), Tokens: toks[:len(r.Tokens):len(r.Tokens)], Indicators: r.Indicators}
		toks = toks[len(r.Tokens):]
		for j, t := range r.Tokens {
			// The store keeps the blinded token's first 16 bytes
			// (store.TokenLen).
			blinded := bl.Blind(keys.Token(t.Value))
			sr.Tokens[j] = store.Token{Kind: t.Kind, Value: [store.TokenLen]byte(blinded[:store.TokenLen])}
		}
		if len(r.Filter) == keys.FilterBytes {
			f := perm.Apply(keys.Filter(r.Filter))
			start := len(filters)
			filters = append(filters, f[:]...)
			sr.Filter = filters[start:len(filters):len(filters)]
		}
		recs[i] = sr
	}
	res, err := in.Store.PutBatch(ctx, b.Source, b.ID, recs)
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrBatchTooLarge) {
		// The store's own checks (names, sizes) are the sender's to fix.
		return store.BatchResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err != nil {
		return store.BatchResult{}, fmt.Errorf("storing batch %s: %w", b.ID, err)
	}
	return res, nil
}
