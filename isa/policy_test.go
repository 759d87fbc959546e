package isa

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"tfmatch/pki"
)

// TestMayDoMatrix checks every party × action while the agreement is in
// force. want names the error; nil means allowed.
func TestMayDoMatrix(t *testing.T) {
	p := newFixture(t).policy(t, testNow)
	ok := error(nil)
	wrong, unknown := ErrWrongRole, ErrUnknownParty
	//              submit disclose start-run read-results resolve audit-read serve
	want := map[string][8]error{
		"police":  {ok, ok, wrong, wrong, wrong, wrong, wrong, wrong},
		"council": {ok, ok, wrong, wrong, wrong, wrong, wrong, wrong},
		"lead":    {wrong, wrong, ok, ok, ok, ok, wrong, wrong},
		"auditor": {wrong, wrong, wrong, wrong, wrong, wrong, ok, wrong},
		"matcher": {wrong, wrong, wrong, wrong, wrong, wrong, wrong, ok},
		"health":  {unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown},
		"Police":  {unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown},
		"":        {unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown},
	}
	acts := Actions()
	if len(acts) != 8 {
		t.Fatalf("Actions() has %d entries; update the matrix", len(acts))
	}
	for party, row := range want {
		for i, act := range acts {
			err := p.MayDo(party, act)
			if row[i] == nil {
				if err != nil {
					t.Errorf("MayDo(%q, %s) = %v, want allowed", party, act, err)
				}
				continue
			}
			if !errors.Is(err, row[i]) {
				t.Errorf("MayDo(%q, %s) = %v, want %v", party, act, err, row[i])
			}
			if errors.Is(err, ErrWrongRole) && !strings.Contains(err.Error(), string(act)) {
				t.Errorf("MayDo(%q, %s): message does not name the action: %v", party, act, err)
			}
		}
	}
	if err := p.MayDo("police", Action("delete-everything")); !errors.Is(err, ErrWrongRole) {
		t.Errorf("unknown action: err = %v, want ErrWrongRole", err)
	}
}

// TestMayDoValidity: outside its dates the agreement allows nothing, and
// the error says which side.
func TestMayDoValidity(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"first instant", testFrom, nil},
		{"last second", testUntil.Add(-time.Second), nil},
		{"a second early", testFrom.Add(-time.Second), ErrNotYetValid},
		{"long before", testFrom.AddDate(-5, 0, 0), ErrNotYetValid},
		{"at the end", testUntil, ErrExpired},
		{"long after", testUntil.AddDate(1, 0, 0), ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newFixture(t).policy(t, tc.now)
			for _, act := range Actions() {
				role, _ := RoleFor(act)
				party := p.Agreement().PartiesWithRole(role)[0]
				if err := p.MayDo(party, act); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
					t.Errorf("MayDo(%s, %s) = %v, want %v", party, act, err, tc.want)
				}
			}
			// An unknown party is still told it is unknown, not about dates.
			if err := p.MayDo("health", ActionSubmit); !errors.Is(err, ErrUnknownParty) {
				t.Errorf("unknown party: %v", err)
			}
			if err := p.Active(); !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Errorf("Active() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckIndicators(t *testing.T) {
	p := newFixture(t).policy(t, testNow)
	tests := []struct {
		party     string
		names     []string
		want      error
		indicator string // named in *ErrIndicatorNotAllowed
	}{
		{"council", []string{"crime_asb", "local_concern"}, nil, ""},
		{"council", nil, nil, ""},
		{"police", []string{"crime_asb"}, nil, ""},
		{"police", []string{"crime_asb", "education"}, nil, "education"},
		{"dwp", []string{"Work"}, nil, "Work"},
		{"dwp", []string{"crime_asb"}, nil, "crime_asb"},
		{"lead", []string{"work"}, ErrWrongRole, ""},
		{"matcher", nil, ErrWrongRole, ""},
		{"health", []string{"work"}, ErrUnknownParty, ""},
	}
	for _, tc := range tests {
		err := p.CheckIndicators(tc.party, tc.names)
		var bad *ErrIndicatorNotAllowed
		switch {
		case tc.indicator != "":
			if !errors.As(err, &bad) || bad.Indicator != tc.indicator || bad.Party != tc.party {
				t.Errorf("CheckIndicators(%s, %v) = %v, want indicator %q refused", tc.party, tc.names, err, tc.indicator)
			} else if !strings.Contains(err.Error(), tc.indicator) {
				t.Errorf("message does not name the indicator: %v", err)
			}
		case tc.want != nil:
			if !errors.Is(err, tc.want) {
				t.Errorf("CheckIndicators(%s, %v) = %v, want %v", tc.party, tc.names, err, tc.want)
			}
		default:
			if err != nil {
				t.Errorf("CheckIndicators(%s, %v) = %v, want allowed", tc.party, tc.names, err)
			}
		}
	}
	if got := p.Agreement().Indicators("council"); len(got) != 2 {
		t.Errorf("Indicators(council) = %v", got)
	}
	if got := p.Agreement().Indicators("lead"); got != nil {
		t.Errorf("Indicators(lead) = %v, want none", got)
	}
}

func TestPolicyAccessors(t *testing.T) {
	f := newFixture(t)
	p := f.policy(t, testNow)
	if r, ok := p.RoleOf("lead"); !ok || r != RoleLead {
		t.Errorf("RoleOf(lead) = %v, %v", r, ok)
	}
	if _, ok := p.RoleOf("nobody"); ok {
		t.Error("RoleOf(nobody) found a role")
	}
	if got := p.Retention(); got != 365*24*time.Hour {
		t.Errorf("Retention() = %v", got)
	}
	if err := p.ActiveAt(testUntil); !errors.Is(err, ErrExpired) {
		t.Errorf("ActiveAt(until) = %v", err)
	}
	if m := p.Agreement().Matcher(); m != "matcher" {
		t.Errorf("Matcher() = %q", m)
	}
	if _, err := NewPolicy(nil, PolicyConfig{}); err == nil {
		t.Error("NewPolicy(nil) succeeded")
	}
	unsigned := newFixture(t)
	if _, err := NewPolicy(unsigned.a, PolicyConfig{}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("NewPolicy(unsigned) = %v, want ErrUnsigned", err)
	}
}

// TestIdentify checks certificate identities against the agreement.
func TestIdentify(t *testing.T) {
	f := newFixture(t)
	otherCA, err := pki.NewCA("another CA", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.CA, party string) []*x509.Certificate {
		t.Helper()
		c, err := ca.Issue(pki.Request{Party: party})
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{c.Cert, ca.Cert}
	}
	police := issue(f.ca, "police")
	policeAgain := issue(f.ca, "police")
	// Pin the matcher's leaf as well as its CA.
	matcher := issue(f.ca, "matcher")
	for i := range f.a.Parties {
		if f.a.Parties[i].ID == "matcher" {
			f.a.Parties[i].Certificate.Fingerprint = pki.Fingerprint(matcher[0])
		}
	}
	// The auditor is named by its leaf only.
	auditor := issue(otherCA, "auditor")
	for i := range f.a.Parties {
		if f.a.Parties[i].ID == "auditor" {
			f.a.Parties[i].Certificate = CertIdentity{Fingerprint: pki.Fingerprint(auditor[0])}
		}
	}
	p := f.policy(t, testNow)

	tests := []struct {
		name  string
		chain []*x509.Certificate
		want  string // party, or "" for ErrUnknownParty
	}{
		{"agency from the named CA", police, "police"},
		{"agency, any certificate from the CA", policeAgain, "police"},
		{"pinned leaf", matcher, "matcher"},
		{"leaf-only identity", auditor, "auditor"},
		{"agency from another CA", issue(otherCA, "police"), ""},
		{"pinned party, other leaf from the right CA", issue(f.ca, "matcher"), ""},
		{"leaf-only party, other leaf", issue(otherCA, "auditor"), ""},
		{"party not in the agreement", issue(f.ca, "health"), ""},
		{"leaf without its CA", police[:1], ""},
		{"no chain", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Identify(tc.chain)
			if tc.want == "" {
				if !errors.Is(err, ErrUnknownParty) {
					t.Errorf("Identify = %q, %v; want ErrUnknownParty", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Identify = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	// The gRPC path: a peer in the context with a verified chain.
	state := tls.ConnectionState{HandshakeComplete: true, VerifiedChains: [][]*x509.Certificate{police}}
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	if got, err := p.PartyFromContext(ctx); err != nil || got != "police" {
		t.Errorf("PartyFromContext = %q, %v", got, err)
	}
	for name, ctx := range map[string]context.Context{
		"no peer":        context.Background(),
		"not TLS":        peer.NewContext(context.Background(), &peer.Peer{}),
		"no handshake":   peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: state.VerifiedChains}}}),
		"no chains":      peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{HandshakeComplete: true}}}),
		"unknown signer": peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{HandshakeComplete: true, VerifiedChains: [][]*x509.Certificate{issue(otherCA, "police")}}}}),
	} {
		if _, err := p.PartyFromContext(ctx); !errors.Is(err, ErrUnknownParty) {
			t.Errorf("%s: err = %v, want ErrUnknownParty", name, err)
		}
	}
}

// TestIdentifySelf: a node finds which party its own certificate speaks
// for, and is refused one the agreement does not give it.
func TestIdentifySelf(t *testing.T) {
	f := newFixture(t)
	p := f.policy(t, testNow)
	otherCA, err := pki.NewCA("another CA", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ca    *pki.CA
		roots *pki.CA
		party string
		want  string // "" for ErrUnknownParty
	}{
		{"own certificate", f.ca, f.ca, "matcher", "matcher"},
		{"an agency's", f.ca, f.ca, "police", "police"},
		{"not a party", f.ca, f.ca, "health", ""},
		{"from another CA", otherCA, otherCA, "matcher", ""},
		{"not trusted by the roots", otherCA, f.ca, "matcher", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.ca.Issue(pki.Request{Party: tc.party})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.IdentifySelf(c.TLSCertificate(), tc.roots.Pool())
			if tc.want == "" {
				if !errors.Is(err, ErrUnknownParty) {
					t.Errorf("IdentifySelf = %q, %v; want ErrUnknownParty", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("IdentifySelf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSuppress(t *testing.T) {
	tests := []struct {
		n         uint64
		threshold int
		shown     uint64
		text      string
	}{
		{0, 10, 0, "0"},
		{1, 10, 0, "<10"},
		{9, 10, 0, "<10"},
		{10, 10, 10, "10"},
		{4000, 10, 4000, "4000"},
		{1, 1, 1, "1"},
		{1, 0, 1, "1"},
		{2, 3, 0, "<3"},
	}
	for _, tt := range tests {
		shown, suppressed := Suppress(tt.n, tt.threshold)
		if shown != tt.shown || suppressed != (tt.text[0] == '<') {
			t.Errorf("Suppress(%d, %d) = %d, %v", tt.n, tt.threshold, shown, suppressed)
		}
		if got := FormatCount(tt.n, tt.threshold); got != tt.text {
			t.Errorf("FormatCount(%d, %d) = %q, want %q", tt.n, tt.threshold, got, tt.text)
		}
	}
}
