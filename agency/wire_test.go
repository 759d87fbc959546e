package agency

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/proto"

	"tfmatch/keys"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// randomBatch makes a batch of n records with every optional part present
// or absent somewhere: no id, epoch 0, records without tokens, filters or
// indicators, an empty kind, an empty indicator name, false indicators,
// and lengths that need multi-byte varints.
func randomBatch(rng *rand.Rand, n int) Batch {
	b := Batch{Epoch: uint32(rng.IntN(3)) * 300}
	if rng.IntN(4) > 0 {
		b.ID = fmt.Sprintf("batch-%d", rng.IntN(1e6))
	}
	fill(rng, b.ISAHash[:])
	// A kind of over 100 bytes makes a token too long for the one-byte
	// length AppendBatch writes by hand for every real kind.
	kinds := []matchkey.Kind{matchkey.NameDOB, matchkey.AddressLine, matchkey.HouseholdGroup, "", matchkey.Kind(strings.Repeat("k", 120))}
	names := []string{"crime", "education", "work", "local", "", "a-much-longer-indicator-name-of-over-one-hundred-and-twenty-eight-bytes-so-that-its-length-needs-two-varint-bytes-when-encoded-as-it-is"}
	for range n {
		var r Record
		fill(rng, r.Ref[:])
		for range rng.IntN(30) {
			t := Token{Kind: kinds[rng.IntN(len(kinds))]}
			fill(rng, t.Value[:])
			r.Tokens = append(r.Tokens, t)
		}
		switch rng.IntN(3) {
		case 0:
		case 1:
			r.Indicators = map[string]bool{}
		default:
			r.Indicators = map[string]bool{}
			for range rng.IntN(len(names) + 1) {
				r.Indicators[names[rng.IntN(len(names))]] = rng.IntN(2) == 0
			}
		}
		if rng.IntN(4) > 0 {
			r.Filter = new(keys.Filter)
			fill(rng, r.Filter[:])
		}
		b.Records = append(b.Records, r)
	}
	return b
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// TestAppendBatchIsProto checks that the sink's own encoding of a batch is
// byte for byte the protobuf library's deterministic encoding of
// BatchToProto, and that batchCodec sizes and frames it right.
func TestAppendBatchIsProto(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	codec := batchCodec{encoding.GetCodecV2(grpcproto.Name)}
	for i := range 200 {
		n := rng.IntN(20)
		if i%50 == 0 {
			n = 400 // above gRPC's buffer pooling threshold
		}
		b := randomBatch(rng, n)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(BatchToProto(b))
		if err != nil {
			t.Fatal(err)
		}
		got := appendBatch(nil, &b)
		if !bytes.Equal(got, want) {
			t.Fatalf("batch %d: appendBatch differs from proto.Marshal:\n got %x\nwant %x", i, got, want)
		}
		if s := batchSize(&b); s != len(want) {
			t.Fatalf("batch %d: batchSize %d, encoding %d bytes", i, s, len(want))
		}
		bs, err := codec.Marshal(wireBatch{&b})
		if err != nil {
			t.Fatal(err)
		}
		if m := bs.Materialize(); !bytes.Equal(m, want) {
			t.Fatalf("batch %d: codec output differs", i)
		}
		bs.Free()
		var back pb.Batch
		if err := proto.Unmarshal(want, &back); err != nil || !proto.Equal(&back, BatchToProto(b)) {
			t.Fatalf("batch %d: does not decode to BatchToProto's message (%v)", i, err)
		}
	}
	// Other messages go through the protobuf codec unchanged.
	bs, err := codec.Marshal(&pb.Receipt{BatchId: "x"})
	if err != nil || len(bs.Materialize()) == 0 {
		t.Errorf("codec on another message: %v", err)
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	batch := randomBatch(rand.New(rand.NewPCG(1, 1)), 2000)
	buf := make([]byte, 0, batchSize(&batch))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendBatch(buf[:0], &batch)
	}
}

func BenchmarkBatchToProtoMarshal(b *testing.B) {
	batch := randomBatch(rand.New(rand.NewPCG(1, 1)), 2000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(BatchToProto(batch)); err != nil {
			b.Fatal(err)
		}
	}
}
