package server

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"tfmatch/matcher/ingest"
	"tfmatch/matchkey"
	pb "tfmatch/proto/tfmatch/v1"
)

// FuzzBatchFromProto decodes arbitrary bytes as a wire batch, converts it
// to the domain type and offers it to the ingester. Nothing may panic; the
// conversion must keep every record, token and indicator as sent and stamp
// the caller as the source; the ingester must either store the batch or
// refuse it with a documented error and no change to the store.
func FuzzBatchFromProto(f *testing.F) {
	for _, b := range []*pb.Batch{batch("f1", 1), batch("f2", 3), {BatchId: "empty"}, {}} {
		data, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bad := batch("f3", 2)
	bad.Records[1].Ref = bad.Records[1].Ref[:3]
	bad.Records[0].Tokens[0].Kind = "x"
	data, _ := proto.Marshal(bad)
	f.Add(data)

	env := newEnv(f)
	ing := env.server.cfg.Ingester
	f.Fuzz(func(t *testing.T, data []byte) {
		var in pb.Batch
		if err := proto.Unmarshal(data, &in); err != nil {
			return
		}
		b := batchFromProto("police", &in)
		if b.Source != "police" || b.ID != in.GetBatchId() || !bytes.Equal(b.ISAHash, in.GetIsaHash()) || b.Epoch != in.GetKeyEpoch() {
			t.Fatalf("batch header not converted as sent")
		}
		if len(b.Records) != len(in.GetRecords()) {
			t.Fatalf("%d records converted from %d", len(b.Records), len(in.GetRecords()))
		}
		for i, r := range in.GetRecords() {
			br := b.Records[i]
			if !bytes.Equal(br.Ref, r.GetRef()) || len(br.Tokens) != len(r.GetTokens()) || len(br.Indicators) != len(r.GetIndicators()) {
				t.Fatalf("record %d not converted as sent", i)
			}
			for j, tk := range r.GetTokens() {
				if string(br.Tokens[j].Kind) != tk.GetKind() || !bytes.Equal(br.Tokens[j].Value, tk.GetValue()) {
					t.Fatalf("record %d token %d not converted as sent", i, j)
				}
			}
		}
		before, err := env.store.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = ing.Accept(context.Background(), b)
		if err == nil {
			return
		}
		if !errors.Is(err, ingest.ErrInvalid) && !errors.Is(err, ingest.ErrWrongAgreement) {
			t.Fatalf("refusal %v wraps no documented error", err)
		}
		after, err := env.store.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if after.Records != before.Records || after.Batches != before.Batches {
			t.Fatalf("a refused batch changed the store")
		}
	})
}

// batchFromProto is the reference batchDecoder is held to: a batch as the
// generated code decodes it, converted field by field.
func batchFromProto(party string, in *pb.Batch) ingest.Batch {
	b := ingest.Batch{
		Source:  party,
		ID:      in.GetBatchId(),
		ISAHash: in.GetIsaHash(),
		Epoch:   in.GetKeyEpoch(),
		Records: make([]ingest.Record, len(in.GetRecords())),
	}
	for i, r := range in.GetRecords() {
		rec := ingest.Record{Ref: r.GetRef(), Tokens: make([]ingest.Token, len(r.GetTokens())), Indicators: r.GetIndicators(), Filter: r.GetFilter()}
		for j, t := range r.GetTokens() {
			rec.Tokens[j] = ingest.Token{Kind: matchkey.Kind(t.GetKind()), Value: t.GetValue()}
		}
		b.Records[i] = rec
	}
	return b
}
