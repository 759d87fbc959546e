package agency

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"

	"tfmatch/agency/mapping"
	"tfmatch/keys"
	"tfmatch/synth"
)

// wireSink encodes every batch as the matcher sink does (batchCodec) and
// drops it, so a benchmark of Run measures the agency's own work without a
// matcher.
type wireSink struct{ records int }

func (s *wireSink) Send(_ context.Context, b Batch) error {
	bs, err := batchCodec{encoding.GetCodecV2(grpcproto.Name)}.Marshal(wireBatch{&b})
	if err != nil {
		return err
	}
	bs.Free()
	s.records += len(b.Records)
	return nil
}

func (s *wireSink) Close(context.Context) (int, error) { return s.records, nil }

// BenchmarkRun runs the whole agency pipeline on the council extract of a
// synthetic district of 5,000 households (about 3,300 records): CSV,
// normalise, derive, tokens, Bloom filter, vault (badger, fsync) and the
// wire encoding. It reports records and tokens per second of wall time;
// `go test -cpu 1` gives the rate per core.
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	d, err := synth.Generate(synth.Config{Seed: 1, Households: 5000})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.WriteDir(dir); err != nil {
		b.Fatal(err)
	}
	m := loadMapping(b, filepath.Join(dir, "mappings", synth.Council+".yaml"))
	k := newKeys(b)
	v := openVault(b)
	cfg := Config{Source: synth.Council, Mapping: m, Extract: filepath.Join(dir, synth.Council+".csv"), AsOf: synth.DefaultAsOf(), Keys: k}
	b.ReportAllocs()
	b.ResetTimer()
	var records, tokens int
	cpu0 := processCPU(b)
	for b.Loop() {
		sum, err := Run(context.Background(), cfg, v, &wireSink{})
		if err != nil {
			b.Fatal(err)
		}
		records += sum.Accepted
		tokens += sum.Tokens
	}
	cpu := processCPU(b) - cpu0
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/sec, "records/s")
	b.ReportMetric(float64(tokens)/sec, "tokens/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(records), "µs/record")
	b.ReportMetric(cpu.Seconds()*1e6/float64(records), "cpu-µs/record")
}

// BenchmarkMatchKeyStage measures the match-key stage alone (normalise,
// derive, one HMAC per key) over the rows of every agency of a synthetic
// district of 2,000 households, as matchctl bench does in-process: each
// row's fields in a map (mapping.Reader.Next, MatchKeyStage.Tokens). It
// reports tokens per second of one goroutine, the time and the processor
// time per record, and the stage's share of the HMAC limit: after each
// pass over the rows, the limit's loop (reused HMAC state, a short key)
// makes as many HMACs as the pass made tokens, and the share is the
// limit's processor time per HMAC over the stage's per token. The two
// take turns, so on a shared machine both see the same load.
func BenchmarkMatchKeyStage(b *testing.B) {
	rows := stageRows(b)
	benchmarkStage(b, len(rows), func(s *MatchKeyStage, i int) int { return s.Tokens(rows[i].Fields) })
}

// BenchmarkMatchKeyStageValues is BenchmarkMatchKeyStage with each row's
// fields as Run reads them (mapping.Reader.NextValues,
// MatchKeyStage.TokensValues): without a map.
func BenchmarkMatchKeyStageValues(b *testing.B) {
	rows := stageRows(b)
	benchmarkStage(b, len(rows), func(s *MatchKeyStage, i int) int { return s.TokensValues(&rows[i].Values) })
}

// stageRows reads the rows of every agency of a synthetic district of
// 2,000 households.
func stageRows(b *testing.B) []mapping.Row {
	dir := b.TempDir()
	d, err := synth.Generate(synth.Config{Seed: 1, Households: 2000})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.WriteDir(dir); err != nil {
		b.Fatal(err)
	}
	var rows []mapping.Row
	for _, a := range synth.Agencies() {
		rows = append(rows, readRows(b, dir, a)...)
	}
	return rows
}

// benchmarkStage runs the stage over n rows, row i by tokens(stage, i),
// as BenchmarkMatchKeyStage describes.
func benchmarkStage(b *testing.B, n int, tokens func(s *MatchKeyStage, i int) int) {
	ps, err := NewPseudonymiser(newKeys(b))
	if err != nil {
		b.Fatal(err)
	}
	stage := ps.NewMatchKeyStage()
	limit := hmac.New(sha256.New, make([]byte, 32))
	msg := keys.AppendCanonical(nil, []string{"william", "smith", "2013-04-01"})
	var sum [sha256.Size]byte
	b.ReportAllocs()
	b.ResetTimer()
	made, records := 0, 0
	var stageCPU, limitCPU time.Duration
	for b.Loop() {
		t0 := processCPU(b)
		pass := 0
		for i := range n {
			pass += tokens(stage, i)
		}
		t1 := processCPU(b)
		b.StopTimer()
		for range pass {
			limit.Reset()
			limit.Write(msg)
			limit.Sum(sum[:0])
		}
		t2 := processCPU(b)
		b.StartTimer()
		made += pass
		records += n
		stageCPU += t1 - t0
		limitCPU += t2 - t1
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(made)/sec, "tokens/s")
	b.ReportMetric(sec*1e6/float64(records), "µs/record")
	if stageCPU > 0 { // not where processCPU is not read
		b.ReportMetric(stageCPU.Seconds()*1e6/float64(records), "cpu-µs/record")
		b.ReportMetric(100*limitCPU.Seconds()/stageCPU.Seconds(), "%-of-limit")
	}
}

// readRows reads an agency's extract of a district written in dir through
// its mapping.
func readRows(b *testing.B, dir, agency string) []mapping.Row {
	b.Helper()
	m := loadMapping(b, filepath.Join(dir, "mappings", agency+".yaml"))
	f, err := os.Open(filepath.Join(dir, agency+".csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	asof, err := synth.AsOf(dir)
	if err != nil {
		b.Fatal(err)
	}
	rd, err := m.NewReader(f, agency+".csv", mapping.ReaderOptions{AsOf: asof})
	if err != nil {
		b.Fatal(err)
	}
	var rows []mapping.Row
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err == nil {
			rows = append(rows, row)
		}
	}
}
