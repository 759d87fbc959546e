package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"tfmatch/matchkey"
)

// Limits on the variable-length parts of a record. They keep keys short and
// stop a malformed submission from making huge keys.
const (
	MaxSourceLen    = 64  // bytes in a source (party id)
	MaxKindLen      = 64  // bytes in a token kind name
	MaxIndicatorLen = 64  // bytes in an indicator name
	MaxBatchIDLen   = 128 // bytes in a batch id
	MaxTokens       = 256 // tokens per record
	MaxIndicators   = 64  // indicators per record
	FilterLen       = 128 // bytes in a record's filter
)

// Record encoding versions, the first byte of every encoded record.
// Versions 5 and 6 are written; the older ones are still read (stores
// written by earlier builds), each token cut to its first TokenLen bytes.
const (
	// Versions 1 to 4 kept each blinded token whole (32 bytes).
	recordVersion            = 1 // kinds by name, no filter
	recordVersionFilter      = 2 // version 1 followed by a filter
	recordVersionCoded       = 3 // version 1 with kinds by code
	recordVersionCodedFilter = 4 // version 3 followed by a filter
	// recordVersionShort and recordVersionShortFilter (EncodeRecord):
	// kinds by code, each token its first TokenLen bytes.
	recordVersionShort       = 5
	recordVersionShortFilter = 6
)

// kindCodes numbers the token kinds in stored records. The numbers are
// frozen (testdata/kindcodes.golden): a kind keeps its number for as long
// as any store may hold it, a new kind takes the next free number, and a
// retired kind's number is never given to another. Code 0 is not used.
var kindCodes = [...]matchkey.Kind{
	1:  matchkey.NINO,
	2:  matchkey.NHS,
	3:  matchkey.UPN,
	4:  matchkey.OtherID,
	5:  matchkey.NameDOB,
	6:  matchkey.NameDOBDayMonth,
	7:  matchkey.NameSwappedDOB,
	8:  matchkey.InitialSurnameDOBPost,
	9:  matchkey.PhoneticDOB,
	10: matchkey.NameYOBPostcode,
	11: matchkey.GivenDOBPostcode,
	12: matchkey.NameDayMonthPostcode,
	13: matchkey.UPRN,
	14: matchkey.AddressLine,
	15: matchkey.House,
	16: matchkey.HouseholdGroup,
	17: matchkey.UnitGroup,
	18: matchkey.BlockPhoneticYear,
	19: matchkey.BlockName,
	20: matchkey.BlockFamilyDOB,
	21: matchkey.BlockGivenDOB,
	22: matchkey.BlockFamilyPostcode,
	23: matchkey.BlockGivenPostcode,
	24: matchkey.BlockPhoneticPost,
	25: matchkey.BlockDOBPostcode,
	26: matchkey.BlockPostcodeNumber,
	27: matchkey.BlockPhoneticFamilyDOB,
	28: matchkey.BlockGivenPhoneticFamily,
	29: matchkey.BlockOtherIDNear,
}

// codeOf gives the code of every kind known to matchkey, by its
// matchkey.Index (kindCodes inverted, without retired kinds): the kinds a
// record may be stored with. It is built once and only read.
var codeOf = func() []byte {
	codes := make([]byte, len(matchkey.All()))
	for c, k := range kindCodes {
		if i, ok := matchkey.Index(k); ok {
			codes[i] = byte(c)
		}
	}
	return codes
}()

// errCorrupt is wrapped by every decoding error.
var errCorrupt = errors.New("corrupt record encoding")

// EncodeRecord returns the binary encoding in which the store keeps r, the
// input to a batch digest. It fails if a token's kind is not a kind
// matchkey knows.
//
// The encoding is frozen; a change needs a new version byte:
//
//	byte     version = 5 (no filter) or 6 (a filter follows)
//	uvarint  len(source), source bytes
//	[16]byte ref
//	uvarint  number of tokens, then per token:
//	           byte kind code (kindCodes), [16]byte value
//	uvarint  number of indicators, then per indicator:
//	           uvarint len(name), name bytes, byte 0 (false) or 1 (true)
//	[128]byte filter (version 6 only)
//
// Tokens appear sorted by (kind code, value) without duplicates and
// indicators sorted by name, so one record has exactly one encoding:
// EncodeRecord sorts a copy, and DecodeRecord rejects anything not in that
// order. A record of 23 tokens is about 570 bytes, 128 of them its filter.
func EncodeRecord(r Record) ([]byte, error) {
	var e recordEncoder
	if err := e.prepare(r); err != nil {
		return nil, err
	}
	return e.append(nil, r), nil
}

// codedToken is a token with its kind as its code, as it is encoded.
type codedToken struct {
	code  byte
	value [TokenLen]byte
}

func compareCoded(a, b codedToken) int {
	if a.code != b.code {
		return int(a.code) - int(b.code)
	}
	return bytes.Compare(a.value[:], b.value[:])
}

// sortCoded sorts ts by (code, value): by code with a counting sort into
// out (a record has few tokens of each kind, most one), then each run
// of one code by value. out must have room for len(ts) tokens.
func sortCoded(ts, out []codedToken) {
	var start [len(kindCodes) + 1]int
	for _, t := range ts {
		start[t.code+1]++
	}
	for c := 1; c < len(start); c++ {
		start[c] += start[c-1]
	}
	next := start
	for _, t := range ts {
		out[next[t.code]] = t
		next[t.code]++
	}
	for c := range len(kindCodes) {
		if run := out[start[c]:start[c+1]]; len(run) > 1 {
			slices.SortFunc(run, compareCoded)
		}
	}
}

// recordEncoder encodes records, keeping its buffers from one record to
// the next.
type recordEncoder struct {
	in, toks []codedToken
	names    []string
}

// prepare puts r's tokens, as codes, in canonical order and its indicator
// names in order, into e's buffers. It fails if a kind is unknown.
func (e *recordEncoder) prepare(r Record) error {
	e.in = e.in[:0]
	for _, t := range r.Tokens {
		i, ok := matchkey.Index(t.Kind)
		if !ok || codeOf[i] == 0 {
			return fmt.Errorf("unknown token kind %q", truncate(string(t.Kind), MaxKindLen))
		}
		e.in = append(e.in, codedToken{code: codeOf[i], value: t.Value})
	}
	e.toks = slices.Grow(e.toks[:0], len(e.in))[:len(e.in)]
	sortCoded(e.in, e.toks)
	e.toks = slices.Compact(e.toks)
	e.names = e.names[:0]
	for k := range r.Indicators {
		e.names = append(e.names, k)
	}
	slices.Sort(e.names)
	return nil
}

// size returns the length of the encoding append appends.
func (e *recordEncoder) size(r Record) int {
	n := 1 + uvarintLen(len(r.Source)) + len(r.Source) + 16 + uvarintLen(len(e.toks)) + len(e.toks)*(1+TokenLen)
	n += uvarintLen(len(e.names))
	for _, name := range e.names {
		n += uvarintLen(len(name)) + len(name) + 1
	}
	return n + len(r.Filter)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// append appends r's encoding, its tokens and names as prepare left them.
func (e *recordEncoder) append(b []byte, r Record) []byte {
	b = slices.Grow(b, e.size(r))
	version := byte(recordVersionShort)
	if len(r.Filter) > 0 {
		version = recordVersionShortFilter
	}
	b = append(b, version)
	b = appendString(b, r.Source)
	b = append(b, r.Ref[:]...)
	b = binary.AppendUvarint(b, uint64(len(e.toks)))
	for _, t := range e.toks {
		b = append(b, t.code)
		b = append(b, t.value[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.names)))
	for _, name := range e.names {
		b = appendString(b, name)
		if r.Indicators[name] {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return append(b, r.Filter...)
}

// format is what an encoding's version byte says about the rest.
type format struct {
	coded    bool // kinds as codes, not names
	byCode   bool // tokens in order of kind code (else of kind name)
	filter   bool // a filter follows the indicators
	valueLen int  // bytes of each token's value
}

// version reads an encoding's version byte.
func (d *decoder) version() format {
	v := d.byte()
	switch {
	case d.err != nil:
		return format{}
	case v == recordVersionShort || v == recordVersionShortFilter:
		return format{coded: true, byCode: true, filter: v == recordVersionShortFilter, valueLen: TokenLen}
	case v >= recordVersion && v <= recordVersionCodedFilter:
		return format{coded: v >= recordVersionCoded, filter: v%2 == 0, valueLen: 32}
	}
	d.err = fmt.Errorf("%w: unknown version %d", errCorrupt, v)
	return format{}
}

// code reads a token's kind code.
func (d *decoder) code() byte {
	c := d.byte()
	if d.err == nil && (c == 0 || int(c) >= len(kindCodes) || kindCodes[c] == "") {
		d.fail(fmt.Sprintf("unknown token kind code %d", c))
	}
	if d.err != nil {
		return 0
	}
	return c
}

// kindName returns name as a Kind, without allocating when it is a kind
// with a code.
func kindName(name []byte) matchkey.Kind {
	for _, k := range kindCodes {
		if string(k) == string(name) && k != "" {
			return k
		}
	}
	return matchkey.Kind(name)
}

// DecodeRecord parses an encoding made by EncodeRecord, or by an earlier
// build (versions 1 to 4, whose 32-byte token values are cut to their
// first TokenLen bytes). It accepts only canonical encodings: for every b
// of version 5 or 6 it accepts, EncodeRecord gives b again from the
// result. It does not check that token kinds are known to matchkey, so
// records stored before a kind was retired still decode.
func DecodeRecord(b []byte) (Record, error) {
	d := decoder{b: b}
	var r Record
	f := d.version()
	r.Source = d.string(MaxSourceLen, "source")
	copy(r.Ref[:], d.bytes(16, "ref"))
	nt := d.count(MaxTokens, "tokens")
	if nt > 0 {
		r.Tokens = make([]Token, 0, nt)
	}
	var prevCode byte
	var prevValue []byte
	for i := 0; i < nt && d.err == nil; i++ {
		var t Token
		var code byte
		if f.coded {
			code = d.code()
			t.Kind = kindCodes[code]
		} else {
			t.Kind = kindName(d.rawString(MaxKindLen, "token kind"))
		}
		v := d.bytes(f.valueLen, "token value")
		if d.err != nil {
			break
		}
		if i > 0 {
			var c int
			if f.byCode {
				c = int(prevCode) - int(code)
			} else {
				c = strings.Compare(string(r.Tokens[i-1].Kind), string(t.Kind))
			}
			if c > 0 || c == 0 && bytes.Compare(prevValue, v) >= 0 {
				d.fail("tokens not in canonical order")
				break
			}
		}
		prevCode, prevValue = code, v
		copy(t.Value[:], v)
		r.Tokens = append(r.Tokens, t)
	}
	ni := d.count(MaxIndicators, "indicators")
	if ni > 0 {
		r.Indicators = make(map[string]bool, ni)
	}
	prev := ""
	for i := 0; i < ni && d.err == nil; i++ {
		name := d.string(MaxIndicatorLen, "indicator name")
		v := d.byte()
		if d.err != nil {
			break
		}
		if v > 1 {
			d.fail("indicator value not 0 or 1")
		}
		if i > 0 && name <= prev {
			d.fail("indicators not in canonical order")
		}
		prev = name
		r.Indicators[name] = v == 1
	}
	if f.filter {
		r.Filter = bytes.Clone(d.bytes(FilterLen, "filter"))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, msg)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated " + what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) count(max int, what string) int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad length of " + what)
		return 0
	}
	// Reject non-minimal varints so the encoding stays canonical.
	if n != len(binary.AppendUvarint(nil, v)) {
		d.fail("non-minimal length of " + what)
		return 0
	}
	if v > uint64(max) {
		d.fail("too many " + what)
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) string(max int, what string) string {
	return string(d.rawString(max, what))
}

// rawString is string without the copy: the bytes point into d's buffer.
func (d *decoder) rawString(max int, what string) []byte {
	n := d.count(max, what)
	if d.err == nil && n == 0 {
		d.fail("empty " + what)
	}
	return d.bytes(n, what)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// validateRecord checks r against the limits (recordEncoder.prepare
// checks its token kinds). The error names the problem, never a value.
func validateRecord(r Record) error {
	if err := validateSource(r.Source); err != nil {
		return err
	}
	if len(r.Tokens) > MaxTokens {
		return fmt.Errorf("%d tokens, more than %d", len(r.Tokens), MaxTokens)
	}
	if len(r.Indicators) > MaxIndicators {
		return fmt.Errorf("%d indicators, more than %d", len(r.Indicators), MaxIndicators)
	}
	if len(r.Filter) != 0 && len(r.Filter) != FilterLen {
		return fmt.Errorf("filter of %d bytes, want %d or none", len(r.Filter), FilterLen)
	}
	for name := range r.Indicators {
		if !validName(name, MaxIndicatorLen) {
			return fmt.Errorf("indicator name %q: want 1-%d letters, digits or underscores, starting with a letter", truncate(name, MaxIndicatorLen), MaxIndicatorLen)
		}
	}
	return nil
}

func validateSource(s string) error {
	if s == "" || len(s) > MaxSourceLen || !utf8.ValidString(s) {
		return fmt.Errorf("source must be 1-%d bytes of UTF-8", MaxSourceLen)
	}
	for _, c := range s {
		if c < 0x21 || c == 0x7f {
			return errors.New("source contains a space or control character")
		}
	}
	return nil
}

// validName reports whether s is an identifier usable in rule expressions:
// an ASCII letter followed by letters, digits or underscores.
func validName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// RecordView is a stored record read in place, without copying: every
// slice points into the buffer it was parsed from and is valid only as
// long as that buffer is. The link run reads the whole store through
// views so that it keeps its own compact form of each record and never a
// decoded copy.
type RecordView struct {
	Source []byte
	Ref    [16]byte
	// Filter is FilterLen bytes, or nil.
	Filter []byte
	// Expires is the record's expiry (zero for none), as in Record.
	Expires    time.Time
	tokens     []byte // the encoded tokens
	f          format
	nTokens    int
	indicators []byte // the encoded indicators
	nInd       int
}

// Tokens returns how many tokens the record holds.
func (v *RecordView) Tokens() int { return v.nTokens }

// ForEachToken calls fn with every token in the order of its encoding.
// value points into the view's buffer.
func (v *RecordView) ForEachToken(fn func(kind matchkey.Kind, value *[TokenLen]byte)) {
	b := v.tokens
	for range v.nTokens {
		var kind matchkey.Kind
		if v.f.coded {
			kind = kindCodes[b[0]]
			b = b[1:]
		} else {
			n, l := binary.Uvarint(b)
			kind = kindName(b[l : l+int(n)])
			b = b[l+int(n):]
		}
		fn(kind, (*[TokenLen]byte)(b[:TokenLen]))
		b = b[v.f.valueLen:]
	}
}

// ForEachIndicator calls fn with every indicator's name and value, in
// name order. name points into the view's buffer.
func (v *RecordView) ForEachIndicator(fn func(name []byte, value bool)) {
	b := v.indicators
	for range v.nInd {
		n, l := binary.Uvarint(b)
		name := b[l : l+int(n)]
		b = b[l+int(n):]
		fn(name, b[0] == 1)
		b = b[1:]
	}
}

// ParseRecordView parses an encoding that DecodeRecord reads, in place.
// It checks the structure (lengths, limits, versions, kind codes) as
// DecodeRecord does but not the canonical order of tokens and indicators,
// which PutBatch guarantees for everything it stores.
func ParseRecordView(b []byte) (RecordView, error) {
	d := decoder{b: b}
	var v RecordView
	v.f = d.version()
	v.Source = d.rawString(MaxSourceLen, "source")
	copy(v.Ref[:], d.bytes(16, "ref"))
	v.nTokens = d.count(MaxTokens, "tokens")
	start := d.b
	for i := 0; i < v.nTokens && d.err == nil; i++ {
		if v.f.coded {
			d.code()
		} else {
			d.rawString(MaxKindLen, "token kind")
		}
		d.bytes(v.f.valueLen, "token value")
	}
	if d.err == nil {
		v.tokens = start[:len(start)-len(d.b)]
	}
	v.nInd = d.count(MaxIndicators, "indicators")
	start = d.b
	for i := 0; i < v.nInd && d.err == nil; i++ {
		d.rawString(MaxIndicatorLen, "indicator name")
		if x := d.byte(); d.err == nil && x > 1 {
			d.fail("indicator value not 0 or 1")
		}
	}
	if d.err == nil {
		v.indicators = start[:len(start)-len(d.b)]
	}
	if v.f.filter {
		v.Filter = d.bytes(FilterLen, "filter")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return RecordView{}, d.err
	}
	return v, nil
}
