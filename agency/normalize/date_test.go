package normalize

import (
	"errors"
	"testing"
)

func TestParseISO(t *testing.T) {
	tests := []struct {
		in      string
		want    Date
		wantErr error
	}{
		{"1990-01-31", Date{1990, 1, 31}, nil},
		{"2000-02-29", Date{2000, 2, 29}, nil},
		{"2024-02-29", Date{2024, 2, 29}, nil},
		{"1890-01-01", Date{1890, 1, 1}, nil},
		{"2100-12-31", Date{2100, 12, 31}, nil},
		{"1900-02-29", Date{}, ErrDateUnreal},
		{"2031-02-30", Date{}, ErrDateUnreal},
		{"2023-04-31", Date{}, ErrDateUnreal},
		{"2023-13-01", Date{}, ErrDateUnreal},
		{"2023-00-10", Date{}, ErrDateUnreal},
		{"2023-01-00", Date{}, ErrDateUnreal},
		{"1889-12-31", Date{}, ErrDateRange},
		{"2101-01-01", Date{}, ErrDateRange},
		{"31/01/1990", Date{}, ErrDateFormat},
		{"1990-1-31", Date{}, ErrDateFormat},
		{"19900131", Date{}, ErrDateFormat},
		{"1990-01-3x", Date{}, ErrDateFormat},
		{"+990-01-31", Date{}, ErrDateFormat},
		{"", Date{}, ErrDateFormat},
	}
	for _, tt := range tests {
		got, err := ParseISO(tt.in)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("ParseISO(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDateString(t *testing.T) {
	tests := []struct {
		d    Date
		want string
	}{
		{Date{1990, 1, 2}, "1990-01-02"},
		{Date{2005, 12, 31}, "2005-12-31"},
		{Date{}, ""},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.d, got, tt.want)
		}
		if tt.d.IsZero() != (tt.want == "") {
			t.Errorf("%#v.IsZero() = %v", tt.d, tt.d.IsZero())
		}
	}
}

func FuzzParseISO(f *testing.F) {
	for _, s := range []string{"1990-01-31", "2000-02-29", "1900-02-29", "2100-12-31", "0000-00-00", "-001-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseISO(s)
		if err != nil {
			if !d.IsZero() {
				t.Fatalf("ParseISO(%q) returned %v with error %v", s, d, err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("round trip: ParseISO(%q).String() = %q", s, d.String())
		}
	})
}
