package pipeline

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	src := []Source{{Name: "police", Data: "p.csv", Mapping: "p.yaml"}}
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"valid", Config{Sources: src, Out: "out"}, ""},
		{"fixed keys", Config{Sources: src, Out: "out", Keys: fixedKeys(t, 1, "police")}, ""},
		{"no sources", Config{Out: "out"}, "no sources"},
		{"no output", Config{Sources: src}, "no output directory"},
		{"empty keys", Config{Sources: src, Out: "out", Keys: &Keys{}}, "without a programme secret"},
		{"bad source name", Config{Sources: []Source{{Name: "1x", Data: "d", Mapping: "m"}}, Out: "out"}, "source name"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}
