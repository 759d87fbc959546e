package agency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"tfmatch/audit"
	"tfmatch/keys"
	pb "tfmatch/proto/tfmatch/v1"
)

// Receipt is the matcher's acknowledgement of one batch.
type Receipt struct {
	BatchID   string
	Records   int
	Duplicate bool
	Digest    []byte
	Received  *timestamppb.Timestamp
	// Audit is the audit receipt of the batch's submission entry in the
	// matcher's log: the signed checkpoint, the entry and its inclusion
	// proof. Auditors check the log against it.
	Audit audit.Receipt
}

// SinkConfig configures a MatcherSink. The zero value keeps audit receipts
// in memory only and checks them against the batch sent but not against
// the matcher's key.
type SinkConfig struct {
	// Source is the agency's party id; when set, each receipt's entry
	// must name it.
	Source string
	// ReceiptsDir, when set, receives each batch's audit receipt once
	// checked, as <batch id>.json (audit.WriteReceipt). It must exist.
	ReceiptsDir string
	// AuditVerifier, when set, is the matcher's audit log verifier key
	// (from a trusted source, not from the matcher): every receipt must
	// verify against it, or the stream ends with an error.
	AuditVerifier note.Verifier
}

// MatcherSink streams batches to the matcher's Submission service and
// collects a receipt for each. Each receipt's audit part must record the
// batch as sent (its id, agreement, key epoch, record count and digest);
// a receipt that does not ends the stream with an error.
type MatcherSink struct {
	cfg    SinkConfig
	stream pb.Submission_SubmitClient
	cancel context.CancelFunc

	mu       sync.Mutex
	expected []sentBatch // batches sent and not yet acknowledged, in order
	receipts []Receipt
	acked    int
	recvErr  error
	done     chan struct{}
}

type sentBatch struct {
	id      string
	records int
	isaHash [32]byte
	epoch   uint32
}

// NewMatcherSink opens a submission stream on conn.
func NewMatcherSink(ctx context.Context, conn grpc.ClientConnInterface, cfg SinkConfig) (*MatcherSink, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := pb.NewSubmissionClient(conn).Submit(ctx, grpc.ForceCodecV2(batchCodec{encoding.GetCodecV2(grpcproto.Name)}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening submission stream: %w", err)
	}
	s := &MatcherSink{cfg: cfg, stream: stream, cancel: cancel, done: make(chan struct{})}
	go s.receive()
	return s, nil
}

func (s *MatcherSink) receive() {
	defer close(s.done)
	for {
		r, err := s.stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		s.mu.Lock()
		if err != nil {
			s.recvErr = fmt.Errorf("matcher: %w", err)
			s.mu.Unlock()
			return
		}
		if len(s.expected) == 0 || s.expected[0].id != r.GetBatchId() {
			s.recvErr = fmt.Errorf("matcher sent a receipt for unexpected batch %q", r.GetBatchId())
			s.mu.Unlock()
			return
		}
		want := s.expected[0]
		s.expected = s.expected[1:]
		if int(r.GetRecords()) != want.records {
			s.recvErr = fmt.Errorf("matcher acknowledged %d of %d records in batch %s", r.GetRecords(), want.records, want.id)
			s.mu.Unlock()
			return
		}
		rc := Receipt{
			BatchID: r.GetBatchId(), Records: int(r.GetRecords()), Duplicate: r.GetDuplicate(),
			Digest: r.GetDigest(), Received: r.GetReceived(),
			Audit: audit.Receipt{Checkpoint: r.GetCheckpoint(), Index: r.GetLogIndex(), Proof: r.GetInclusionProof(), Entry: r.GetLogEntry()},
		}
		if err := s.keepAuditReceipt(want, rc); err != nil {
			s.recvErr = fmt.Errorf("batch %s: %w", want.id, err)
			s.mu.Unlock()
			return
		}
		s.acked += want.records
		s.receipts = append(s.receipts, rc)
		s.mu.Unlock()
	}
}

// keepAuditReceipt checks the audit receipt of batch b and writes it to
// the receipts directory.
func (s *MatcherSink) keepAuditReceipt(b sentBatch, r Receipt) error {
	if len(r.Audit.Entry) == 0 || len(r.Audit.Checkpoint) == 0 {
		return errors.New("the matcher sent no audit receipt")
	}
	e, err := audit.DecodeEntry(r.Audit.Entry)
	if err != nil {
		return fmt.Errorf("audit receipt: %w", err)
	}
	var problems []string
	if e.Kind != audit.KindSubmission {
		problems = append(problems, "kind "+e.Kind.String())
	}
	if s.cfg.Source != "" && e.Party != s.cfg.Source {
		problems = append(problems, "another party")
	}
	if e.BatchID != b.id {
		problems = append(problems, "another batch")
	}
	if e.ISAHash != b.isaHash || e.KeyEpoch != b.epoch {
		problems = append(problems, "another agreement or key epoch")
	}
	if e.RecordCount != uint64(b.records) {
		problems = append(problems, fmt.Sprintf("%d records, not %d", e.RecordCount, b.records))
	}
	if !bytes.Equal(e.BatchDigest[:], r.Digest) {
		problems = append(problems, "another digest than the receipt's")
	}
	if len(problems) > 0 {
		return fmt.Errorf("the audit entry does not record the batch sent: %s", strings.Join(problems, ", "))
	}
	if s.cfg.AuditVerifier != nil {
		if err := audit.VerifyReceipt(r.Audit, s.cfg.AuditVerifier); err != nil {
			return fmt.Errorf("audit receipt does not verify against the matcher's key: %w", err)
		}
	}
	if s.cfg.ReceiptsDir != "" {
		if err := audit.WriteReceipt(filepath.Join(s.cfg.ReceiptsDir, ReceiptFileName(b.id)), r.Audit); err != nil {
			return err
		}
	}
	return nil
}

// ReceiptFileName is the name of the file a batch's audit receipt is kept
// in: the batch id and ".json", with every byte other than a letter, a
// digit, '-', '_' or '.' replaced by '_' (and a leading '.' too, and "_"
// for an empty id), so that the name stays inside the directory. (Batch
// ids that differ only in replaced bytes share a file; the node's own ids
// never do.)
func ReceiptFileName(batchID string) string {
	if batchID == "" {
		return "_.json"
	}
	b := []byte(batchID)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || (c == '.' && i > 0)
		if !ok {
			b[i] = '_'
		}
	}
	return string(b) + ".json"
}

// Send sends one batch.
func (s *MatcherSink) Send(ctx context.Context, b Batch) error {
	s.mu.Lock()
	if s.recvErr != nil {
		err := s.recvErr
		s.mu.Unlock()
		return err
	}
	s.expected = append(s.expected, sentBatch{id: b.ID, records: len(b.Records), isaHash: b.ISAHash, epoch: b.Epoch})
	s.mu.Unlock()
	if err := s.stream.SendMsg(wireBatch{&b}); err != nil {
		if errors.Is(err, io.EOF) {
			// The server ended the stream; the reason arrives on Recv.
			<-s.done
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.recvErr != nil {
				return s.recvErr
			}
		}
		return fmt.Errorf("sending batch: %w", err)
	}
	return nil
}

// Close ends the stream and waits for the outstanding receipts.
func (s *MatcherSink) Close(ctx context.Context) (int, error) {
	defer s.cancel()
	if err := s.stream.CloseSend(); err != nil {
		return 0, fmt.Errorf("closing submission stream: %w", err)
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recvErr != nil {
		return s.acked, s.recvErr
	}
	if len(s.expected) > 0 {
		return s.acked, fmt.Errorf("matcher closed the stream with %d batches unacknowledged", len(s.expected))
	}
	return s.acked, nil
}

// Receipts returns the receipts collected so far.
func (s *MatcherSink) Receipts() []Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Receipt(nil), s.receipts...)
}

// BatchToProto converts a batch to its wire form. References, filters and
// token values are copied, so a later change to b does not alter the
// result; the indicator maps are shared with b (a record's indicators are
// never changed once its row is read). The records, tokens and bytes are
// cut from a few slabs per batch rather than allocated one by one.
func BatchToProto(b Batch) *pb.Batch {
	n, filters := 0, 0
	for i := range b.Records {
		n += len(b.Records[i].Tokens)
		if b.Records[i].Filter != nil {
			filters++
		}
	}
	records := make([]pb.Record, len(b.Records))
	tokens := make([]pb.Token, n)
	ptrs := make([]*pb.Token, n)
	bytes := make([]byte, 0, len(b.Records)*len(keys.Ref{})+n*len(keys.Token{})+filters*keys.FilterBytes)
	clone := func(v []byte) []byte {
		l := len(bytes)
		bytes = append(bytes, v...)
		return bytes[l:len(bytes):len(bytes)]
	}
	out := &pb.Batch{
		BatchId:  b.ID,
		IsaHash:  append([]byte(nil), b.ISAHash[:]...),
		KeyEpoch: b.Epoch,
		Records:  make([]*pb.Record, len(b.Records)),
	}
	for i := range b.Records {
		r := &b.Records[i]
		pr := &records[i]
		pr.Ref = clone(r.Ref[:])
		if r.Filter != nil {
			pr.Filter = clone(r.Filter[:])
		}
		pr.Tokens, ptrs = ptrs[:len(r.Tokens):len(r.Tokens)], ptrs[len(r.Tokens):]
		for j := range r.Tokens {
			pt := &tokens[0]
			tokens = tokens[1:]
			pt.Kind, pt.Value = string(r.Tokens[j].Kind), clone(r.Tokens[j].Value[:])
			pr.Tokens[j] = pt
		}
		if len(r.Indicators) > 0 {
			pr.Indicators = r.Indicators
		}
		out.Records[i] = pr
	}
	return out
}

// wireBatch is a batch handed to the submission stream: batchCodec encodes
// it straight from the Batch, without building the pb.Batch that
// BatchToProto makes.
type wireBatch struct{ b *Batch }

// batchCodec is the submission stream's codec: the protobuf codec, except
// that it encodes a wireBatch with appendBatch into a buffer from gRPC's
// pool. Its name is the protobuf codec's, so the matcher decodes the
// stream as it always has.
type batchCodec struct{ encoding.CodecV2 }

// Marshal encodes v.
func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) {
	wb, ok := v.(wireBatch)
	if !ok {
		return c.CodecV2.Marshal(v)
	}
	size := batchSize(wb.b)
	pool := mem.DefaultBufferPool()
	if mem.IsBelowBufferPoolingThreshold(size) {
		pool = nil
	}
	var buf *[]byte
	if pool != nil {
		buf = pool.Get(size)
	} else {
		b := make([]byte, 0, size)
		buf = &b
	}
	*buf = appendBatch((*buf)[:0], wb.b)
	if len(*buf) != size {
		return nil, fmt.Errorf("internal: batch encoded in %d bytes, sized at %d", len(*buf), size)
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Encoded lengths: every field number is below 16 (a one-byte tag), a
// reference (16 bytes), a token value and the agreement's hash (32) have
// a one-byte length, a filter (128) a two-byte one.
const (
	tagSize         = 1
	refField        = tagSize + 1 + len(keys.Ref{})
	tokenValueField = tagSize + 1 + len(keys.Token{})
	isaHashField    = tagSize + 1 + 32
	filterField     = tagSize + 2 + keys.FilterBytes
	// A map entry holds its key and its value even when they are zero.
	indicatorFixed = tagSize + tagSize + 1
)

// appendBatch appends b's protobuf encoding: the bytes
// proto.MarshalOptions{Deterministic: true}.Marshal(BatchToProto(b))
// gives (fields in number order, fields at their zero value left out
// except a map entry's, indicators in name order), which
// TestAppendBatchIsProto checks. It costs a fraction of building and
// marshalling the pb.Batch, and allocates nothing.
func appendBatch(dst []byte, b *Batch) []byte {
	if b.ID != "" {
		dst = protowire.AppendTag(dst, pb.BatchIDField, protowire.BytesType)
		dst = protowire.AppendString(dst, b.ID)
	}
	dst = protowire.AppendTag(dst, pb.BatchISAHashField, protowire.BytesType)
	dst = protowire.AppendBytes(dst, b.ISAHash[:])
	if b.Epoch != 0 {
		dst = protowire.AppendTag(dst, pb.BatchKeyEpochField, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(b.Epoch))
	}
	var names []string
	for i := range b.Records {
		r := &b.Records[i]
		dst = protowire.AppendTag(dst, pb.BatchRecordsField, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(recordSize(r)))
		dst = protowire.AppendTag(dst, pb.RecordRefField, protowire.BytesType)
		dst = protowire.AppendBytes(dst, r.Ref[:])
		for j := range r.Tokens {
			dst = appendToken(dst, &r.Tokens[j])
		}
		if len(r.Indicators) > 0 {
			names = names[:0]
			for name := range r.Indicators {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				dst = protowire.AppendTag(dst, pb.RecordIndicatorsField, protowire.BytesType)
				dst = protowire.AppendVarint(dst, uint64(indicatorSize(name)))
				dst = protowire.AppendTag(dst, pb.IndicatorNameField, protowire.BytesType)
				dst = protowire.AppendString(dst, name)
				dst = protowire.AppendTag(dst, pb.IndicatorValueField, protowire.VarintType)
				dst = protowire.AppendVarint(dst, protowire.EncodeBool(r.Indicators[name]))
			}
		}
		if r.Filter != nil {
			dst = protowire.AppendTag(dst, pb.RecordFilterField, protowire.BytesType)
			dst = protowire.AppendBytes(dst, r.Filter[:])
		}
	}
	return dst
}

// appendToken appends a token's encoding as a field of its record.
func appendToken(dst []byte, t *Token) []byte {
	size := tokenSize(t)
	if size < 0x80 {
		// Every tag and length is one byte (the kind is shorter than the
		// token): a few appends, where protowire's would each work out
		// the length of a varint. Every kind takes this path.
		dst = append(dst, tokenTag, byte(size))
		if t.Kind != "" {
			dst = append(dst, tokenKindTag, byte(len(t.Kind)))
			dst = append(dst, t.Kind...)
		}
		dst = append(dst, tokenValueTag, byte(len(t.Value)))
		return append(dst, t.Value[:]...)
	}
	dst = protowire.AppendTag(dst, pb.RecordTokensField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	if t.Kind != "" {
		dst = protowire.AppendTag(dst, pb.TokenKindField, protowire.BytesType)
		dst = protowire.AppendString(dst, string(t.Kind))
	}
	dst = protowire.AppendTag(dst, pb.TokenValueField, protowire.BytesType)
	return protowire.AppendBytes(dst, t.Value[:])
}

// The one-byte tags of a token's fields, as protowire.AppendTag writes
// them.
const (
	tokenTag      = pb.RecordTokensField<<3 | byte(protowire.BytesType)
	tokenKindTag  = pb.TokenKindField<<3 | byte(protowire.BytesType)
	tokenValueTag = pb.TokenValueField<<3 | byte(protowire.BytesType)
)

// batchSize is the length of appendBatch's encoding of b.
func batchSize(b *Batch) int {
	n := isaHashField
	if b.ID != "" {
		n += tagSize + protowire.SizeBytes(len(b.ID))
	}
	if b.Epoch != 0 {
		n += tagSize + protowire.SizeVarint(uint64(b.Epoch))
	}
	for i := range b.Records {
		n += tagSize + protowire.SizeBytes(recordSize(&b.Records[i]))
	}
	return n
}

// recordSize is the length of a record's encoding.
func recordSize(r *Record) int {
	n := refField
	for j := range r.Tokens {
		n += tagSize + protowire.SizeBytes(tokenSize(&r.Tokens[j]))
	}
	for name := range r.Indicators {
		n += tagSize + protowire.SizeBytes(indicatorSize(name))
	}
	if r.Filter != nil {
		n += filterField
	}
	return n
}

// tokenSize is the length of a token's encoding.
func tokenSize(t *Token) int {
	n := tokenValueField
	if t.Kind != "" {
		n += tagSize + protowire.SizeBytes(len(t.Kind))
	}
	return n
}

// indicatorSize is the length of an indicators map entry's encoding.
func indicatorSize(name string) int {
	return indicatorFixed + protowire.SizeBytes(len(name))
}
