package server

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"tfmatch/matcher/ingest"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// The matcher decodes submitted batches itself, straight from their
// protobuf wire form into ingest.Batch (batchDecoder), instead of through
// the generated pb.Batch: the generated decoder makes a message, a
// string and a byte slice per token, about 70 allocations a record, and
// was an eighth of the matcher's processor time while ingesting. The
// wire format is unchanged: any protobuf implementation can still send
// batches, and FuzzDecodeBatch checks that batchDecoder reads every input
// exactly as proto.Unmarshal followed by batchFromProto does.

// ServerOptions returns the options a gRPC server serving the Submission
// service needs: Codec as its codec.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodecV2(Codec())}
}

// Codec returns the codec of the matcher's gRPC server: the protobuf
// codec, except that it hands a submitted batch's bytes to Submit
// undecoded. A server that registers the Submission service
// (pb.RegisterSubmissionServer) must use it; with the plain protobuf
// codec every batch is refused.
func Codec() encoding.CodecV2 { return codec{encoding.GetCodecV2(grpcproto.Name)} }

// wireBatch receives one submitted batch as its wire bytes.
type wireBatch struct{ buf mem.Buffer }

// codec is the protobuf codec, except that it keeps a wireBatch's bytes.
type codec struct{ encoding.CodecV2 }

// Unmarshal decodes data into v.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	w, ok := v.(*wireBatch)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	w.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
	return nil
}

// errWire is wrapped by every decoding error.
var errWire = errors.New("not a valid tfmatch.v1.Batch message")

// maxNames bounds the indicator names a decoder keeps, so that a stream
// of made-up names cannot grow it without end.
const maxNames = 256

// maxSets bounds the distinct sets of indicator entries a decoder keeps a
// map of, likewise.
const maxSets = 256

// batchDecoder decodes batches of one stream. Byte fields of the result
// (batch id excepted) point into the message's buffer; token kinds are the
// matchkey constants and indicator names strings kept from one batch to
// the next, so that neither costs an allocation per record; records with
// the same indicators share their map, which no one may change. A decoded
// batch is valid until the decoder's next batch.
type batchDecoder struct {
	names map[string]string
	// The maps of the sets of indicator entries seen, by their bytes:
	// records with the same results share one (ingest only reads it).
	sets map[string]map[string]bool
	// The records and tokens of the last batch, whose arrays the next
	// one reuses: a stream's batches are handled one at a time, and
	// nothing keeps a batch once it has been handled. (A record's tokens
	// are a slice of toks; when toks grows, earlier records keep the
	// array they were decoded into.)
	recs []ingest.Record
	toks []ingest.Token
}

func newBatchDecoder() *batchDecoder {
	return &batchDecoder{names: map[string]string{}, sets: map[string]map[string]bool{}}
}

// field reads one field's tag and, for the length-delimited, varint and
// other wire types, its value: v for bytes, x for varints. n is the bytes
// consumed, negative on malformed input; other wire types are skipped.
func field(b []byte) (num protowire.Number, typ protowire.Type, v []byte, x uint64, n int) {
	num, typ, tn := protowire.ConsumeTag(b)
	if tn < 0 || num > protowire.MaxValidNumber {
		return 0, 0, nil, 0, -1
	}
	var vn int
	switch typ {
	case protowire.BytesType:
		v, vn = protowire.ConsumeBytes(b[tn:])
	case protowire.VarintType:
		x, vn = protowire.ConsumeVarint(b[tn:])
	default:
		// Groups (skipped whole; an end without a start is an error)
		// and fixed-width values, which no field of a batch has.
		vn = protowire.ConsumeFieldValue(num, typ, b[tn:])
	}
	if vn < 0 {
		return 0, 0, nil, 0, -1
	}
	return num, typ, v, x, tn + vn
}

// decode decodes one Batch message from party. Its errors wrap errWire
// and name the record, token and field at fault.
func (d *batchDecoder) decode(party string, b []byte) (ingest.Batch, error) {
	out, err := d.batch(party, b)
	if err != nil {
		return ingest.Batch{}, fmt.Errorf("%w: %w", errWire, err)
	}
	return out, nil
}

func (d *batchDecoder) batch(party string, b []byte) (ingest.Batch, error) {
	out := ingest.Batch{Source: party, Records: d.recs[:0]}
	toks := d.toks[:0]
	defer func() { d.recs, d.toks = out.Records[:0], toks[:0] }()
	for len(b) > 0 {
		num, typ, v, x, n := field(b)
		if n < 0 {
			return ingest.Batch{}, errors.New("malformed field")
		}
		b = b[n:]
		switch {
		case num == pb.BatchIDField && typ == protowire.BytesType:
			if !utf8.Valid(v) {
				return ingest.Batch{}, errors.New("batch_id is not UTF-8")
			}
			out.ID = string(v)
		case num == pb.BatchISAHashField && typ == protowire.BytesType:
			out.ISAHash = v
		case num == pb.BatchKeyEpochField && typ == protowire.VarintType:
			out.Epoch = uint32(x)
		case num == pb.BatchRecordsField && typ == protowire.BytesType:
			r, err := d.record(v, &toks)
			if err != nil {
				return ingest.Batch{}, fmt.Errorf("record %d: %w", len(out.Records), err)
			}
			out.Records = append(out.Records, r)
		}
	}
	return out, nil
}

// record decodes one Record message, appending its tokens to toks.
func (d *batchDecoder) record(b []byte, toks *[]ingest.Token) (ingest.Record, error) {
	var r ingest.Record
	start := len(*toks)
	all := b
	// The bytes from the first indicator entry to the end of the last
	// (every encoder writes a map field's entries side by side).
	from, to := -1, -1
	for pos := 0; len(b) > 0; {
		num, typ, v, _, n := field(b)
		if n < 0 {
			return ingest.Record{}, errors.New("malformed field")
		}
		b = b[n:]
		at := pos
		pos += n
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case pb.RecordRefField:
			r.Ref = v
		case pb.RecordTokensField:
			t, err := d.token(v)
			if err != nil {
				return ingest.Record{}, fmt.Errorf("token %d: %w", len(*toks)-start, err)
			}
			*toks = append(*toks, t)
		case pb.RecordIndicatorsField:
			if from < 0 {
				from = at
			}
			to = pos
		case pb.RecordFilterField:
			r.Filter = v
		}
	}
	if end := len(*toks); end > start {
		r.Tokens = (*toks)[start:end:end]
	}
	if from < 0 {
		return r, nil
	}
	// Records with the same bytes there have the same indicators, and
	// share one map, read only.
	span := all[from:to]
	if m, ok := d.sets[string(span)]; ok {
		r.Indicators = m
		return r, nil
	}
	m, err := d.indicators(span)
	if err != nil {
		return ingest.Record{}, err
	}
	if len(d.sets) < maxSets {
		d.sets[string(span)] = m
	}
	r.Indicators = m
	return r, nil
}

// indicators decodes the indicator entries among the fields of b (a run
// of a Record's fields) into a new map.
func (d *batchDecoder) indicators(b []byte) (map[string]bool, error) {
	m := map[string]bool{}
	for len(b) > 0 {
		num, typ, v, _, n := field(b)
		if n < 0 {
			return nil, errors.New("malformed field")
		}
		b = b[n:]
		if num != pb.RecordIndicatorsField || typ != protowire.BytesType {
			continue
		}
		name, val, err := d.indicator(v)
		if err != nil {
			return nil, err
		}
		m[name] = val
	}
	return m, nil
}

// token decodes one Token message.
func (d *batchDecoder) token(b []byte) (ingest.Token, error) {
	var t ingest.Token
	for len(b) > 0 {
		num, typ, v, _, n := field(b)
		if n < 0 {
			return ingest.Token{}, errors.New("malformed field")
		}
		b = b[n:]
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case pb.TokenKindField:
			in, ok := matchkey.LookupBytes(v)
			if !ok {
				if !utf8.Valid(v) {
					return ingest.Token{}, errors.New("kind is not UTF-8")
				}
				in.Kind = matchkey.Kind(v) // unknown: refused by ingest, by name
			}
			t.Kind = in.Kind
		case pb.TokenValueField:
			t.Value = v
		}
	}
	return t, nil
}

// indicator decodes one entry of a Record's indicators map.
func (d *batchDecoder) indicator(b []byte) (string, bool, error) {
	var name []byte
	var val bool
	for len(b) > 0 {
		num, typ, v, x, n := field(b)
		if n < 0 {
			return "", false, errors.New("indicator: malformed field")
		}
		b = b[n:]
		switch {
		case num == pb.IndicatorNameField && typ == protowire.BytesType:
			name = v
		case num == pb.IndicatorValueField && typ == protowire.VarintType:
			val = x != 0
		}
	}
	if s, ok := d.names[string(name)]; ok {
		return s, val, nil
	}
	if !utf8.Valid(name) {
		return "", false, errors.New("indicator name is not UTF-8")
	}
	s := string(name)
	if len(d.names) < maxNames {
		d.names[s] = s
	}
	return s, val, nil
}
