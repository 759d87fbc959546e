package devnet

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Usage is a node's use of the machine.
type Usage struct {
	// CPU is the processor time, user and system.
	CPU time.Duration
	// PeakRSS is the largest resident set the process had (VmHWM), in
	// bytes, as last sampled while it ran (every 100 ms); zero where the
	// system does not report it.
	PeakRSS int64
	// PeakAnon is the largest anonymous resident memory (RssAnon: heap
	// and stacks, not the pages of files it maps, such as badger's
	// tables) seen while sampling it every 100 ms, in bytes; zero where
	// the system does not report it.
	PeakAnon int64
}

// usageOf reads what the kernel reported for an exited process: its
// processor time. Its ru_maxrss is not used: Linux carries the resident
// high-water mark of the process that forked it (matchctl, holding the
// district it generated) across exec, so a small node would report
// matchctl's size; the node's own VmHWM is sampled instead.
func usageOf(ps *os.ProcessState) Usage {
	if ps == nil {
		return Usage{}
	}
	return Usage{CPU: ps.UserTime() + ps.SystemTime()}
}

// finalUsage returns the usage of an exited node; for one still running
// (it could not be stopped) the usage read from /proc so far.
func (p *proc) finalUsage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return p.usage
	}
	cpu, _ := procCPU(p.cmd)
	return Usage{CPU: cpu, PeakRSS: p.peakHWM, PeakAnon: p.peakAnon}
}

// status returns the text of a running node's /proc/PID/status, and
// false once it has exited or where the system has none.
func (p *proc) status() (string, bool) {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited || p.cmd.Process == nil {
		return "", false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// sample reads every running node's /proc/PID/status every 100 ms until
// stop is closed: it keeps each node's VmHWM and largest RssAnon, and
// returns the largest sum of the nodes' resident sets (VmRSS) in one
// reading.
func (n *Net) sample(stop <-chan struct{}) int64 {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var peak int64
	for {
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
		n.procsMu.Lock()
		procs := slices.Clone(n.procs)
		n.procsMu.Unlock()
		var sum int64
		for _, p := range procs {
			st, ok := p.status()
			if !ok {
				continue
			}
			if v, err := parseStatusKB(st, "VmRSS:"); err == nil {
				sum += v
			}
			anon, errAnon := parseStatusKB(st, "RssAnon:")
			hwm, errHWM := parseStatusHWM(st)
			p.mu.Lock()
			if errAnon == nil {
				p.peakAnon = max(p.peakAnon, anon)
			}
			if errHWM == nil {
				p.peakHWM = max(p.peakHWM, hwm)
			}
			p.mu.Unlock()
		}
		peak = max(peak, sum)
	}
}

// cpu returns the processor time every node has used so far, by name.
func (n *Net) cpu() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range n.procs {
		p.mu.Lock()
		exited, u := p.exited, p.usage
		p.mu.Unlock()
		if exited {
			out[p.name] = u.CPU
			continue
		}
		if t, err := procCPU(p.cmd); err == nil {
			out[p.name] = t
		}
	}
	return out
}

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, fixed at 100
// in the Linux ABI whatever the kernel's own tick rate.
const userHZ = 100

// procCPU reads the processor time a running process has used from
// /proc/PID/stat (Linux only).
func procCPU(cmd *exec.Cmd) (time.Duration, error) {
	if cmd.Process == nil {
		return 0, fmt.Errorf("process not started")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU returns utime + stime from the text of /proc/PID/stat. The
// command name (field 2) is in parentheses and may hold spaces or
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("/proc stat: bad processor time %q", s)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// peakRSS returns the resident-memory high-water mark of every running
// node, by name.
func (n *Net) peakRSS() map[string]int64 {
	out := map[string]int64{}
	for _, p := range n.procs {
		st, ok := p.status()
		if !ok {
			continue
		}
		if v, err := parseStatusHWM(st); err == nil {
			out[p.name] = v
		}
	}
	return out
}

// parseStatusHWM returns VmHWM, in bytes, from the text of
// /proc/PID/status ("VmHWM:     1234 kB").
func parseStatusHWM(status string) (int64, error) {
	return parseStatusKB(status, "VmHWM:")
}

// parseStatusKB returns the size on the line of /proc/PID/status that
// starts with field ("VmHWM:", "RssAnon:"), in bytes.
func parseStatusKB(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, field)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: %s is not a size in kB", field)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 || v > 1<<43 {
			return 0, fmt.Errorf("/proc status: bad %s", field)
		}
		return v * 1024, nil
	}
	return 0, fmt.Errorf("/proc status: no %s", field)
}
