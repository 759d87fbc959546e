package devnet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestSampleMemory checks that a running node's memory is read from
// /proc: its own peaks, the sum over the nodes and the stage's
// high-water marks, and that an exited node is no longer read.
func TestSampleMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Net{cfg: Config{Dir: dir}}
	// Two nodes that stay up until they are killed.
	for _, name := range []string{"a", "b"} {
		if err := n.start(name, sh, []string{"-c", "exec sleep 30"}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	total := make(chan int64, 1)
	go func() { total <- n.sample(stop) }()
	time.Sleep(350 * time.Millisecond)
	hwm := n.peakRSS()
	close(stop)
	peak := <-total
	var sum int64
	for _, p := range n.procs {
		p.mu.Lock()
		anon, own := p.peakAnon, p.peakHWM
		p.mu.Unlock()
		if anon <= 0 || own <= 0 {
			t.Errorf("node %s: peak anonymous %d, peak resident %d bytes; want both positive", p.name, anon, own)
		}
		if hwm[p.name] < own {
			t.Errorf("node %s: stage high-water mark %d below the sampled %d", p.name, hwm[p.name], own)
		}
		sum += hwm[p.name]
	}
	if peak <= 0 || peak > sum {
		t.Errorf("peak of all nodes %d bytes; want positive and at most the sum of their high-water marks %d", peak, sum)
	}
	for _, p := range n.procs {
		p.cmd.Process.Kill()
		p.wait(context.Background())
		if _, ok := p.status(); ok {
			t.Errorf("node %s: status still read after it exited", p.name)
		}
	}
	if got := n.peakRSS(); len(got) != 0 {
		t.Errorf("stage high-water marks of exited nodes: %v", got)
	}
}
