// Command matchctl is the operators', the lead's and the evaluators' tool:
// it generates synthetic districts, makes development certificates and
// keys, signs and verifies the information-sharing agreement, runs the key
// ceremony, runs the whole pipeline in one process for evaluation, starts link
// runs, lists flagged households and purges retired key epochs, exports, verifies and reports on the
// audit log for auditors, and runs the demonstration.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

type command struct {
	run     func(args []string, stdout, stderr io.Writer) error
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"gen":         {cmdGen, "generate a synthetic district with ground truth"},
		"pki":         {cmdPKI, "make a development CA and one certificate per party"},
		"keys":        {cmdKeys, "run the key ceremony (keys ceremony), or make a development programme secret"},
		"isa":         {cmdISA, "make signing keys for, sign and verify the information-sharing agreement"},
		"link":        {cmdLink, "run the whole pipeline in one process on CSV extracts (evaluation)"},
		"start-run":   {cmdStartRun, "as the lead: ask the matcher for a new link run"},
		"households":  {cmdHouseholds, "as the lead: list flagged households"},
		"purge-epoch": {cmdPurgeEpoch, "as the lead: delete a retired key epoch's data from the matcher (after a rotation)"},
		"demo":        {cmdDemo, "run the demonstration: a district, four agencies, the matcher, the lead"},
		"bench":       {cmdBench, "measure the whole programme with the real binaries: stage rates, CPU, peak memory"},
		"eval":        {cmdEval, "measure the output of link against ground truth"},
		"check":       {cmdCheck, "run an extract through its mapping without sending anything (test a mapping)"},
		"audit":       {cmdAudit, "as an auditor: export, verify and report on an audit log"},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: matchctl <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'matchctl <command> -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "matchctl: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "matchctl %s: %v\n", name, err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// newFlagSet returns a flag set that reports errors rather than exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("matchctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
