package agency

import (
	"context"
	"testing"

	"tfmatch/keys"
	"tfmatch/matchkey"
)

// Two agencies with their own column names and date formats.
const (
	schoolMapping = `version: 1
source: education
fields:
  record_id: PUPIL_ID
  given_name: LEGAL_FORENAME
  family_name: LEGAL_SURNAME
  dob: {column: DOB, format: "DD/MM/YYYY"}
  postcode: POSTCODE
  house_number: HOUSE
`
	schoolHeader = "PUPIL_ID,LEGAL_FORENAME,LEGAL_SURNAME,DOB,POSTCODE,HOUSE\n"

	policeMapping = `version: 1
source: police
fields:
  record_id: NOMINAL
  full_name: NAME
  dob: {column: BORN, format: "YYYY-MM-DD"}
  address: ADDRESS
`
	policeHeader = "NOMINAL,NAME,BORN,ADDRESS\n"
)

// tokensOf runs one extract and returns the record's tokens by kind.
func tokensOf(t *testing.T, k Keys, mappingYAML, extract string) (keys.Ref, map[matchkey.Kind]keys.Token) {
	t.Helper()
	sink := &fakeSink{}
	_, err := Run(context.Background(), Config{
		Mapping: parseMapping(t, mappingYAML), Extract: writeFile(t, "x.csv", extract),
		AsOf: runAsOf, Keys: k,
	}, openVault(t), sink)
	if err != nil {
		t.Fatal(err)
	}
	recs := sink.records()
	if len(recs) != 1 {
		t.Fatalf("%d records accepted, want 1", len(recs))
	}
	out := map[matchkey.Kind]keys.Token{}
	for _, tok := range recs[0].Tokens {
		if _, dup := out[tok.Kind]; dup {
			continue // several given-name variants: keep the first
		}
		out[tok.Kind] = tok.Value
	}
	return recs[0].Ref, out
}

// The core promise: the same person, written differently by two agencies
// holding the same programme secret and agreement, gets the same tokens.
func TestSamePersonSameTokens(t *testing.T) {
	secret, err := keys.NewProgrammeSecret()
	if err != nil {
		t.Fatal(err)
	}
	ctx := keys.Context{ISAHash: keys.HashISA([]byte("agreement A")), Epoch: 3}
	school := Keys{Secret: secret, Context: ctx}
	police := Keys{Secret: secret, Context: ctx}
	if school.Local, err = keys.NewLocalKey(); err != nil {
		t.Fatal(err)
	}
	if police.Local, err = keys.NewLocalKey(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		schoolRow     string
		policeRow     string
		mustShare     []matchkey.Kind
		mustNotShare  []matchkey.Kind
		wantSameCount bool // every person token the school made, the police made too
	}{
		{
			name:      "apostrophe, case and date format",
			schoolRow: "S1,Mary,O'Brien,30/11/1985,LS10 2BB,7\n",
			policeRow: "S1,MARY OBRIEN,1985-11-30,\"7 Mill Lane, Leeds, ls102bb\"\n",
			mustShare: []matchkey.Kind{matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.NameSwappedDOB,
				matchkey.InitialSurnameDOBPost, matchkey.PhoneticDOB, matchkey.NameYOBPostcode, matchkey.House},
			wantSameCount: true,
		},
		{
			name:      "accents, spacing and surname first",
			schoolRow: "S2,  Zoë ,Brown,01/02/2003,YO1 7HH,1\n",
			policeRow: "P9,\"BROWN,  Zoe\",2003-02-01,\"1 Long Road, York, YO17HH\"\n",
			mustShare: []matchkey.Kind{matchkey.NameDOB, matchkey.PhoneticDOB, matchkey.InitialSurnameDOBPost},
		},
		{
			name:         "day and month swapped",
			schoolRow:    "S3,Tom,Jones,02/01/2003,LS1 1AA,12\n",
			policeRow:    "P3,Tom Jones,2003-02-01,\"12 High St, Leeds, LS1 1AA\"\n",
			mustShare:    []matchkey.Kind{matchkey.NameDOBDayMonth, matchkey.NameYOBPostcode},
			mustNotShare: []matchkey.Kind{matchkey.NameDOB},
		},
		{
			name:         "another person",
			schoolRow:    "S4,Tom,Jones,02/01/2003,LS1 1AA,12\n",
			policeRow:    "P4,Tim Jones,2003-01-02,\"14 High St, Leeds, LS1 1AB\"\n",
			mustNotShare: []matchkey.Kind{matchkey.NameDOB, matchkey.NameDOBDayMonth, matchkey.InitialSurnameDOBPost, matchkey.House},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sref, st := tokensOf(t, school, schoolMapping, schoolHeader+tc.schoolRow)
			pref, pt := tokensOf(t, police, policeMapping, policeHeader+tc.policeRow)
			for _, k := range tc.mustShare {
				if _, ok := st[k]; !ok {
					t.Errorf("school made no %s token", k)
					continue
				}
				if st[k] != pt[k] {
					t.Errorf("%s tokens differ", k)
				}
			}
			for _, k := range tc.mustNotShare {
				if v, ok := st[k]; ok && v == pt[k] {
					t.Errorf("%s tokens are equal; want different", k)
				}
			}
			if tc.wantSameCount {
				for k, v := range st {
					if info, _ := matchkey.Lookup(k); info.Class == matchkey.Person && pt[k] != v {
						t.Errorf("%s: school and police tokens differ", k)
					}
				}
			}
			if sref == pref {
				t.Error("two agencies' local keys gave the same reference")
			}
		})
	}
}

// Tokens made under another agreement or key epoch share nothing, even for
// identical input and the same programme secret.
func TestOtherAgreementNoSharedToken(t *testing.T) {
	base := newKeys(t)
	row := schoolHeader + "S1,Mary,O'Brien,30/11/1985,LS10 2BB,7\n"
	_, want := tokensOf(t, base, schoolMapping, row)
	if len(want) < 5 {
		t.Fatalf("only %d token kinds: the comparison would prove little", len(want))
	}
	otherISA := base
	otherISA.Context.ISAHash = keys.HashISA([]byte("another agreement"))
	otherEpoch := base
	otherEpoch.Context.Epoch++
	otherSecret := base
	var err error
	if otherSecret.Secret, err = keys.NewProgrammeSecret(); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]Keys{"ISA hash": otherISA, "epoch": otherEpoch, "secret": otherSecret} {
		t.Run(name, func(t *testing.T) {
			_, got := tokensOf(t, k, schoolMapping, row)
			seen := map[keys.Token]bool{}
			for _, v := range want {
				seen[v] = true
			}
			for kind, v := range got {
				if kind == matchkey.HouseholdGroup {
					continue // keyed by the local key alone
				}
				if seen[v] {
					t.Errorf("%s token is the same under another %s", kind, name)
				}
			}
		})
	}
	// The same keys again give the same tokens: the comparison above can
	// only fail for the right reason.
	_, again := tokensOf(t, base, schoolMapping, row)
	for kind, v := range want {
		if again[kind] != v {
			t.Errorf("%s token changed between two runs with the same keys", kind)
		}
	}
}

func TestNewPseudonymiserCoversEveryKind(t *testing.T) {
	p, err := NewPseudonymiser(newKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range matchkey.All() {
		_, ok := p.tokenKeys[in.Kind]
		if want := in.Class != matchkey.Group; ok != want {
			t.Errorf("kind %s: token key present %v, want %v", in.Kind, ok, want)
		}
	}
}
