package agency

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "tfmatch/proto/tfmatch/v1"
)

// Receipt is the matcher's acknowledgement of one batch.
type Receipt struct {
	BatchID   string
	Records   int
	Duplicate bool
	Digest    []byte
	Received  *timestamppb.Timestamp
}

// MatcherSink streams batches to the matcher's Submission service and
// collects a receipt for each.
type MatcherSink struct {
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
}

// NewMatcherSink opens a submission stream on conn.
func NewMatcherSink(ctx context.Context, conn grpc.ClientConnInterface) (*MatcherSink, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := pb.NewSubmissionClient(conn).Submit(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("opening submission stream: %w", err)
	}
	s := &MatcherSink{stream: stream, cancel: cancel, done: make(chan struct{})}
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
		s.acked += want.records
		s.receipts = append(s.receipts, Receipt{
			BatchID: r.GetBatchId(), Records: int(r.GetRecords()), Duplicate: r.GetDuplicate(),
			Digest: r.GetDigest(), Received: r.GetReceived(),
		})
		s.mu.Unlock()
	}
}

// Send sends one batch.
func (s *MatcherSink) Send(ctx context.Context, b Batch) error {
	s.mu.Lock()
	if s.recvErr != nil {
		err := s.recvErr
		s.mu.Unlock()
		return err
	}
	s.expected = append(s.expected, sentBatch{id: b.ID, records: len(b.Records)})
	s.mu.Unlock()
	if err := s.stream.Send(BatchToProto(b)); err != nil {
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

// BatchToProto converts a batch to its wire form.
func BatchToProto(b Batch) *pb.Batch {
	out := &pb.Batch{
		BatchId:  b.ID,
		IsaHash:  b.ISAHash[:],
		KeyEpoch: b.Epoch,
		Records:  make([]*pb.Record, len(b.Records)),
	}
	for i, r := range b.Records {
		pr := &pb.Record{Ref: r.Ref[:], Tokens: make([]*pb.Token, len(r.Tokens))}
		if r.Filter != nil {
			pr.Filter = r.Filter[:]
		}
		for j, t := range r.Tokens {
			pr.Tokens[j] = &pb.Token{Kind: string(t.Kind), Value: t.Value[:]}
		}
		if len(r.Indicators) > 0 {
			pr.Indicators = make(map[string]bool, len(r.Indicators))
			names := make([]string, 0, len(r.Indicators))
			for name := range r.Indicators {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				pr.Indicators[name] = r.Indicators[name]
			}
		}
		out.Records[i] = pr
	}
	return out
}
