package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"tfmatch/pki"
)

// Defaults for `matchctl pki`: the four agencies, the lead and an auditor as
// clients; the matcher and the council node (which serves
// re-identification to the lead) as servers too.
const (
	defaultPKIParties = "council,education,police,dwp,lead,auditor"
	defaultPKIServers = "matcher=matcher,localhost,127.0.0.1,council=council,localhost,127.0.0.1"
)

// serverFlag collects -server values; the first use replaces the default.
type serverFlag struct {
	servers map[string][]string
	set     bool
}

func (f *serverFlag) String() string {
	if f == nil {
		return ""
	}
	return pki.FormatServerSpec(f.servers)
}

func (f *serverFlag) Set(v string) error {
	if !f.set {
		f.servers = map[string][]string{}
		f.set = true
	}
	return pki.ParseServerSpec(v, f.servers)
}

// cmdPKI implements `matchctl pki`: it writes a development PKI (a CA and a
// certificate and key per party) into a directory. It prints the files it
// wrote and their fingerprints, never key material.
func cmdPKI(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki", stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: matchctl pki -dir DIR [-parties a,b,...] [-server party=host,...]... [-force]

Writes a development CA and one certificate per party into DIR:
DIR/ca.crt, DIR/ca.key, DIR/<party>.crt, DIR/<party>.key (keys mode 0600).
Every party can act as a client; -server parties can also serve, under the
given DNS names and IP addresses. Give every node ca.crt and its own pair;
keep ca.key off the nodes.

`)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "directory to write the PKI into (required)")
	parties := fs.String("parties", defaultPKIParties, "comma-separated client party ids")
	servers := &serverFlag{servers: map[string][]string{}}
	if err := pki.ParseServerSpec(defaultPKIServers, servers.servers); err != nil {
		return fmt.Errorf("default servers: %w", err)
	}
	fs.Var(servers, "server", "a server `party=host,...` with the DNS names or IP addresses clients dial it by; repeatable, or several in one value (a=h1,b=h2); the first use replaces the default")
	force := fs.Bool("force", false, "replace existing files, including ca.key (certificates from the old CA stop being trusted)")
	validity := fs.Duration("validity", pki.DefaultCertValidity, "lifetime of party certificates")

	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError{"-dir is required"}
	}
	var list []string
	for p := range strings.SplitSeq(*parties, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := pki.ValidateParty(p); err != nil {
			return usageError{fmt.Sprintf("-parties: %q: %v", p, err)}
		}
		list = append(list, p)
	}

	files, err := pki.WriteDevPKI(*dir, list, servers.servers, pki.DevOptions{Force: *force, Validity: *validity})
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\t%s\n", f.Path, describeDevFile(f))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "give each node %s plus its own <party>.crt and <party>.key; keep %s off the nodes\n", pki.CACertFile, pki.CAKeyFile)
	return nil
}

// describeDevFile says what a written file is, without key material.
func describeDevFile(f pki.DevFile) string {
	expires := f.NotAfter.UTC().Format(time.DateOnly)
	switch {
	case f.Party == "" && f.Key:
		return "CA private key (mode 0600)"
	case f.Party == "":
		return fmt.Sprintf("CA certificate %s, expires %s", f.Fingerprint, expires)
	case f.Key:
		return fmt.Sprintf("%s private key (mode 0600)", f.Party)
	case f.Server:
		return fmt.Sprintf("%s client+server certificate for %s, %s, expires %s", f.Party, strings.Join(f.Hosts, ","), f.Fingerprint, expires)
	default:
		return fmt.Sprintf("%s client certificate %s, expires %s", f.Party, f.Fingerprint, expires)
	}
}
