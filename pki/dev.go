package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultDevCAName is the Common Name of a development CA.
const DefaultDevCAName = "tfmatch development CA"

// File names inside a development PKI directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// ErrExists reports that WriteDevPKI would replace existing files.
var ErrExists = errors.New("pki: files already exist")

// DevOptions tunes [WriteDevPKI]. The zero value means: refuse to replace
// existing files, CA named [DefaultDevCAName], default validities, now.
type DevOptions struct {
	// Force replaces existing files, including ca.key. Every certificate
	// the old CA issued stops being trusted by nodes given the new ca.crt.
	Force bool
	// CAName is the CA's Common Name; empty means DefaultDevCAName.
	CAName string
	// CAValidity and Validity are the CA and party certificate lifetimes;
	// zero means DefaultCAValidity and DefaultCertValidity.
	CAValidity time.Duration
	Validity   time.Duration
	// Now is the issue time; zero means time.Now().
	Now time.Time
}

// Validate checks the options.
func (o DevOptions) Validate() error {
	if o.CAValidity < 0 || o.Validity < 0 {
		return errors.New("pki: dev PKI: negative validity")
	}
	return nil
}

// DevFile describes one file written by [WriteDevPKI]. It never holds key
// material.
type DevFile struct {
	Path        string
	Party       string   // empty for the CA's files
	Key         bool     // a private key (mode 0600) rather than a certificate
	Server      bool     // a certificate that also allows server authentication
	Hosts       []string // server SANs
	Fingerprint string   // of the certificate (for both the .crt and its .key)
	NotAfter    time.Time
}

// WriteDevPKI makes a new CA and one certificate per party, and writes
// dir/ca.crt, dir/ca.key, dir/<party>.crt and dir/<party>.key (keys with
// mode 0600; dir is created with mode 0700 if missing).
//
// Every party gets a client certificate; the parties in serverParties get
// certificates that also allow server authentication, with the given hosts
// (DNS names or IP addresses) as SANs. A party named only in serverParties
// is added to parties. Parties are written in the order given, then the
// server-only parties in sorted order.
//
// Unless opts.Force is set, WriteDevPKI writes nothing and returns an error
// wrapping [ErrExists] if any of the files already exists: replacing ca.key
// would orphan every certificate the old CA issued.
func WriteDevPKI(dir string, parties []string, serverParties map[string][]string, opts DevOptions) ([]DevFile, error) {
	if dir == "" {
		return nil, errors.New("pki: dev PKI: no directory given")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	all, err := devParties(parties, serverParties)
	if err != nil {
		return nil, err
	}
	if err := refuseExisting(dir, all, opts.Force); err != nil {
		return nil, err
	}

	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	name := opts.CAName
	if name == "" {
		name = DefaultDevCAName
	}
	// Make everything in memory first, so a bad request writes nothing.
	ca, err := NewCA(name, opts.CAValidity, now)
	if err != nil {
		return nil, err
	}
	creds := make([]*Credential, len(all))
	for i, p := range all {
		hosts, server := serverParties[p]
		creds[i], err = ca.Issue(Request{Party: p, Server: server, Hosts: hosts, Validity: opts.Validity, Now: now})
		if err != nil {
			return nil, fmt.Errorf("pki: dev PKI: %w", err)
		}
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: dev PKI: create %s: %w", dir, err)
	}
	var written []DevFile
	caFP := Fingerprint(ca.Cert)
	if err := WriteCertificateFile(filepath.Join(dir, CACertFile), ca.Cert); err != nil {
		return written, err
	}
	written = append(written, DevFile{Path: filepath.Join(dir, CACertFile), Fingerprint: caFP, NotAfter: ca.Cert.NotAfter})
	if err := WritePrivateKeyFile(filepath.Join(dir, CAKeyFile), ca.Key); err != nil {
		return written, err
	}
	written = append(written, DevFile{Path: filepath.Join(dir, CAKeyFile), Key: true, Fingerprint: caFP, NotAfter: ca.Cert.NotAfter})
	for _, c := range creds {
		hosts, server := serverParties[c.Party]
		f := DevFile{Party: c.Party, Server: server, Hosts: slices.Clone(hosts), Fingerprint: Fingerprint(c.Cert), NotAfter: c.Cert.NotAfter}
		f.Path = filepath.Join(dir, c.Party+".crt")
		if err := WriteCertificateFile(f.Path, c.Cert); err != nil {
			return written, err
		}
		written = append(written, f)
		f.Path, f.Key = filepath.Join(dir, c.Party+".key"), true
		if err := WritePrivateKeyFile(f.Path, c.Key); err != nil {
			return written, err
		}
		written = append(written, f)
	}
	return written, nil
}

// devParties validates and merges the party list and the server parties.
func devParties(parties []string, serverParties map[string][]string) ([]string, error) {
	var all []string
	add := func(p string) error {
		if err := ValidateParty(p); err != nil {
			return fmt.Errorf("pki: dev PKI: party %q: %w", p, err)
		}
		// "ca" would collide with the CA's own files.
		if p == "ca" {
			return errors.New("pki: dev PKI: party id \"ca\" is reserved for the CA's files")
		}
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
		return nil
	}
	for _, p := range parties {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	servers := make([]string, 0, len(serverParties))
	for p := range serverParties {
		servers = append(servers, p)
	}
	slices.Sort(servers)
	for _, p := range servers {
		if err := add(p); err != nil {
			return nil, err
		}
		if len(serverParties[p]) == 0 {
			return nil, fmt.Errorf("pki: dev PKI: server party %q has no hosts", p)
		}
	}
	if len(all) == 0 {
		return nil, errors.New("pki: dev PKI: no parties given")
	}
	return all, nil
}

// refuseExisting returns an error naming the files that already exist,
// unless force is set.
func refuseExisting(dir string, parties []string, force bool) error {
	if force {
		return nil
	}
	names := []string{CACertFile, CAKeyFile}
	for _, p := range parties {
		names = append(names, p+".crt", p+".key")
	}
	var exist []string
	for _, n := range names {
		_, err := os.Lstat(filepath.Join(dir, n))
		switch {
		case err == nil:
			exist = append(exist, n)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("pki: dev PKI: %w", err)
		}
	}
	if len(exist) == 0 {
		return nil
	}
	msg := "use -force (DevOptions.Force) to replace them"
	if slices.Contains(exist, CAKeyFile) {
		msg = "replacing ca.key makes a new CA, and every certificate the old one issued stops being trusted; use -force (DevOptions.Force) if that is what you want"
	}
	list := strings.Join(exist, ", ")
	if len(exist) > 4 {
		list = fmt.Sprintf("%s and %d more", strings.Join(exist[:3], ", "), len(exist)-3)
	}
	return fmt.Errorf("%w in %s: %s; %s", ErrExists, dir, list, msg)
}

// ParseServerSpec parses a server list such as
// "matcher=matcher,localhost,127.0.0.1,council=council,localhost" into
// party -> hosts, adding to into. Each comma-separated item holding "="
// starts a new party; items without "=" are further hosts of the party
// before them. Hosts are lower-cased and de-duplicated.
func ParseServerSpec(spec string, into map[string][]string) error {
	party := ""
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if p, h, ok := strings.Cut(item, "="); ok {
			party = strings.TrimSpace(p)
			if err := ValidateParty(party); err != nil {
				return fmt.Errorf("pki: server spec: party %q: %w", party, err)
			}
			item = strings.TrimSpace(h)
		} else if party == "" {
			return fmt.Errorf("pki: server spec: %q: want party=host[,host...]", item)
		}
		if item == "" {
			return fmt.Errorf("pki: server spec: party %q: empty host", party)
		}
		if err := ValidateHost(item); err != nil {
			return fmt.Errorf("pki: server spec: party %q: %w", party, err)
		}
		item = strings.ToLower(item)
		if !slices.Contains(into[party], item) {
			into[party] = append(into[party], item)
		}
	}
	return nil
}

// FormatServerSpec is the inverse of [ParseServerSpec]: parties in sorted
// order, hosts in the order held.
func FormatServerSpec(servers map[string][]string) string {
	parties := make([]string, 0, len(servers))
	for p := range servers {
		parties = append(parties, p)
	}
	slices.Sort(parties)
	var b strings.Builder
	for i, p := range parties {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p)
		b.WriteByte('=')
		b.WriteString(strings.Join(servers[p], ","))
	}
	return b.String()
}
