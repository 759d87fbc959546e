package mapping

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchCSV generates n rows for benchMapping.
func benchCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("NOMINAL_REF,FORENAME,SURNAME,DOB,ADDR_1,TOWN,POSTCODE,FAMILY_REF,OUTCOME,OFFENCE_DATE,ASB_DATE,CALLOUTS\n")
	outcomes := []string{"PROVEN", "NFA", "CHARGED", ""}
	for i := range n {
		asb := ""
		if i%7 == 0 {
			asb = fmt.Sprintf("2025-%02d-%02d", i%12+1, i%28+1)
		}
		fmt.Fprintf(&b, "P%07d,Given%d,Family%d,%02d/%02d/%d,%d High Street,Leeds,LS%d %dAB,F%d,%s,%02d/%02d/%d,%s,%d\n",
			i, i%500, i%900, i%28+1, i%12+1, 1950+i%70, i%200, i%20, i%10, i/3,
			outcomes[i%4], i%28+1, i%12+1, 2020+i%7, asb, i%6)
	}
	return b.Bytes()
}

const benchMapping = `version: 1
source: police
fields:
  record_id: NOMINAL_REF
  given_name: FORENAME
  family_name: SURNAME
  dob: {column: DOB, format: DD/MM/YYYY}
  address: {columns: [ADDR_1, TOWN], separator: ", "}
  postcode: POSTCODE
  household_ref: FAMILY_REF
dates:
  OFFENCE_DATE: [DD/MM/YYYY]
  ASB_DATE: [YYYY-MM-DD]
indicators:
  crime_asb: >-
    (age >= 0 && age < 18 && row.OUTCOME == "PROVEN" && 'OFFENCE_DATE' in date && months_since(date.OFFENCE_DATE) < 12)
    || ('ASB_DATE' in date && months_since(date.ASB_DATE) < 12)
  local_concern: num(row.CALLOUTS) >= 3.0
`

// BenchmarkReader reads 100k generated rows through a mapping with two
// indicators and reports rows per second.
func BenchmarkReader(b *testing.B) {
	m, err := Parse([]byte(benchMapping), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	const rows = 100_000
	data := benchCSV(rows)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rd, err := m.NewReader(bytes.NewReader(data), "bench.csv", ReaderOptions{AsOf: asof})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
