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
// key) over every agency's extract in districtDir (the first
// stageSampleRows rows of each), on one goroutine, in this process. The
// rows are read and mapped first and not timed. The
// stage runs over slices of the rows in turns with the HMAC limit's loop
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
	var rows []map[string]string
	for _, a := range synth.Agencies() {
		r, err := mappedRows(districtDir, a, asof, stageSampleRows)
		if err != nil {
			return StageRate{}, err
		}
		rows = append(rows, r...)
	}
	if len(rows) == 0 {
		return StageRate{}, fmt.Errorf("match-key stage: no rows in %s", districtDir)
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
	const slice = 1000 // rows per turn
	for next := 0; rate.CPU < d; {
		t0, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		end := min(next+slice, len(rows))
		for _, f := range rows[next:end] {
			rate.Tokens += stage.Tokens(f)
		}
		rate.Records += end - next
		next = end % len(rows)
		t1, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		limit.run(20 * slice) // about as many HMACs as the stage made
		t2, err := processCPU()
		if err != nil {
			return StageRate{}, err
		}
		rate.LimitHMACs += 20 * slice
		rate.CPU += t1 - t0
		rate.LimitCPU += t2 - t1
	}
	return rate, nil
}

// stageSampleRows bounds the rows of each extract MeasureMatchKeyStage
// holds: an agency node streams its extract and never holds it whole, and
// a few hundred thousand rows in memory would make the collector's work,
// not the stage's, grow with the district.
const stageSampleRows = 10000

// mappedRows reads up to max accepted rows of an agency's extract through
// its mapping.
func mappedRows(districtDir, party string, asof time.Time, max int) ([]map[string]string, error) {
	m, err := mapping.Load(filepath.Join(districtDir, "mappings", party+".yaml"))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(districtDir, party+".csv"))
	if err != nil {
		return nil, fmt.Errorf("match-key stage: %w", err)
	}
	defer f.Close()
	rd, err := m.NewReader(f, party+".csv", mapping.ReaderOptions{AsOf: asof})
	if err != nil {
		return nil, err
	}
	var rows []map[string]string
	for len(rows) < max {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		var re *mapping.RowError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("match-key stage: reading %s: %w", party, err)
		}
		rows = append(rows, row.Fields)
	}
	return rows, nil
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
