package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Kind says what an entry records. Kind values are part of the frozen
// encoding: a value, once given a meaning, keeps it; new kinds take new
// values and do not need a new encoding version.
type Kind uint8

// Entry kinds.
const (
	// KindSubmission: an agency's batch was accepted. Party is the
	// agency; ISAHash, KeyEpoch, BatchID, BatchDigest, RecordCount and
	// IndicatorCounts describe the batch.
	KindSubmission Kind = 1
	// KindLinkRun: the matcher linked the stored records. Party is who
	// asked; RunID, RuleSet and Purpose name the run; RecordCount is the
	// records linked; Counts holds "persons", "households", "flagged".
	KindLinkRun Kind = 2
	// KindQuery: a party read results (flagged households). Party is the
	// reader; Purpose is the purpose it stated; RunID the run read;
	// RecordCount is the number of households returned.
	KindQuery Kind = 3
	// KindReidentification: a party turned references back into people,
	// or an agency disclosed members to the lead. Party is the requester,
	// Counterparty the agency that disclosed (the requester itself for its
	// own records); Purpose is the stated purpose; RecordCount is the
	// number of people revealed.
	KindReidentification Kind = 4
	// KindKeyCeremony: a programme secret was made. Party is the key
	// custodian; ISAHash and KeyEpoch name the key; Recipients are the
	// parties it was wrapped to.
	KindKeyCeremony Kind = 5
	// KindKeyRotation: the key epoch moved on. Party is who rotated (the
	// matcher, when it first serves the new epoch; the custodian, if it
	// records its ceremony); ISAHash and KeyEpoch name the new epoch;
	// Counts["previous_epoch"] is the epoch it replaces; Recipients, if
	// any, as for a ceremony; Purpose says why.
	KindKeyRotation Kind = 6
	// KindPurge: stored data was deleted (a retired key epoch, or the
	// retention period). Party is who purged (the lead for an epoch, the
	// matcher's own party for its retention sweep); KeyEpoch is the epoch
	// purged (zero for a sweep, which covers every epoch); RecordCount is
	// the records removed; Counts holds "records:AGENCY" per agency,
	// "batches" (batch receipts) and "runs" (link runs); Purpose says why.
	KindPurge Kind = 7
	// KindRefusal: a request was refused. Party is who asked; Refusal
	// says what was asked, the error code and why.
	KindRefusal Kind = 8
)

// lastKind is the highest kind this version knows; kinds 1..lastKind
// are all known.
const lastKind = KindRefusal

func (k Kind) name() string {
	switch k {
	case KindSubmission:
		return "submission"
	case KindLinkRun:
		return "link-run"
	case KindQuery:
		return "query"
	case KindReidentification:
		return "reidentification"
	case KindKeyCeremony:
		return "key-ceremony"
	case KindKeyRotation:
		return "key-rotation"
	case KindPurge:
		return "purge"
	case KindRefusal:
		return "refusal"
	}
	return ""
}

// String returns the kind's name, or "kind(N)" for a value this version
// does not know.
func (k Kind) String() string {
	if s := k.name(); s != "" {
		return s
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Known reports whether this version of the package knows the kind.
func (k Kind) Known() bool { return k.name() != "" }

// ParseKind returns the kind named s (as Kind.String spells it).
func ParseKind(s string) (Kind, error) {
	for k := Kind(1); k <= lastKind; k++ {
		if k.name() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("audit: unknown entry kind %q", s)
}

// Refusal describes a refused request.
type Refusal struct {
	Action string // what was asked, e.g. "SubmitBatch", "Resolve"
	Code   string // the error code returned, e.g. "PermissionDenied"
	Reason string // why, in words; never record data
}

// IsZero reports whether r is empty.
func (r Refusal) IsZero() bool { return r == Refusal{} }

// Entry is one audit event. Which fields are set depends on Kind (see the
// Kind constants); unused fields stay zero. No field holds a token, a
// record reference or an identity, and none may be made to: Purpose,
// Refusal.Reason and the other free-text fields are for words a reviewer
// reads, not for record data.
type Entry struct {
	Kind Kind
	// Time is when the event happened. It is recorded to the nanosecond
	// in UTC.
	Time time.Time
	// Party is who acted: an agency, the lead, the key custodian, the
	// matcher operator.
	Party string
	// Counterparty is the other party, where there is one (the agency
	// that disclosed, for a re-identification).
	Counterparty string
	// ISAHash is the SHA-256 of the information-sharing agreement in
	// force; zero when not applicable.
	ISAHash [32]byte
	// KeyEpoch is the programme key epoch used or made.
	KeyEpoch uint32
	// BatchID is the submitting agency's name for its batch.
	BatchID string
	// BatchDigest is the matcher's SHA-256 digest of the batch's records.
	BatchDigest [32]byte
	// RecordCount is the number of records the event concerns.
	RecordCount uint64
	// IndicatorCounts maps an indicator name to the number of records in
	// the batch for which it was true.
	IndicatorCounts map[string]uint64
	// RunID names a link run.
	RunID string
	// RuleSet is the version of the criteria rules a run applied.
	RuleSet string
	// Purpose is the purpose the party stated.
	Purpose string
	// Counts holds other named tallies (see the Kind constants).
	Counts map[string]uint64
	// Recipients are the parties a key was wrapped to.
	Recipients []string
	// Refusal is set for KindRefusal.
	Refusal Refusal
}

// Validate reports whether e is a well-formed event of a known kind. The
// log refuses to append an entry that fails it. It checks what each kind
// needs; it cannot check that free text carries no record data.
func (e Entry) Validate() error {
	if !e.Kind.Known() {
		return fmt.Errorf("audit: entry: unknown kind %d", e.Kind)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("audit: %s entry: no time", e.Kind)
	}
	if e.Party == "" {
		return fmt.Errorf("audit: %s entry: no party", e.Kind)
	}
	switch e.Kind {
	case KindSubmission:
		if e.BatchDigest == ([32]byte{}) {
			return fmt.Errorf("audit: submission entry: no batch digest")
		}
	case KindQuery, KindReidentification:
		if e.Purpose == "" {
			return fmt.Errorf("audit: %s entry: no stated purpose", e.Kind)
		}
	case KindRefusal:
		if e.Refusal.Action == "" || e.Refusal.Code == "" {
			return fmt.Errorf("audit: refusal entry: action and code are required")
		}
	}
	if _, err := e.MarshalBinary(); err != nil {
		return err
	}
	return nil
}

// The entry encoding.
//
// An entry is stored, hashed into the Merkle tree and handed to auditors
// and agencies as these bytes, so the encoding is frozen. Version 1, all
// integers big-endian:
//
//	version        u8   = 1
//	kind           u8
//	time           i64  Unix nanoseconds (UTC)
//	party          str
//	counterparty   str
//	isa_hash       [32]byte
//	key_epoch      u32
//	batch_id       str
//	batch_digest   [32]byte
//	record_count   u64
//	indicators     map
//	run_id         str
//	rule_set       str
//	purpose        str
//	counts         map
//	recipients     list
//	refusal_action str
//	refusal_code   str
//	refusal_reason str
//
// where str is a u32 byte length then that many bytes of valid UTF-8; map
// is a u32 count then that many (str key, u64 value) pairs with keys in
// strictly increasing byte order (so no duplicates); list is a u32 count
// then that many str in the order given. Nothing may follow the last
// field. The decoder rejects anything else (an unknown version, a short or
// long buffer, unsorted or duplicate keys, invalid UTF-8, a length above
// the limits below), so every accepted byte string is the one encoding of
// the entry it decodes to.
//
// Compatibility rules, for whoever changes this:
//   - Version 1 bytes are never reinterpreted. A change of layout takes a
//     new version number; the decoder keeps decoding every older version
//     for ever (old entries stay in the log and in receipts).
//   - A new version only appends fields after the last field of the
//     version before it; it neither removes, reorders nor retypes a field.
//   - New kinds and new count or indicator names need no new version.
//   - The log hashes entries as stored and never re-encodes them, so a
//     new encoder cannot change an old leaf. (Re-encoding an entry
//     decoded from an older version yields the current version.)
//   - TestEntryEncodingGolden pins the bytes of every version; its
//     testdata files are only ever added to.
const (
	// EntryVersion is the encoding version MarshalBinary writes.
	EntryVersion = 1

	// MaxStringLen bounds each string field, in bytes.
	MaxStringLen = 64 << 10
	// MaxItems bounds the entries of each map and list field.
	MaxItems = 4096
	// MaxEntrySize bounds a whole encoded entry, in bytes.
	MaxEntrySize = 1 << 20
)

// ErrMalformed is wrapped by every error about entry bytes that do not
// decode.
var ErrMalformed = errors.New("malformed audit entry")

// MarshalBinary returns the entry's canonical encoding (version
// EntryVersion). It fails on a zero kind, a time outside the years
// 1678–2262, invalid UTF-8 or a field over the limits.
func (e Entry) MarshalBinary() ([]byte, error) {
	if e.Kind == 0 {
		return nil, errors.New("audit: encode entry: zero kind")
	}
	ns := e.Time.UnixNano()
	if !time.Unix(0, ns).Equal(e.Time) {
		return nil, errors.New("audit: encode entry: time out of range")
	}
	var w writer
	w.b = make([]byte, 0, 256)
	w.b = append(w.b, EntryVersion, byte(e.Kind))
	w.b = binary.BigEndian.AppendUint64(w.b, uint64(ns))
	w.str("party", e.Party)
	w.str("counterparty", e.Counterparty)
	w.b = append(w.b, e.ISAHash[:]...)
	w.b = binary.BigEndian.AppendUint32(w.b, e.KeyEpoch)
	w.str("batch id", e.BatchID)
	w.b = append(w.b, e.BatchDigest[:]...)
	w.b = binary.BigEndian.AppendUint64(w.b, e.RecordCount)
	w.counts("indicator counts", e.IndicatorCounts)
	w.str("run id", e.RunID)
	w.str("rule set", e.RuleSet)
	w.str("purpose", e.Purpose)
	w.counts("counts", e.Counts)
	w.list("recipients", e.Recipients)
	w.str("refusal action", e.Refusal.Action)
	w.str("refusal code", e.Refusal.Code)
	w.str("refusal reason", e.Refusal.Reason)
	if w.err == nil && len(w.b) > MaxEntrySize {
		w.err = fmt.Errorf("entry is %d bytes, above %d", len(w.b), MaxEntrySize)
	}
	if w.err != nil {
		return nil, fmt.Errorf("audit: encode entry: %w", w.err)
	}
	return w.b, nil
}

// UnmarshalBinary decodes an entry encoded by any version of
// MarshalBinary. Errors wrap ErrMalformed.
func (e *Entry) UnmarshalBinary(b []byte) error {
	d, err := DecodeEntry(b)
	if err != nil {
		return err
	}
	*e = d
	return nil
}

// DecodeEntry decodes entry bytes (see the encoding above). Errors wrap
// ErrMalformed and name the field that failed.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %d bytes, above %d", ErrMalformed, len(b), MaxEntrySize)
	}
	r := reader{b: b}
	var e Entry
	v := r.u8("version")
	if r.err == nil && v != 1 {
		return Entry{}, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	e.Kind = Kind(r.u8("kind"))
	if r.err == nil && e.Kind == 0 {
		r.fail("kind", "zero")
	}
	e.Time = time.Unix(0, int64(r.u64("time"))).UTC()
	e.Party = r.str("party")
	e.Counterparty = r.str("counterparty")
	r.fixed("isa hash", e.ISAHash[:])
	e.KeyEpoch = r.u32("key epoch")
	e.BatchID = r.str("batch id")
	r.fixed("batch digest", e.BatchDigest[:])
	e.RecordCount = r.u64("record count")
	e.IndicatorCounts = r.counts("indicator counts")
	e.RunID = r.str("run id")
	e.RuleSet = r.str("rule set")
	e.Purpose = r.str("purpose")
	e.Counts = r.counts("counts")
	e.Recipients = r.list("recipients")
	e.Refusal.Action = r.str("refusal action")
	e.Refusal.Code = r.str("refusal code")
	e.Refusal.Reason = r.str("refusal reason")
	if r.err == nil && len(r.b) != 0 {
		r.fail("end", fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	if r.err != nil {
		return Entry{}, r.err
	}
	return e, nil
}

type writer struct {
	b   []byte
	err error
}

func (w *writer) str(field, s string) {
	if w.err != nil {
		return
	}
	if len(s) > MaxStringLen {
		w.err = fmt.Errorf("%s: %d bytes, above %d", field, len(s), MaxStringLen)
		return
	}
	if !utf8.ValidString(s) {
		w.err = fmt.Errorf("%s: not valid UTF-8", field)
		return
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) counts(field string, m map[string]uint64) {
	if w.err != nil {
		return
	}
	if len(m) > MaxItems {
		w.err = fmt.Errorf("%s: %d items, above %d", field, len(m), MaxItems)
		return
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(m)))
	for _, k := range sortedKeys(m) {
		w.str(field+" key", k)
		w.b = binary.BigEndian.AppendUint64(w.b, m[k])
	}
}

func (w *writer) list(field string, l []string) {
	if w.err != nil {
		return
	}
	if len(l) > MaxItems {
		w.err = fmt.Errorf("%s: %d items, above %d", field, len(l), MaxItems)
		return
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(l)))
	for _, s := range l {
		w.str(field, s)
	}
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(field, problem string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrMalformed, field, problem)
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.fail(field, "truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if v := r.take(field, 4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if v := r.take(field, 8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) fixed(field string, dst []byte) {
	copy(dst, r.take(field, len(dst)))
}

func (r *reader) str(field string) string {
	n := r.u32(field + " length")
	if r.err != nil {
		return ""
	}
	if n > MaxStringLen {
		r.fail(field, "too long")
		return ""
	}
	v := r.take(field, int(n))
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(v) {
		r.fail(field, "not valid UTF-8")
		return ""
	}
	return string(v)
}

func (r *reader) count(field string) int {
	n := r.u32(field + " count")
	if r.err == nil && n > MaxItems {
		r.fail(field, "too many items")
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *reader) counts(field string) map[string]uint64 {
	n := r.count(field)
	if n == 0 {
		return nil
	}
	m := make(map[string]uint64, min(n, 64))
	prev := ""
	for i := range n {
		k := r.str(field + " key")
		v := r.u64(field + " value")
		if r.err != nil {
			return nil
		}
		if i > 0 && k <= prev {
			r.fail(field, "keys not in strictly increasing order")
			return nil
		}
		m[k] = v
		prev = k
	}
	return m
}

func (r *reader) list(field string) []string {
	n := r.count(field)
	if n == 0 {
		return nil
	}
	l := make([]string, 0, min(n, 64))
	for range n {
		s := r.str(field)
		if r.err != nil {
			return nil
		}
		l = append(l, s)
	}
	return l
}

// sortedKeys returns m's keys in increasing byte order.
func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DecodeEntries decodes a list of encoded entries (as Log.Entries and
// LoadExport return them), in order. The error names the first entry that
// does not decode.
func DecodeEntries(encoded [][]byte) ([]Entry, error) {
	out := make([]Entry, 0, len(encoded))
	for i, b := range encoded {
		e, err := DecodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}
