package devnet

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"tfmatch/isa"
	"tfmatch/keys"
	"tfmatch/pki"
)

// PartySpec is one party of a development agreement.
type PartySpec struct {
	ID         string
	Role       isa.Role
	Indicators []string // agencies only
}

// DevParties are the parties of the development programme: four
// agencies, the lead, the auditor and the matcher.
func DevParties() []PartySpec {
	return []PartySpec{
		{ID: CouncilParty, Role: isa.RoleAgency, Indicators: []string{"local_concern", "crime_asb"}},
		{ID: "education", Role: isa.RoleAgency, Indicators: []string{"education"}},
		{ID: "police", Role: isa.RoleAgency, Indicators: []string{"crime_asb"}},
		{ID: "dwp", Role: isa.RoleAgency, Indicators: []string{"work"}},
		{ID: LeadParty, Role: isa.RoleLead},
		{ID: AuditorParty, Role: isa.RoleAuditor},
		{ID: MatcherParty, Role: isa.RoleMatcher},
	}
}

// AgreementConfig configures WriteAgreement. Zero values mean defaults.
type AgreementConfig struct {
	// Dir receives the agreement (isa.yaml) and every party's signing key
	// (<party>.isa.key) and age identity (<party>.identity). Required.
	Dir string
	// PKIDir holds the development PKI (pki.WriteDevPKI): ca.crt and
	// <party>.crt for every party. Required.
	PKIDir string
	// Parties (default DevParties).
	Parties []PartySpec
	// ValidFrom and ValidUntil (default: from a day ago for a year).
	ValidFrom, ValidUntil time.Time
	// RetentionDays (default 365).
	RetentionDays int
}

// AgreementFiles are the files WriteAgreement made.
type AgreementFiles struct {
	Path        string            // the agreement, not yet signed
	SigningKeys map[string]string // party -> signing key file
	Identities  map[string]string // party -> age identity file
}

// DevISAID is the id of the development agreement.
const DevISAID = "tfmatch-dev"

// WriteAgreement writes a development agreement: a fresh Ed25519 signing
// key and age identity for every party, every party's certificate pinned
// by fingerprint and CA from the development PKI, and the agencies'
// indicators. Nobody has signed it yet (see SignAgreement).
func WriteAgreement(cfg AgreementConfig) (*AgreementFiles, error) {
	if cfg.Dir == "" || cfg.PKIDir == "" {
		return nil, errors.New("devnet: agreement: Dir and PKIDir are required")
	}
	if cfg.Parties == nil {
		cfg.Parties = DevParties()
	}
	now := time.Now().UTC().Truncate(time.Second)
	if cfg.ValidFrom.IsZero() {
		cfg.ValidFrom = now.Add(-24 * time.Hour)
	}
	if cfg.ValidUntil.IsZero() {
		cfg.ValidUntil = cfg.ValidFrom.Add(366 * 24 * time.Hour)
	}
	if cfg.RetentionDays == 0 {
		cfg.RetentionDays = 365
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	caCert, err := readCert(filepath.Join(cfg.PKIDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	a := &isa.Agreement{
		ID: DevISAID, Version: 1,
		Purpose:              "Identify households that meet the Troubled Families phase-1 criteria so that the council can offer each one a key worker.",
		LegalBasis:           "Development programme on synthetic data: no real personal data may be shared under this agreement.",
		ValidFrom:            cfg.ValidFrom.UTC().Truncate(time.Second),
		ValidUntil:           cfg.ValidUntil.UTC().Truncate(time.Second),
		RetentionDays:        cfg.RetentionDays,
		SmallNumberThreshold: 10,
		RuleSet:              isa.RuleSetRef{Version: "phase1-2012"},
	}
	files := &AgreementFiles{Path: filepath.Join(cfg.Dir, "isa.yaml"), SigningKeys: map[string]string{}, Identities: map[string]string{}}
	for _, ps := range cfg.Parties {
		cert, err := readCert(filepath.Join(cfg.PKIDir, ps.ID+".crt"))
		if err != nil {
			return nil, err
		}
		keyFile := filepath.Join(cfg.Dir, ps.ID+".isa.key")
		pubText, err := isa.WriteSigningKeyFile(keyFile)
		if err != nil {
			return nil, err
		}
		pub, err := isa.ParseSigningKey(pubText)
		if err != nil {
			return nil, err
		}
		idFile := filepath.Join(cfg.Dir, ps.ID+".identity")
		rcpt, err := keys.WriteIdentityFile(idFile, now)
		if err != nil {
			return nil, err
		}
		files.SigningKeys[ps.ID], files.Identities[ps.ID] = keyFile, idFile
		a.Parties = append(a.Parties, isa.Party{
			ID: ps.ID, Name: "development " + string(ps.Role) + " " + ps.ID, Role: ps.Role,
			Certificate:  isa.CertIdentity{CA: pki.Fingerprint(caCert), Fingerprint: pki.Fingerprint(cert)},
			SigningKey:   pub,
			AgeRecipient: rcpt,
			Indicators:   slices.Clone(ps.Indicators),
		})
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("devnet: agreement: %w", err)
	}
	body, err := a.Encode()
	if err != nil {
		return nil, err
	}
	header := "# Development information-sharing agreement (synthetic data only).\n# Made by the development net; every key in it is throwaway.\n"
	if err := os.WriteFile(files.Path, append([]byte(header), body...), 0o644); err != nil {
		return nil, err
	}
	return files, nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	c, err := pki.DecodeCertificate(b)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", path, err)
	}
	return c, nil
}

// PublicSigningKey returns party's public signing key, as its node pins
// it (-signing-key).
func (f *AgreementFiles) PublicSigningKey(party string) (string, error) {
	k, err := isa.ReadSigningKeyFile(f.SigningKeys[party])
	if err != nil {
		return "", err
	}
	return isa.FormatSigningKey(k.Public().(ed25519.PublicKey)), nil
}

// SignAgreement has every party in files sign the agreement with the
// matchctl binary in bin (`matchctl isa sign`), one after another, as the
// parties would.
func SignAgreement(bin string, files *AgreementFiles) error {
	parties := make([]string, 0, len(files.SigningKeys))
	for p := range files.SigningKeys {
		parties = append(parties, p)
	}
	slices.Sort(parties)
	for _, p := range parties {
		if _, err := matchctl(bin, "isa", "sign", "-isa", files.Path, "-party", p, "-key", files.SigningKeys[p]); err != nil {
			return err
		}
	}
	return nil
}

// RunCeremony runs the key ceremony for epoch with the matchctl binary in
// bin (`matchctl keys ceremony`), writing the wrapped secrets into outDir,
// and returns its record.
func RunCeremony(bin, isaPath string, epoch uint32, outDir string) (keys.CeremonyRecord, error) {
	var rec keys.CeremonyRecord
	out, err := matchctl(bin, "keys", "ceremony", "-isa", isaPath, "-epoch", fmt.Sprint(epoch), "-out", outDir)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(out, &rec); err != nil {
		return rec, fmt.Errorf("devnet: reading the ceremony record: %w", err)
	}
	return rec, nil
}

// matchctl runs the matchctl binary in bin and returns its stdout.
func matchctl(bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(bin, "matchctl"), args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("matchctl %s %s: %w: %s", args[0], args[1], err, ee.Stderr)
		}
		return nil, fmt.Errorf("matchctl %s %s: %w", args[0], args[1], err)
	}
	return out, nil
}
