// Package devnet stands up a whole tfmatch programme on one machine: a
// synthetic district, development certificates, an information-sharing
// agreement signed by every party and its key ceremony, the matcher and
// one node per agency as separate processes on loopback, and the lead's
// queries, and an auditor's export and verification of the audit logs.
// The demonstration and the end-to-end tests both use it, so what the
// demonstration shows is what the tests check.
package devnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"tfmatch/audit"
	"tfmatch/audit/auditrpc"
	"tfmatch/internal/nodeaudit"
	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/lead"
	"tfmatch/pki"
	pb "tfmatch/proto/tfmatch/v1"
	"tfmatch/synth"
)

// Parties of the development programme.
const (
	MatcherParty = "matcher"
	LeadParty    = "lead"
	CouncilParty = "council"
	AuditorParty = "auditor"
)

// Config configures a Net. Zero values mean defaults.
type Config struct {
	// Dir holds everything the net writes; it is emptied first.
	Dir string
	// Bin holds the matcher and agency binaries.
	Bin string
	// Households is the size of the synthetic district (default 10000).
	Households int
	// Seed seeds the district (default 1).
	Seed int64
	// Purpose is the lead's stated purpose for its queries.
	Purpose string
	// Log receives progress lines (default: discard).
	Log io.Writer
	// ProfileDir, when set, receives a CPU profile of every node,
	// NAME.pprof (for go tool pprof).
	ProfileDir string
	// MatcherMemoryLimitMiB, when positive, is the matcher's soft heap
	// limit (its -memory-limit-mib).
	MatcherMemoryLimitMiB int
	// AgencyProcs, when positive, is each agency node's GOMAXPROCS: the
	// processors its Go runtime runs goroutines on at once, and so its
	// pseudonymising workers. Zero leaves the runtime's default (every
	// processor of the machine).
	AgencyProcs int
}

// Stage is one timed step.
type Stage struct {
	Name    string
	Elapsed time.Duration
	// CPU is the processor time (user + system) each node spent during
	// the stage, by node name; nodes that used none are absent.
	CPU map[string]time.Duration
	// PeakRSS is the resident-memory high-water mark, in bytes, of each
	// node still running at the end of the stage (VmHWM: the peak over
	// the node's life so far).
	PeakRSS map[string]int64
}

// Result is what a run of the net produced.
type Result struct {
	Run        lead.Run
	Households []lead.Household
	// People are the council's own members of flagged households, by
	// reference.
	People map[string]lead.Person
	// Agencies holds each agency node's one-line summary.
	Agencies map[string]string
	Stages   []Stage
	// Audit is the auditor's check of the matcher's log, with every
	// agency's receipts; CouncilAudit that of the council node's own log
	// (its re-identifications).
	Audit, CouncilAudit AuditCheck
	// ISA is the signed agreement the programme ran under; Ceremony the
	// record of its key ceremony.
	ISA      ISAInfo
	Ceremony keys.CeremonyRecord
	// Usage is each node's resource use over its whole life, by node name,
	// read when it exited.
	Usage map[string]Usage
	// PeakTotalRSS is the largest sum of every running node's resident
	// set, sampled every 100 ms: what the programme held of the
	// machine's memory at once (zero where the system does not say).
	PeakTotalRSS int64
	// Paths of interest for tests.
	DistrictDir, MatcherDir, PKIDir string
	// Agreement holds the agreement's file and every party's keys.
	Agreement *AgreementFiles
	StateDirs map[string]string
}

// ISAInfo describes the signed agreement a net ran under.
type ISAInfo struct {
	ID       string
	Version  int
	Hash     [32]byte
	SignedBy int // parties whose signatures verified
}

// AuditCheck is an auditor's export of one audit log and its verification.
type AuditCheck struct {
	// ExportDir is the export, as `matchctl audit export` writes it.
	ExportDir string
	// VerifierKey is the log's verifier key, as the node published it.
	VerifierKey string
	// ReceiptDirs are the agencies' receipt directories checked.
	ReceiptDirs []string
	audit.Verification
	// Entries decoded, for the report.
	Decoded []audit.Entry
}

// Net is a running development programme.
type Net struct {
	cfg Config
	// procsMu guards procs against sample; the goroutine that
	// starts nodes reads procs without it.
	procsMu sync.Mutex
	procs   []*proc
	matcher string // address
	council string // vault address
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error

	mu       sync.Mutex
	exited   bool
	usage    Usage // set when exited
	peakAnon int64 // largest RssAnon sampled so far
	peakHWM  int64 // VmHWM as last sampled
}

func (c *Config) defaults() error {
	if c.Dir == "" || c.Bin == "" {
		return errors.New("devnet: Dir and Bin are required")
	}
	if c.Households <= 0 {
		c.Households = 10000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Purpose == "" {
		c.Purpose = "identify households for the troubled families programme (development)"
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// Run generates the district, starts every node, ingests, links, queries
// and re-identifies, then stops the nodes.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	n := &Net{cfg: cfg}
	stopSampling := make(chan struct{})
	total := make(chan int64, 1)
	go func() { total <- n.sample(stopSampling) }()
	res, err := n.run(ctx)
	n.stop()
	close(stopSampling)
	peakTotal := <-total
	if err != nil {
		return nil, err
	}
	res.PeakTotalRSS = peakTotal
	res.Usage = map[string]Usage{}
	for _, p := range n.procs {
		res.Usage[p.name] = p.finalUsage()
	}
	return res, nil
}

func (n *Net) timed(res *Result, name string, fn func() error) error {
	before := n.cpu()
	start := time.Now()
	err := fn()
	el := time.Since(start)
	st := Stage{Name: name, Elapsed: el, CPU: map[string]time.Duration{}, PeakRSS: n.peakRSS()}
	for node, t := range n.cpu() {
		if d := t - before[node]; d > 0 {
			st.CPU[node] = d
		}
	}
	res.Stages = append(res.Stages, st)
	if err == nil {
		fmt.Fprintf(n.cfg.Log, "  %-28s %8s\n", name, el.Round(time.Millisecond))
	}
	return err
}

func (n *Net) run(ctx context.Context) (*Result, error) {
	cfg := n.cfg
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", cfg.Dir, err)
	}
	res := &Result{
		DistrictDir: filepath.Join(cfg.Dir, "district"),
		MatcherDir:  filepath.Join(cfg.Dir, "matcher"),
		PKIDir:      filepath.Join(cfg.Dir, "pki"),
		StateDirs:   map[string]string{},
		Agencies:    map[string]string{},
	}
	for _, d := range []string{res.DistrictDir, res.PKIDir, filepath.Join(cfg.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	agencies := synth.Agencies()

	err := n.timed(res, "generate district", func() error {
		d, err := synth.Generate(synth.Config{Seed: cfg.Seed, Households: cfg.Households})
		if err != nil {
			return err
		}
		return d.WriteDir(res.DistrictDir)
	})
	if err != nil {
		return nil, err
	}
	ceremonyDir := filepath.Join(cfg.Dir, "ceremony")
	err = n.timed(res, "certificates and keys", func() error {
		parties := append(append([]string(nil), agencies...), LeadParty, AuditorParty)
		servers := map[string][]string{MatcherParty: {"localhost", "127.0.0.1"}, CouncilParty: {"localhost", "127.0.0.1"}}
		_, err := pki.WriteDevPKI(res.PKIDir, parties, servers, pki.DevOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = n.timed(res, "agreement: sign, key ceremony", func() error {
		files, err := WriteAgreement(AgreementConfig{Dir: filepath.Join(cfg.Dir, "isa"), PKIDir: res.PKIDir})
		if err != nil {
			return err
		}
		res.Agreement = files
		if err := SignAgreement(cfg.Bin, files); err != nil {
			return err
		}
		a, err := isa.Load(files.Path, nil)
		if err != nil {
			return err
		}
		res.ISA = ISAInfo{ID: a.ID, Version: a.Version, Hash: a.Hash(), SignedBy: len(a.Signatures)}
		res.Ceremony, err = RunCeremony(cfg.Bin, files.Path, 1, ceremonyDir)
		return err
	})
	if err != nil {
		return nil, err
	}
	isaPath := res.Agreement.Path
	tlsArgs := func(party string) []string {
		return []string{
			"-cert", filepath.Join(res.PKIDir, party+".crt"),
			"-key", filepath.Join(res.PKIDir, party+".key"),
			"-ca", filepath.Join(res.PKIDir, "ca.crt"),
		}
	}
	err = n.timed(res, "start matcher", func() error {
		addrFile := filepath.Join(cfg.Dir, "matcher.addr")
		pin, err := res.Agreement.PublicSigningKey(MatcherParty)
		if err != nil {
			return err
		}
		args := append([]string{"-listen", "127.0.0.1:0", "-addr-file", addrFile, "-data", res.MatcherDir, "-isa", isaPath, "-signing-key", pin}, tlsArgs(MatcherParty)...)
		if n.cfg.MatcherMemoryLimitMiB > 0 {
			args = append(args, "-memory-limit-mib", fmt.Sprint(n.cfg.MatcherMemoryLimitMiB))
		}
		if err := n.start(MatcherParty, filepath.Join(cfg.Bin, "matcher"), args); err != nil {
			return err
		}
		addr, err := n.waitAddr(ctx, MatcherParty, addrFile)
		n.matcher = addr
		return err
	})
	if err != nil {
		return nil, err
	}
	asof, err := synth.AsOf(res.DistrictDir)
	if err != nil {
		return nil, err
	}
	err = n.timed(res, "ingest (4 agencies, parallel)", func() error {
		var batch []*proc
		councilAddr := filepath.Join(cfg.Dir, "council.addr")
		for _, a := range agencies {
			state := filepath.Join(cfg.Dir, "agency-"+a)
			pin, err := res.Agreement.PublicSigningKey(a)
			if err != nil {
				return err
			}
			res.StateDirs[a] = state
			args := append([]string{
				"-source", a,
				"-extract", filepath.Join(res.DistrictDir, a+".csv"),
				"-mapping", filepath.Join(res.DistrictDir, "mappings", a+".yaml"),
				"-matcher", n.matcher,
				"-isa", isaPath, "-identity", res.Agreement.Identities[a], "-signing-key", pin,
				"-secret", filepath.Join(ceremonyDir, keys.WrappedFileName(a)),
				"-state", state, "-asof", asof.Format(time.DateOnly),
				"-audit-key", filepath.Join(res.MatcherDir, nodeaudit.VerifierKey),
			}, tlsArgs(a)...)
			if a == CouncilParty {
				args = append(args, "-serve", "127.0.0.1:0", "-addr-file", councilAddr)
			}
			var env []string
			if cfg.AgencyProcs > 0 {
				env = []string{fmt.Sprintf("GOMAXPROCS=%d", cfg.AgencyProcs)}
			}
			if err := n.start(a, filepath.Join(cfg.Bin, "agency"), args, env...); err != nil {
				return err
			}
			if a != CouncilParty {
				batch = append(batch, n.procs[len(n.procs)-1])
			}
		}
		for _, p := range batch {
			if err := p.wait(ctx); err != nil {
				return err
			}
		}
		addr, err := n.waitAddr(ctx, CouncilParty, councilAddr)
		n.council = addr
		for _, p := range n.procs {
			if line := summaryLine(p.out.String()); line != "" {
				res.Agencies[p.name] = line
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	conn, err := n.dial(n.matcher, res.PKIDir, LeadParty)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	lc := &lead.Client{Matcher: pb.NewLeadClient(conn)}
	err = n.timed(res, "link run (persons, households, rules)", func() error {
		_, err := lc.StartRun(ctx, cfg.Purpose)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = n.timed(res, "query flagged households", func() error {
		res.Run, res.Households, err = lc.Flagged(ctx, "", cfg.Purpose)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = n.timed(res, "re-identify council members", func() error {
		vconn, err := n.dial(n.council, res.PKIDir, LeadParty)
		if err != nil {
			return err
		}
		defer vconn.Close()
		var refs [][]byte
		for _, h := range res.Households {
			refs = append(refs, h.Members[CouncilParty]...)
		}
		res.People, err = lead.Reidentify(ctx, pb.NewVaultClient(vconn), refs, cfg.Purpose)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = n.timed(res, "audit: export and verify", func() error {
		var receipts []string
		for _, a := range agencies {
			receipts = append(receipts, filepath.Join(res.StateDirs[a], "receipts"))
		}
		auditDir := filepath.Join(cfg.Dir, "audit")
		if res.Audit, err = n.checkAudit(ctx, n.matcher, res.MatcherDir, filepath.Join(auditDir, MatcherParty), receipts, res.PKIDir); err != nil {
			return fmt.Errorf("matcher's audit log: %w", err)
		}
		if res.CouncilAudit, err = n.checkAudit(ctx, n.council, res.StateDirs[CouncilParty], filepath.Join(auditDir, CouncilParty), nil, res.PKIDir); err != nil {
			return fmt.Errorf("council's audit log: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// checkAudit exports, as the auditor, the audit log served at addr by the
// node whose directory (holding its published verifier key) is nodeDir,
// into exportDir, and verifies it with the receipts in receiptDirs. Any
// problem is an error.
func (n *Net) checkAudit(ctx context.Context, addr, nodeDir, exportDir string, receiptDirs []string, pkiDir string) (AuditCheck, error) {
	c := AuditCheck{ExportDir: exportDir, ReceiptDirs: receiptDirs}
	vkey, err := nodeaudit.ReadVerifierKey(filepath.Join(nodeDir, nodeaudit.VerifierKey))
	if err != nil {
		return c, err
	}
	c.VerifierKey = vkey
	conn, err := n.dial(addr, pkiDir, AuditorParty)
	if err != nil {
		return c, err
	}
	defer conn.Close()
	ev, err := auditrpc.Fetch(ctx, pb.NewAuditClient(conn), vkey)
	if err != nil {
		return c, err
	}
	if err := audit.WriteExport(exportDir, ev); err != nil {
		return c, err
	}
	if c.Verification, err = audit.VerifyExport(exportDir, receiptDirs, vkey); err != nil {
		return c, err
	}
	if len(c.Problems) > 0 {
		var lines []string
		for _, p := range c.Problems {
			lines = append(lines, p.String())
		}
		return c, fmt.Errorf("the log does not verify:\n  %s", strings.Join(lines, "\n  "))
	}
	if c.Decoded, err = audit.DecodeEntries(ev.Entries); err != nil {
		return c, err
	}
	return c, nil
}

// summaryLine finds the agency's one-line summary in its output.
func summaryLine(out string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	var last string
	for sc.Scan() {
		if strings.Contains(sc.Text(), "read ") && strings.Contains(sc.Text(), "accepted ") {
			last = sc.Text()
		}
	}
	return last
}

// dial connects to addr as party.
func (n *Net) dial(addr, pkiDir, party string) (*grpc.ClientConn, error) {
	tlsCfg, err := pki.ClientConfig(filepath.Join(pkiDir, party+".crt"), filepath.Join(pkiDir, party+".key"), filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
}

// start launches a node, with env added to matchctl's environment; its
// stderr goes to DIR/logs/NAME.log.
func (n *Net) start(name, bin string, args []string, env ...string) error {
	logf, err := os.Create(filepath.Join(n.cfg.Dir, "logs", name+".log"))
	if err != nil {
		return err
	}
	if n.cfg.ProfileDir != "" {
		if err := os.MkdirAll(n.cfg.ProfileDir, 0o755); err != nil {
			logf.Close()
			return fmt.Errorf("profile directory: %w", err)
		}
		args = append([]string{"-cpuprofile", filepath.Join(n.cfg.ProfileDir, name+".pprof")}, args...)
	}
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	out := &bytes.Buffer{}
	cmd.Stdout = io.MultiWriter(out, logf)
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exited, p.usage = true, usageOf(cmd.ProcessState)
		p.usage.PeakAnon = p.peakAnon
		p.usage.PeakRSS = p.peakHWM
		p.mu.Unlock()
		logf.Close()
		p.done <- err
	}()
	n.procsMu.Lock()
	n.procs = append(n.procs, p)
	n.procsMu.Unlock()
	return nil
}

func (p *proc) wait(ctx context.Context) error {
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			return fmt.Errorf("%s failed: %w (see its log)", p.name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAddr waits for a node to write its listen address.
func (n *Net) waitAddr(ctx context.Context, name, file string) (string, error) {
	p := n.find(name)
	for {
		if b, err := os.ReadFile(file); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return "", fmt.Errorf("%s exited before serving: %v (see %s)", name, err, filepath.Join(n.cfg.Dir, "logs", name+".log"))
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Net) find(name string) *proc {
	for _, p := range n.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// stop ends every node still running: SIGTERM, then SIGKILL after five
// seconds.
func (n *Net) stop() {
	var wg sync.WaitGroup
	for _, p := range n.procs {
		wg.Add(1)
		go func(p *proc) {
			defer wg.Done()
			select {
			case err := <-p.done:
				p.done <- err
				return
			default:
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-p.done:
				p.done <- err
			case <-time.After(5 * time.Second):
				_ = p.cmd.Process.Kill()
			}
		}(p)
	}
	wg.Wait()
}
