package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"tfmatch/agency/derive"
	"tfmatch/agency/mapping"
	"tfmatch/agency/normalize"
)

// cmdCheck runs an extract through its mapping and the normaliser without
// pseudonymising or sending anything, and prints one CSV row per input row:
// its line, record id, whether it would be accepted, why not, and every
// indicator. An agency uses it to test a mapping on its own machine.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr)
	mapFile := fs.String("mapping", "", "mapping file (required)")
	extract := fs.String("extract", "", "CSV extract (required)")
	asof := fs.String("asof", "", "reference date for indicators, YYYY-MM-DD (default today)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *mapFile == "" || *extract == "" {
		return usageError{"-mapping and -extract are required"}
	}
	var opts mapping.ReaderOptions
	if *asof != "" {
		t, err := time.Parse(time.DateOnly, *asof)
		if err != nil {
			return usageError{fmt.Sprintf("-asof: want YYYY-MM-DD, got %q", *asof)}
		}
		opts.AsOf = t
	}
	m, err := mapping.Load(*mapFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*extract)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := m.NewReader(f, filepath.Base(*extract), opts)
	if err != nil {
		return err
	}
	inds := m.Indicators()
	w := csv.NewWriter(stdout)
	header := append([]string{"line", "record_id", "status", "field", "reason", "match_keys"}, inds...)
	if err := w.Write(header); err != nil {
		return err
	}
	var rows, rejected int
	counts := make([]int, len(inds))
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		rows++
		var re *mapping.RowError
		if errors.As(err, &re) {
			rejected++
			_ = w.Write(append([]string{strconv.Itoa(re.Line), "", "rejected", re.Field, re.Reason, ""}, make([]string, len(inds))...))
			continue
		}
		if err != nil {
			return err
		}
		rec := []string{strconv.Itoa(row.Line), row.Fields[normalize.FieldRecordID], "accepted", "", "", ""}
		p, _, nerr := normalize.Normalize(row.Fields)
		var fe *normalize.FieldError
		switch {
		case errors.As(nerr, &fe):
			rec[2], rec[3], rec[4] = "rejected", fe.Field, fe.Reason
		case nerr != nil:
			rec[2], rec[4] = "rejected", nerr.Error()
		default:
			n := len(derive.PersonKeys(p))
			if n == 0 {
				rec[2], rec[4] = "rejected", "no match key can be made: needs a name and date of birth, or an identifier"
			}
			rec[5] = strconv.Itoa(n)
		}
		if rec[2] == "rejected" {
			rejected++
		}
		for i, name := range inds {
			v := "0"
			if row.Indicators[name] {
				v = "1"
				counts[i]++
			}
			rec = append(rec, v)
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d rows, %d accepted, %d rejected", filepath.Base(*extract), rows, rows-rejected, rejected)
	for i, name := range inds {
		fmt.Fprintf(stderr, "; %s %d", name, counts[i])
	}
	fmt.Fprintln(stderr)
	return nil
}
