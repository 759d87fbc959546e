package devnet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"tfmatch/agency"
	"tfmatch/agency/mapping"
	"tfmatch/agency/normalize"
	"tfmatch/keys"
	"tfmatch/synth"
)

// StageRate is what an in-process measurement of a stage did: the
// records and tokens it made and the processor time it took, and the
// HMACs of the limit loop made in turns with it and their processor time.
type StageRate struct {
	Records, Tokens int
	CPU             time.Duration
	LimitHMACs      int
	LimitCPU        time.Duration
}

// MeasureMatchKeyStage measures the match-key stage of pseudonymisation on
// its own (agency.MatchKeyStage: normalise, derive every key, one HMAC per
// key) over every agency's extract in districtDir, on one goroutine, in
// this process. It sees the rows as a node does: read through the
// agency's mapping as normalize.Values (Reader.NextValues, the form the
// node's workers take them in) a slice of stageSlice rows at a time (not
// timed), the
// agencies in turn, each extract from the start again when it ends, so
// each slice is fresh from the reader and only one slice is held. The
// stage runs over each slice in turns with the HMAC limit's loop
// (MeasureHMACLimit), each timed by the process's processor time (user and
// system, so the garbage collector's work on other cores counts too),
// until the stage has taken at least d: on a shared machine both then see
// the same load, and time spent descheduled counts for neither. Nothing
// else should run in the process meanwhile. The keys are fresh random
// ones: the cost does not depend on them.
func MeasureMatchKeyStage(districtDir string, d time.Duration) (StageRate, error) {
	asof, err := synth.AsOf(districtDir)
	if err != nil {
		return StageRate{}, err
	}
	var srcs []*rowSource
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	for _, a := range synth.Agencies() {
		m, err := mapping.Load(filepath.Join(districtDir, "mappings", a+".yaml"))
		if err != nil {
			return StageRate{}, err
		}
		srcs = append(srcs, &rowSource{path: filepath.Join(districtDir, a+".csv"), m: m, asof: asof})
	}
	secret, err := keys.NewProgrammeSecret()
	if err != nil {
		return StageRate{}, err
	}
	local, err := keys.NewLocalKey()
	if err != nil {
		return StageRate{}, err
	}
	ps, err := agency.NewPseudonymiser(agency.Keys{Secret: secret, Local: local,
		Context: keys.Context{ISAHash: keys.HashISA([]byte("match-key stage measurement")), Epoch: 1}})
	if err != nil {
		return StageRate{}, err
	}
	stage := ps.NewMatchKeyStage()
	limit := newLimitHMAC()
	var rate StageRate
	rows := make([]normalize.Values, 0, stageSlice)
	empty := 0 // agencies in a row that gave no rows
	for turn := 0; rate.CPU < d; turn++ {
		src := srcs[turn%len(srcs)]
		if rows, err = src.fill(rows[:0], stageSlice); err != nil {
			return StageRate{}, err
		}
		if len(rows) == 0 {
			if empty++; empty == len(srcs) {
				return StageRate{}, fmt.Errorf("match-key stage: no rows in %s", districtDir)
			}
			continue
		}
		empty = 0
		t0, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		for i := range rows {
			rate.Tokens += stage.TokensValues(&rows[i])
		}
		rate.Records += len(rows)
		t1, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		hmacs := 20 * len(rows) // about as many HMACs as the stage made
		limit.run(hmacs)
		t2, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		rate.LimitHMACs += hmacs
		rate.CPU += t1 - t0
		rate.LimitCPU += t2 - t1
	}
	return rate, nil
}

// stageSlice is how many rows MeasureMatchKeyStage reads, and then
// times, at once: about what a node's reader hands its workers.
const stageSlice = 1000

// rowSource reads one agency's extract through its mapping, from the
// start again each time it ends.
type rowSource struct {
	path string
	m    *mapping.Mapping
	asof time.Time
	f    *os.File
	rd   *mapping.Reader
}

// fill appends up to n accepted rows to dst. At the end of the extract it
// starts again, once per call: an extract with no rows gives none.
func (s *rowSource) fill(dst []normalize.Values, n int) ([]normalize.Values, error) {
	restarted := false
	for len(dst) < n {
		if s.rd == nil {
			f, err := os.Open(s.path)
			if err != nil {
				return dst, fmt.Errorf("match-key stage: %w", err)
			}
			rd, err := s.m.NewReader(f, filepath.Base(s.path), mapping.ReaderOptions{AsOf: s.asof})
			if err != nil {
				f.Close()
				return dst, err
			}
			s.f, s.rd = f, rd
		}
		row, err := s.rd.NextValues()
		var re *mapping.RowError
		switch {
		case errors.Is(err, io.EOF):
			s.close()
			if restarted {
				return dst, nil
			}
			restarted = true
		case errors.As(err, &re):
			// A rejected row: the node skips it too.
		case err != nil:
			return dst, fmt.Errorf("match-key stage: reading %s: %w", s.path, err)
		default:
			dst = append(dst, row.Values)
		}
	}
	return dst, nil
}

func (s *rowSource) close() {
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.rd = nil, nil
}

// processCPU is the processor time this process has used, user and
// system.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
