package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"tfmatch/matchkey"
)

// BenchmarkPutBatch writes batches of 5,000 new records with eleven tokens
// each (the shape of an agency's submission) to a store on disk.
func BenchmarkPutBatch(b *testing.B) {
	kinds := []matchkey.Kind{matchkey.NINO, matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.NameSwappedDOB,
		matchkey.InitialSurnameDOBPost, matchkey.PhoneticDOB, matchkey.NameYOBPostcode, matchkey.UPRN,
		matchkey.AddressLine, matchkey.HouseholdGroup, matchkey.UPN}
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size = 5000
	var n uint64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		recs := make([]Record, size)
		for j := range recs {
			n++
			r := Record{Indicators: map[string]bool{"crime_asb": n%7 == 0}}
			binary.BigEndian.PutUint64(r.Ref[:], n)
			for k, kind := range kinds {
				var t Token
				t.Kind = kind
				binary.BigEndian.PutUint64(t.Value[:], n*0x9e3779b97f4a7c15+uint64(k))
				r.Tokens = append(r.Tokens, t)
			}
			recs[j] = r
		}
		if _, err := s.PutBatch(context.Background(), "police", fmt.Sprint(i), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
