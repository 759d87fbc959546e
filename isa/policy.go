package isa

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"tfmatch/pki"
)

// Action is something a party asks a node to do.
type Action string

// The actions the agreement governs, and the one role that may do each.
const (
	ActionSubmit      Action = "submit"       // agency: send tokens and indicators to the matcher
	ActionDisclose    Action = "disclose"     // agency: answer a disclosure request
	ActionStartRun    Action = "start-run"    // lead: start a link run
	ActionReadResults Action = "read-results" // lead: read flagged households and aggregates
	ActionResolve     Action = "resolve"      // lead: ask for a member's identity (a disclosure request)
	ActionPurge       Action = "purge"        // lead: delete a retired key epoch's data from the matcher
	ActionAuditRead   Action = "audit-read"   // auditor: read the audit log and its proofs
	ActionServe       Action = "serve"        // matcher: run the matching service
)

// Actions lists every action, for tests and documentation.
func Actions() []Action {
	return []Action{ActionSubmit, ActionDisclose, ActionStartRun, ActionReadResults, ActionResolve, ActionPurge, ActionAuditRead, ActionServe}
}

// RoleFor returns the role allowed to do act, or false for an unknown
// action.
func RoleFor(act Action) (Role, bool) {
	switch act {
	case ActionSubmit, ActionDisclose:
		return RoleAgency, true
	case ActionStartRun, ActionReadResults, ActionResolve, ActionPurge:
		return RoleLead, true
	case ActionAuditRead:
		return RoleAuditor, true
	case ActionServe:
		return RoleMatcher, true
	}
	return "", false
}

// Enforcement errors. A gRPC server maps them, in one place, to:
//
//	ErrUnknownParty           codes.Unauthenticated
//	ErrWrongRole              codes.PermissionDenied
//	*ErrIndicatorNotAllowed   codes.InvalidArgument (the message names the indicator)
//	ErrNotYetValid, ErrExpired codes.FailedPrecondition
var (
	// ErrUnknownParty: the caller's certificate names no party of the
	// agreement, or does not match the identity the agreement gives it.
	ErrUnknownParty = errors.New("not a party to the agreement")
	// ErrWrongRole: the party's role does not allow the action.
	ErrWrongRole = errors.New("not allowed for this party's role")
	// ErrNotYetValid: the agreement is not yet in force.
	ErrNotYetValid = errors.New("agreement not yet in force")
	// ErrExpired: the agreement has ended.
	ErrExpired = errors.New("agreement has expired")
)

// ErrIndicatorNotAllowed is returned when an agency sends an indicator
// the agreement does not allow it to share.
type ErrIndicatorNotAllowed struct {
	Party     string
	Indicator string
}

func (e *ErrIndicatorNotAllowed) Error() string {
	return fmt.Sprintf("indicator %q is not one the agreement allows party %q to share", truncate(e.Indicator), e.Party)
}

// Indicators returns the indicators party may send (nil for a
// non-agency or unknown party).
func (a *Agreement) Indicators(party string) []string {
	p, _ := a.Party(party)
	return slices.Clone(p.Indicators)
}

// PolicyConfig configures a Policy. The zero value means defaults.
type PolicyConfig struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Pinned signing keys the node knows independently (see
	// Agreement.VerifySignatures); nil pins none.
	Pinned map[string]ed25519.PublicKey
}

// Policy answers a node's enforcement questions from a signed agreement.
// It is immutable and safe for concurrent use.
type Policy struct {
	a   *Agreement
	now func() time.Time
}

// NewPolicy returns the policy of a, which must be valid and signed by
// every party.
func NewPolicy(a *Agreement, cfg PolicyConfig) (*Policy, error) {
	if a == nil {
		return nil, errors.New("isa: no agreement")
	}
	if err := a.VerifySignatures(cfg.Pinned); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Policy{a: a, now: cfg.Now}, nil
}

// Agreement returns the agreement the policy enforces. Do not modify it.
func (p *Policy) Agreement() *Agreement { return p.a }

// RoleOf returns party's role.
func (p *Policy) RoleOf(party string) (Role, bool) { return p.a.RoleOf(party) }

// ActiveAt reports whether the agreement is in force at t.
func (p *Policy) ActiveAt(t time.Time) error { return p.a.ActiveAt(t) }

// Active reports whether the agreement is in force now.
func (p *Policy) Active() error { return p.a.ActiveAt(p.now()) }

// Retention returns the agreement's retention period.
func (p *Policy) Retention() time.Duration { return p.a.Retention() }

// SmallNumberThreshold returns the agreement's small-number threshold:
// aggregate reports suppress counts below it (see Suppress).
func (p *Policy) SmallNumberThreshold() int { return p.a.SmallNumberThreshold }

// MayDo reports whether party may do act now. Checks run in this order:
// the party must be in the agreement (ErrUnknownParty), its role must
// allow the action (ErrWrongRole), and the agreement must be in force
// (ErrNotYetValid, ErrExpired).
func (p *Policy) MayDo(party string, act Action) error {
	role, ok := p.a.RoleOf(party)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownParty, truncate(party))
	}
	want, ok := RoleFor(act)
	if !ok {
		return fmt.Errorf("%w: unknown action %q", ErrWrongRole, truncate(string(act)))
	}
	if role != want {
		return fmt.Errorf("%w: party %q (role %s) may not %s; only role %s may", ErrWrongRole, party, role, act, want)
	}
	return p.Active()
}

// CheckIndicators reports whether party may send every indicator in
// names. The first one it may not send is named in an
// *ErrIndicatorNotAllowed.
func (p *Policy) CheckIndicators(party string, names []string) error {
	pt, ok := p.a.Party(party)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownParty, truncate(party))
	}
	if pt.Role != RoleAgency {
		return fmt.Errorf("%w: party %q (role %s) sends no indicators", ErrWrongRole, party, pt.Role)
	}
	for _, n := range names {
		if !slices.Contains(pt.Indicators, n) {
			return &ErrIndicatorNotAllowed{Party: party, Indicator: n}
		}
	}
	return nil
}

// Identify returns the party a verified certificate chain (leaf first, as
// in tls.ConnectionState.VerifiedChains) speaks for: the leaf must name a
// party of the agreement (pki.PartyFromCertificate) and match the
// identity the agreement gives that party: its leaf fingerprint if
// listed, and a CA in the chain with the listed fingerprint if listed.
// Any mismatch is ErrUnknownParty.
func (p *Policy) Identify(chain []*x509.Certificate) (string, error) {
	if len(chain) == 0 || chain[0] == nil {
		return "", fmt.Errorf("%w: no certificate", ErrUnknownParty)
	}
	party, err := pki.PartyFromCertificate(chain[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnknownParty, err)
	}
	pt, ok := p.a.Party(party)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownParty, party)
	}
	if fp := pt.Certificate.Fingerprint; fp != "" && pki.Fingerprint(chain[0]) != fp {
		return "", fmt.Errorf("%w: certificate for %q is not the one the agreement names", ErrUnknownParty, party)
	}
	if ca := pt.Certificate.CA; ca != "" {
		if !slices.ContainsFunc(chain[1:], func(c *x509.Certificate) bool { return c != nil && pki.Fingerprint(c) == ca }) {
			return "", fmt.Errorf("%w: certificate for %q is not issued by the CA the agreement names", ErrUnknownParty, party)
		}
	}
	return party, nil
}

// PartyFromState returns the party at the other end of a TLS connection
// whose handshake verified the peer's chain (see Identify). Any verified
// chain that matches is enough.
func (p *Policy) PartyFromState(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete || len(cs.VerifiedChains) == 0 {
		return "", fmt.Errorf("%w: %w", ErrUnknownParty, pki.ErrNoPeerIdentity)
	}
	var firstErr error
	for _, chain := range cs.VerifiedChains {
		party, err := p.Identify(chain)
		if err == nil {
			return party, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// PartyFromContext returns the party that made a gRPC call on a mutual-TLS
// connection (see Identify). It fits server.Config.Party.
func (p *Policy) PartyFromContext(ctx context.Context) (string, error) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return "", fmt.Errorf("%w: %w: no peer in context", ErrUnknownParty, pki.ErrNoPeerIdentity)
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", fmt.Errorf("%w: %w: connection is not TLS", ErrUnknownParty, pki.ErrNoPeerIdentity)
	}
	return p.PartyFromState(info.State)
}

// IdentifySelf returns the party a node's own certificate speaks for (see
// Identify), verifying it against roots, the programme's CA pool. Nodes
// call it at start to refuse to run under a certificate the agreement
// does not give them.
func (p *Policy) IdentifySelf(cert tls.Certificate, roots *x509.CertPool) (string, error) {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return "", fmt.Errorf("%w: no certificate", ErrUnknownParty)
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", fmt.Errorf("%w: %w", ErrUnknownParty, err)
		}
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnknownParty, err)
	}
	var firstErr error
	for _, chain := range chains {
		party, err := p.Identify(chain)
		if err == nil {
			return party, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}
