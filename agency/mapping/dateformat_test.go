package mapping

import (
	"strings"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	const ref = 2026
	tests := []struct {
		format, value string
		want          string // YYYY-MM-DD, or "" for not a date
	}{
		{"DD/MM/YYYY", "03/04/2010", "2010-04-03"},
		{"DD/MM/YYYY", "3/04/2010", ""},
		{"D/M/YYYY", "3/4/2010", "2010-04-03"},
		{"D/M/YYYY", "03/04/2010", "2010-04-03"},
		{"D/M/YYYY", "123/4/2010", ""},
		{"YYYY-MM-DD", "2010-04-03", "2010-04-03"},
		{"YYYYMMDD", "20100403", "2010-04-03"},
		{"YYYYMMDD", "2010043", ""},
		{"YYYYMMDD", "201004030", ""},
		{"MM/DD/YYYY", "04/03/2010", "2010-04-03"},
		{"DD-MON-YYYY", "03-Apr-2010", "2010-04-03"},
		{"DD-MON-YYYY", "03-APR-2010", "2010-04-03"},
		{"DD-MON-YYYY", "03-apr-2010", "2010-04-03"},
		{"DD-MON-YYYY", "03-April-2010", ""},
		{"DD-MON-YY", "03-SEP-99", "1999-09-03"},
		{"D MONTH YYYY", "3 April 2010", "2010-04-03"},
		{"D MONTH YYYY", "3   april   2010", "2010-04-03"},
		{"D MONTH YYYY", "3\tAPRIL 2010", "2010-04-03"},
		{"D MONTH YYYY", "3April 2010", ""},
		{"D MONTH YYYY", "3 Apr 2010", ""},
		{"MONTH D, YYYY", "September 30, 2001", "2001-09-30"},
		{"DD.MM.YY", "01.02.26", "2026-02-01"},
		{"DD.MM.YY", "01.02.27", "1927-02-01"},
		{"DD.MM.YY", "01.02.00", "2000-02-01"},
		{"DD.MM.YY", "01.02.99", "1999-02-01"},
		// calendar checks
		{"DD/MM/YYYY", "31/02/2013", ""},
		{"DD/MM/YYYY", "29/02/2013", ""},
		{"DD/MM/YYYY", "29/02/2012", "2012-02-29"},
		{"DD/MM/YYYY", "29/02/2000", "2000-02-29"},
		{"DD/MM/YYYY", "29/02/1900", ""},
		{"DD/MM/YYYY", "31/04/2010", ""},
		{"DD/MM/YYYY", "31/12/2010", "2010-12-31"},
		{"DD/MM/YYYY", "00/01/2010", ""},
		{"DD/MM/YYYY", "01/13/2010", ""},
		{"DD/MM/YYYY", "01/00/2010", ""},
		{"DD/MM/YYYY", "01/01/0000", ""},
		{"DD/MM/YYYY", "01/01/0001", "0001-01-01"},
		// separators and trailing text
		{"DD/MM/YYYY", "03-04-2010", ""},
		{"DD/MM/YYYY", "03/04/2010 00:00", ""},
		{"DD/MM/YYYY*", "03/04/2010 00:00", "2010-04-03"},
		{"DD/MM/YYYY*", "03/04/2010", "2010-04-03"},
		{"YYYY-MM-DD*", "2010-04-03T10:11:12Z", "2010-04-03"},
		{"DD/MM/YYYY", "", ""},
		{"DD/MM/YYYY", "+3/04/2010", ""},
		{"DD/MM/YYYY", "٠٣/04/2010", ""}, // non-ASCII digits
		{"yyyy-mm-dd", "2010-04-03", "2010-04-03"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.value, func(t *testing.T) {
			f, err := compileDateFormat(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.parse(tt.value, ref)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parsed as %s, want rejection", isoDate(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("not parsed, want %s", tt.want)
			}
			if s := isoDate(got); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
			if got.Location() != time.UTC || got.Hour() != 0 {
				t.Errorf("got %v, want midnight UTC", got)
			}
		})
	}
}

func TestPivotYear(t *testing.T) {
	tests := []struct{ yy, ref, want int }{
		{26, 2026, 2026},
		{27, 2026, 1927},
		{0, 2026, 2000},
		{99, 2026, 1999},
		{0, 2000, 2000},
		{1, 2000, 1901},
		{99, 2099, 2099},
	}
	for _, tt := range tests {
		if got := pivotYear(tt.yy, tt.ref); got != tt.want {
			t.Errorf("pivotYear(%d, %d) = %d, want %d", tt.yy, tt.ref, got, tt.want)
		}
	}
}

func TestCompileDateFormatErrors(t *testing.T) {
	tests := []struct{ format, want string }{
		{"", "empty date format"},
		{"DD/MM/YYY", `unknown token at "Y"`},
		{"DD/MM/YYYY HH:mm", `unknown token at "HH:MM"`},
		{"DD/MM", "must have exactly one year"},
		{"DD/MM/YYYY/YY", "must have exactly one year"},
		{"MM/YYYY", "one day"},
		{"DD/MON/MM/YYYY", "one month"},
		{"DMYYYY", "must be followed by a separator"},
		{"YYYYMD", "must be followed by a separator"},
		{"DD*MM/YYYY", "* is only allowed at the end"},
		{"DD/MM/YYYY**", "* is only allowed at the end"},
		{"DD/MM/YYYY\xff", "not valid UTF-8"},
		{"DD/MM/YYYYé", "unknown token"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			_, err := compileDateFormat(tt.format)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	formats := []string{"DD/MM/YYYY", "D/M/YY", "YYYYMMDD", "DD-MON-YYYY", "D MONTH YYYY", "MONTH D, YYYY*", "YYYY.M.D"}
	dates := []time.Time{
		time.Date(2012, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1930, 7, 4, 0, 0, 0, 0, time.UTC),
	}
	for _, fs := range formats {
		f, err := compileDateFormat(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dates {
			s := f.format(d)
			got, err := f.parse(s, 2026)
			if err != nil || !got.Equal(d) {
				t.Errorf("%s: %s formatted as %q parses to %v, %v", fs, isoDate(d), s, got, err)
			}
		}
	}
}

func TestDateFormatsOrder(t *testing.T) {
	a, _ := compileDateFormat("DD/MM/YYYY")
	b, _ := compileDateFormat("MM/DD/YYYY")
	fs := dateFormats{a, b}
	for _, tt := range []struct{ in, want string }{
		{"01/02/2010", "2010-02-01"}, // first format wins when both fit
		{"01/13/2010", "2010-01-13"}, // second used when the first fails
	} {
		got, err := fs.parse(tt.in, 2026)
		if err != nil || isoDate(got) != tt.want {
			t.Errorf("parse(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if got := fs.describe(); got != "DD/MM/YYYY or MM/DD/YYYY" {
		t.Errorf("describe() = %q", got)
	}
}

func TestIsoDateOf(t *testing.T) {
	d := time.Date(2015, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, v := range []string{"2015-11-20", "20/11/2015", "20151120", "2015-11-2", ""} {
		if got := isoDateOf(d, v); got != "2015-11-20" {
			t.Errorf("isoDateOf(%q) = %q, want 2015-11-20", v, got)
		}
	}
}
