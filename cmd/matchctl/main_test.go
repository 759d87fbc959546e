package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tfmatch/lead"
)

// subcommand is the signature every matchctl command has.
type subcommand func(args []string, stdout, stderr io.Writer) error

// run calls a subcommand with captured output.
func run(cmd subcommand, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = cmd(args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	src := "council=council.csv,council.yaml"
	tests := []struct {
		name string
		cmd  subcommand
		args []string
		want string // substring of the error
	}{
		{"gen/missing -out", cmdGen, nil, "-out is required"},
		{"gen/bad -asof", cmdGen, []string{"-out", out, "-asof", "31/10/2026"}, "-asof"},
		{"gen/impossible -asof", cmdGen, []string{"-out", out, "-asof", "2026-02-30"}, "-asof"},
		{"gen/seed 0", cmdGen, []string{"-out", out, "-seed", "0"}, "-seed 0"},
		{"gen/no households", cmdGen, []string{"-out", out, "-households", "0"}, "-households 0"},
		{"gen/bad -errors", cmdGen, []string{"-out", out, "-errors", "some"}, "-errors"},
		{"gen/unknown flag", cmdGen, []string{"-out", out, "-bogus"}, "bogus"},
		{"gen/stray argument", cmdGen, []string{"-out", out, "extra"}, `unexpected argument "extra"`},
		{"keys/missing -out", cmdKeys, nil, "-out is required"},
		{"keys/unknown flag", cmdKeys, []string{"-force"}, "force"},
		{"link/missing -out", cmdLink, []string{src}, "-out is required"},
		{"link/no sources", cmdLink, []string{"-out", out}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/no name", cmdLink, []string{"-out", out, "council.csv,council.yaml"}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/empty name", cmdLink, []string{"-out", out, "=council.csv,council.yaml"}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/no mapping", cmdLink, []string{"-out", out, "council=council.csv"}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/empty data", cmdLink, []string{"-out", out, "council=,council.yaml"}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/empty mapping", cmdLink, []string{"-out", out, "council=council.csv,"}, "NAME=DATA.csv,MAPPING.yaml"},
		{"link/second source bad", cmdLink, []string{"-out", out, src, "police"}, `source "police"`},
		{"link/bad -asof", cmdLink, []string{"-out", out, "-asof", "2026-13-01", src}, "-asof"},
		{"link/unknown flag", cmdLink, []string{"-out", out, "-threshold", "0.9", src}, "threshold"},
		{"eval/missing -truth", cmdEval, []string{"-out", out}, "-truth and -out are required"},
		{"eval/missing -out", cmdEval, []string{"-truth", dir}, "-truth and -out are required"},
		{"eval/unknown flag", cmdEval, []string{"-truth", dir, "-out", out, "-v"}, "v"},
		{"check/missing -mapping", cmdCheck, []string{"-extract", "x.csv"}, "-mapping and -extract are required"},
		{"check/bad -asof", cmdCheck, []string{"-mapping", "m.yaml", "-extract", "x.csv", "-asof", "today"}, "-asof"},
		{"bench/no households", cmdBench, []string{"-dir", out, "-households", "0"}, "-households must be positive"},
		{"bench/stray argument", cmdBench, []string{"-dir", out, "extra"}, `unexpected argument "extra"`},
		{"pki/missing -dir", cmdPKI, nil, "-dir is required"},
		{"pki/bad party", cmdPKI, []string{"-dir", out, "-parties", "police,Not A Party"}, "-parties"},
		{"start-run/missing -cert", cmdStartRun, []string{"-purpose", "p"}, "-cert is required"},
		{"households/missing -purpose", cmdHouseholds, []string{"-cert", "c", "-key", "k", "-ca", "ca"}, "-purpose is required"},
		{"demo/stray argument", cmdDemo, []string{"now"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(tt.cmd, tt.args...)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("error = %v (%T), want a usageError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to mention %q", err, tt.want)
			}
			// A usage error is found before anything is written.
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists after a usage error (stat: %v)", out, err)
			}
		})
	}
}

// TestHelp: -h asks for help, which is neither a failure nor a usage
// error, and prints the command's flags.
func TestHelp(t *testing.T) {
	for name, c := range commands() {
		t.Run(name, func(t *testing.T) {
			_, stderr, err := run(c.run, "-h")
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("error = %v, want flag.ErrHelp", err)
			}
			var ue usageError
			if errors.As(err, &ue) {
				t.Errorf("-h returned a usage error")
			}
			if !strings.Contains(stderr, "-") {
				t.Errorf("-h printed no flags: %q", stderr)
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	var b bytes.Buffer
	usage(&b)
	for name, c := range commands() {
		if c.summary == "" {
			t.Errorf("command %s has no summary", name)
		}
		if !strings.Contains(b.String(), "\n  "+name+" ") {
			t.Errorf("usage does not list %s:\n%s", name, b.String())
		}
	}
}

// TestByRule: a run's flagged households per rule, withheld counts as
// "<threshold".
func TestByRule(t *testing.T) {
	tests := []struct {
		run  lead.Run
		want string
	}{
		{lead.Run{}, ""},
		{lead.Run{FlaggedByRule: map[string]uint64{"two_plus_local": 12, "all_three": 0}, Threshold: 10,
			Suppressed: map[string]bool{"flagged_by_rule/all_three": true}}, " (all_three <10, two_plus_local 12)"},
		{lead.Run{FlaggedByRule: map[string]uint64{"all_three": 0}}, " (all_three 0)"},
	}
	for _, tt := range tests {
		if got := byRule(tt.run); got != tt.want {
			t.Errorf("byRule(%+v) = %q, want %q", tt.run, got, tt.want)
		}
	}
}

func TestPurgeEpochUsage(t *testing.T) {
	conn := []string{"-cert", "c", "-key", "k", "-ca", "ca"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"-epoch", "1"}, conn...), "-purpose is required"},
		{append([]string{"-purpose", "p"}, conn...), "-epoch"},
		{append([]string{"-purpose", "p", "-epoch", "0"}, conn...), "-epoch"},
		{append([]string{"-purpose", "p", "-epoch", "4294967296"}, conn...), "-epoch"},
	} {
		_, _, err := run(cmdPurgeEpoch, tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("purge-epoch %q: %v, want a usage error about %q", tc.args, err, tc.want)
		}
	}
}
