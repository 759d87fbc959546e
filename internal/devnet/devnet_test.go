package devnet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartEnvironment checks that a node started with extra environment
// (how Config.AgencyProcs reaches the agency nodes) sees it, beside the
// rest of the environment, and that one started without it sees only
// what matchctl has.
func TestStartEnvironment(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	t.Setenv("GOMAXPROCS", "7")
	t.Setenv("TFMATCH_TEST_INHERITED", "yes")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"default", nil, "7 yes"},
		{"set", []string{"GOMAXPROCS=1"}, "1 yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
				t.Fatal(err)
			}
			n := &Net{cfg: Config{Dir: dir}}
			if err := n.start("node", sh, []string{"-c", `echo "$GOMAXPROCS $TFMATCH_TEST_INHERITED"`}, tt.env...); err != nil {
				t.Fatal(err)
			}
			p := n.procs[0]
			if err := p.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(p.out.String()); got != tt.want {
				t.Errorf("node saw %q, want %q", got, tt.want)
			}
		})
	}
}
