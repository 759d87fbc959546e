package server

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"tfmatch/audit"
	"tfmatch/matcher/ingest"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

func wireSeeds(t testing.TB) [][]byte {
	t.Helper()
	batches := []*pb.Batch{
		{},
		{BatchId: "b1", IsaHash: tok("isa"), KeyEpoch: 3, Records: []*pb.Record{
			{Ref: tok("r1")[:16], Tokens: []*pb.Token{{Kind: string(matchkey.NameDOB), Value: tok("t1")}, {Kind: string(matchkey.NINO), Value: tok("t2")}},
				Indicators: map[string]bool{"work": true, "crime_asb": false}, Filter: make([]byte, 128)},
			{Ref: tok("r2")[:16], Tokens: []*pb.Token{{Kind: "shoe_size", Value: []byte{1}}, {}}},
			{},
		}},
		{BatchId: "ünïcode", KeyEpoch: 1 << 31, Records: []*pb.Record{{Indicators: map[string]bool{"": true}}}},
	}
	var out [][]byte
	for _, b := range batches {
		enc, err := proto.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, enc)
	}
	// Hand-made: unknown fields of every wire type, a field repeated
	// (the last wins), a known field with the wrong wire type, a group.
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "first")
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "second")
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, "epoch as bytes")
	b = protowire.AppendTag(b, 99, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 98, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 97, protowire.StartGroupType)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 97, protowire.EndGroupType)
	var rec []byte
	rec = protowire.AppendTag(rec, 1, protowire.VarintType) // ref as a varint: unknown
	rec = protowire.AppendVarint(rec, 5)
	var entry []byte
	entry = protowire.AppendTag(entry, 2, protowire.VarintType)
	entry = protowire.AppendVarint(entry, 2) // true, no key
	rec = protowire.AppendTag(rec, 3, protowire.BytesType)
	rec = protowire.AppendBytes(rec, entry)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendBytes(b, rec)
	out = append(out, b)
	out = append(out, splitIndicators())
	// Malformed: a truncated message, an end-group tag on its own,
	// field number 0, a kind that is not UTF-8.
	out = append(out, out[1][:len(out[1])-3])
	out = append(out, protowire.AppendTag(nil, 5, protowire.EndGroupType))
	out = append(out, []byte{0x02, 0x00})
	bad, _ := proto.Marshal(&pb.Batch{Records: []*pb.Record{{Tokens: []*pb.Token{{Value: []byte{1}}}}}})
	bad = append(bad[:len(bad):len(bad)], 0x22, 0x06, 0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe)
	out = append(out, bad)
	return out
}

// sameBatch compares two decoded batches, a nil and an empty slice being
// the same.
func sameBatch(a, b ingest.Batch) bool {
	if a.Source != b.Source || a.ID != b.ID || !bytes.Equal(a.ISAHash, b.ISAHash) || a.Epoch != b.Epoch || len(a.Records) != len(b.Records) {
		return false
	}
	for i := range a.Records {
		ra, rb := a.Records[i], b.Records[i]
		if !bytes.Equal(ra.Ref, rb.Ref) || !bytes.Equal(ra.Filter, rb.Filter) || len(ra.Tokens) != len(rb.Tokens) ||
			len(ra.Indicators) != len(rb.Indicators) || !maps.Equal(ra.Indicators, rb.Indicators) {
			return false
		}
		for j := range ra.Tokens {
			if ra.Tokens[j].Kind != rb.Tokens[j].Kind || !bytes.Equal(ra.Tokens[j].Value, rb.Tokens[j].Value) {
				return false
			}
		}
	}
	return true
}

// FuzzDecodeBatch checks that the matcher's own decoder reads every input
// as the generated protobuf code does: the same batch, or an error for
// both.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range wireSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.Batch
		perr := proto.Unmarshal(b, &m)
		got, err := newBatchDecoder().decode("police", b)
		if (err != nil) != (perr != nil) {
			t.Fatalf("decode error %v, proto.Unmarshal error %v", err, perr)
		}
		if err != nil {
			if !errors.Is(err, errWire) {
				t.Fatalf("error %v does not wrap errWire", err)
			}
			return
		}
		if want := batchFromProto("police", &m); !sameBatch(got, want) {
			t.Fatalf("decoded %+v, want %+v", got, want)
		}
	})
}

// splitIndicators is a batch of three records: two with the same
// indicator entries side by side, and one whose entries are split by a
// token and name one indicator twice (the last wins).
func splitIndicators() []byte {
	entry := func(name string, v bool) []byte {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, name)
		e = protowire.AppendTag(e, 2, protowire.VarintType)
		return protowire.AppendVarint(e, protowire.EncodeBool(v))
	}
	field := func(dst []byte, num protowire.Number, v []byte) []byte {
		dst = protowire.AppendTag(dst, num, protowire.BytesType)
		return protowire.AppendBytes(dst, v)
	}
	var token []byte
	token = field(token, 1, []byte(matchkey.NameDOB))
	token = field(token, 2, tok("t"))
	var same, split []byte
	same = field(same, 3, entry("work", true))
	same = field(same, 3, entry("crime_asb", false))
	same = field(same, 2, token)
	split = field(split, 3, entry("work", true))
	split = field(split, 2, token)
	split = field(split, 3, entry("crime_asb", true))
	split = field(split, 3, entry("work", false))
	var b []byte
	for _, r := range [][]byte{same, same, split} {
		b = field(b, 4, r)
	}
	return b
}

// TestDecodeBatchSharesIndicators: records with the same indicator
// entries share one map, a record's entries are all read wherever they
// are, and the last of a repeated name wins.
func TestDecodeBatchSharesIndicators(t *testing.T) {
	d := newBatchDecoder()
	got, err := d.decode("dwp", splitIndicators())
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]bool{{"work": true, "crime_asb": false}, {"work": true, "crime_asb": false}, {"work": false, "crime_asb": true}}
	if len(got.Records) != len(want) {
		t.Fatalf("%d records, want %d", len(got.Records), len(want))
	}
	for i, r := range got.Records {
		if !maps.Equal(r.Indicators, want[i]) || len(r.Tokens) != 1 {
			t.Errorf("record %d: indicators %v and %d tokens, want %v and 1", i, r.Indicators, len(r.Tokens), want[i])
		}
	}
	p := func(i int) uintptr { return reflect.ValueOf(got.Records[i].Indicators).Pointer() }
	if p(0) != p(1) {
		t.Error("records 0 and 1 have the same indicator entries but not the same map")
	}
	if p(0) == p(2) {
		t.Error("records 0 and 2 share a map")
	}
	// The next batch's records with the same entries get the same map.
	first := p(0)
	again, err := d.decode("dwp", splitIndicators())
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(again.Records[0].Indicators).Pointer() != first {
		t.Error("the next batch's record 0 does not share the first batch's map")
	}
}

func TestDecodeBatchSeeds(t *testing.T) {
	seeds := wireSeeds(t)
	d := newBatchDecoder()
	fails := 0
	for i, s := range seeds {
		var m pb.Batch
		perr := proto.Unmarshal(s, &m)
		got, err := d.decode("dwp", s)
		if (err != nil) != (perr != nil) {
			t.Errorf("seed %d: decode error %v, proto.Unmarshal error %v", i, err, perr)
			continue
		}
		if err != nil {
			fails++
			continue
		}
		if want := batchFromProto("dwp", &m); !sameBatch(got, want) {
			t.Errorf("seed %d: decoded %+v, want %+v", i, got, want)
		}
	}
	if fails != 4 {
		t.Errorf("%d seeds refused, want the 4 malformed ones", fails)
	}
	// Token values point into the message: clearing it clears them.
	msg := bytes.Clone(seeds[1])
	got, err := d.decode("dwp", msg)
	if err != nil {
		t.Fatal(err)
	}
	if k := got.Records[0].Tokens[0].Kind; k != matchkey.NameDOB {
		t.Errorf("kind %q", k)
	}
	clear(msg)
	if v := got.Records[0].Tokens[0].Value; !bytes.Equal(v, make([]byte, len(v))) {
		t.Error("token value copied out of the message")
	}
}

// TestMalformedBatchRefused sends a batch that is not a valid message on
// a submission stream: it is refused with InvalidArgument, and the
// refusal is in the audit log.
func TestMalformedBatchRefused(t *testing.T) {
	env := newEnv(t)
	// A record whose one token's kind is not UTF-8, sent as it is.
	raw := []byte{0x22, 0x06, 0x12, 0x04, 0x0a, 0x02, 0xff, 0xfe}
	stream, err := env.sub.Submit(as(t, "police"), grpc.ForceCodecV2(rawCodec{encoding.GetCodecV2(grpcproto.Name)}))
	if err != nil {
		t.Fatal(err)
	}
	logBefore := env.log.Size()
	if err := stream.SendMsg(rawBytes(raw)); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	_, err = stream.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "record 0: token 0: kind is not UTF-8") {
		t.Fatalf("Recv = %v, want InvalidArgument naming the record, token and field", err)
	}
	if e := lastEntry(t, env.log); env.log.Size() != logBefore+1 || e.Kind != audit.KindRefusal || e.Party != "police" || e.Refusal.Code != codes.InvalidArgument.String() {
		t.Errorf("refusal not recorded: log %d -> %d, last entry %+v", logBefore, env.log.Size(), e)
	}
	if c, err := env.store.Counts(context.Background()); err != nil || c.Records != 0 || c.Batches != 0 {
		t.Errorf("a refused batch changed the store: %+v, %v", c, err)
	}
}

// rawBytes is a message sent as the bytes it holds.
type rawBytes []byte

// rawCodec sends rawBytes as they are and everything else as protobuf.
type rawCodec struct{ encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(rawBytes); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// BenchmarkDecodeBatch decodes a batch of 2,000 records of 23 tokens and
// three indicators each, as an agency sends them, with one decoder as a
// stream has.
func BenchmarkDecodeBatch(b *testing.B) {
	kinds := matchkey.All()
	m := &pb.Batch{BatchId: "bench", IsaHash: make([]byte, 32), KeyEpoch: 1}
	for i := range 2000 {
		r := &pb.Record{Ref: make([]byte, 16), Filter: make([]byte, 128),
			Indicators: map[string]bool{"work": i%2 == 0, "crime_asb": i%3 == 0, "education": false}}
		for j := range 23 {
			r.Tokens = append(r.Tokens, &pb.Token{Kind: string(kinds[j%len(kinds)].Kind), Value: make([]byte, 32)})
		}
		m.Records = append(m.Records, r)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	d := newBatchDecoder()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode("dwp", data); err != nil {
			b.Fatal(err)
		}
	}
}
