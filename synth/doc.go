// Package synth generates synthetic local-authority districts with known
// ground truth: households and the people in them, the facts the phase-1
// troubled-families criteria look at, and the four agency extracts (council,
// education, police, DWP) that an agency node would read, each written with
// the column names, date formats and recording errors a real system of that
// kind has.
//
// The generator is deterministic: the same Config (seed included) always
// produces byte-identical output. It is used by the demo, by tests of the
// agency pipeline and the matcher, and to measure linkage quality, so the
// truth files it writes (which record belongs to which person, which person
// to which household, which households meet the criteria) are the yardstick
// everything else is judged against.
//
// The package also owns the mapping files (mappings/*.yaml, embedded) that
// map each generated extract onto the canonical schema and derive the
// phase-1 indicators; see Mapping and Agencies.
//
// Memory is a few tens of bytes per person and rows are rendered on the
// fly while writing, so districts of millions of households fit in memory.
// See docs/generator.md for the model, the extracts and the error rates.
package synth
