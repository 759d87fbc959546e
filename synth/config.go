package synth

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Version identifies the generator's model. It changes whenever the same
// Config would produce different output, and is written to district.json.
const Version = "synth/1"

// Agency names, in the order Agencies returns them. They are the file
// names of the extracts (council.csv, ...) and the source labels in the
// truth files.
const (
	Council   = "council"
	Education = "education"
	Police    = "police"
	DWP       = "dwp"
)

// Defaults used when a Config field is zero.
const (
	DefaultHouseholds = 10000
	DefaultSeed       = 1
)

// MaxHouseholds bounds Config.Households (the generator keeps every person
// in memory; 4 million households is about 10 million persons).
const MaxHouseholds = 4_000_000

// DefaultAsOf is the reference date of the generated facts when
// Config.AsOf is zero: 31 October 2026.
func DefaultAsOf() time.Time { return time.Date(2026, time.October, 31, 0, 0, 0, 0, time.UTC) }

// Config describes one district. The zero value is a valid configuration
// meaning all defaults: 10,000 households, seed 1, as of DefaultAsOf, with
// the default (realistic) recording errors.
type Config struct {
	// Seed selects the district. The zero value means DefaultSeed, so a
	// seed of 0 cannot be chosen; every other int64 can.
	Seed int64
	// Households is the number of households in the district, counting
	// each resident of a hostel or care home and each person of no fixed
	// abode as a household of their own. Zero means DefaultHouseholds.
	Households int
	// AsOf is the reference date: ages, "last 12 months" windows and
	// claim dates are relative to it. Only the date (UTC) is used. Zero
	// means DefaultAsOf.
	AsOf time.Time
	// Errors are the recording-error rates of each agency's extract.
	Errors ErrorModel
}

// ErrorModel holds the recording-error rates per agency. Its zero value
// means the default rates (DefaultRates); set None to write every extract
// without errors.
type ErrorModel struct {
	// None turns off every recording error: every extract then carries
	// the true values (still in its own formats and conventions).
	None bool
	// Per-agency rates. A zero field means that agency's default for the
	// field; a negative field means 0 (that error never happens).
	Council, Education, Police, DWP Rates
}

// Rates are the probabilities of recording errors in one agency's
// extract. Each is a probability in [0, 1] applied independently per
// record (per name field for Typo) and only where the error is possible
// (Nickname needs a name with a known nickname, DOBSwap a day of 12 or
// less, OldSurname a person whose surname changed, MissingFlat a flat, and
// so on). A zero field means the agency default (see DefaultRates); a
// negative one means never.
type Rates struct {
	// Typo: one typing error (insertion, deletion, substitution or
	// transposition) in a name field; applied to the given and the family
	// name separately.
	Typo float64
	// Nickname: the given name recorded as a common informal form
	// (Bill for William, Liz for Elizabeth, Mo for Mohammed).
	Nickname float64
	// DropMiddle: middle names left out, for extracts that record them.
	DropMiddle float64
	// MiddleInGiven: middle names written into the given-name column
	// ("JOHN PAUL"), for persons who have middle names.
	MiddleInGiven float64
	// NameSwap: given and family name recorded the wrong way round.
	NameSwap float64
	// StripAccents: accents and name punctuation lost or changed
	// (Zoë as Zoe, O'Brien as OBrien, Smith-Jones as Smith Jones).
	StripAccents float64
	// OldSurname: the surname before marriage still on file.
	OldSurname float64
	// DOBSwap: day and month of the date of birth swapped.
	DOBSwap float64
	// DOBOffByOne: day, month or year of the date of birth off by one.
	DOBOffByOne float64
	// StaleAddress: a previous address still on file after a move.
	StaleAddress float64
	// NoFixedAbode: a housed person recorded as of no fixed abode.
	NoFixedAbode float64
	// MissingPostcode: postcode left empty.
	MissingPostcode float64
	// PostcodeFormat: postcode in lower case or with its space missing
	// or doubled.
	PostcodeFormat float64
	// MissingFlat: flat number left out of a flat's address.
	MissingFlat float64
	// StreetAbbrev: street type abbreviated (Road as Rd, Close as Cl).
	StreetAbbrev float64
	// MissingID: the agency's identifiers (NINO, UPN, NHS number, UPRN)
	// left empty.
	MissingID float64
}

// DefaultRates returns the default recording-error rates of an agency
// (one of Agencies()). They are set at realistic levels: typing errors in
// a few per cent of name fields, nicknames and stale addresses mostly in
// police records, maiden names in DWP records, legal names in the school
// census.
func DefaultRates(agency string) (Rates, error) {
	switch agency {
	case Council:
		return Rates{
			Typo: 0.02, Nickname: 0.08, DropMiddle: 0.40, MiddleInGiven: 0.02,
			NameSwap: 0.005, StripAccents: 0.30, OldSurname: 0.05,
			DOBSwap: 0.005, DOBOffByOne: 0.01, StaleAddress: 0.02,
			NoFixedAbode: 0.002, MissingPostcode: 0.01, PostcodeFormat: 0.05,
			MissingFlat: 0.10, StreetAbbrev: 0.20, MissingID: 0.35,
		}, nil
	case Education:
		return Rates{
			Typo: 0.01, Nickname: 0.01, DropMiddle: 0.05, MiddleInGiven: 0.005,
			NameSwap: 0.002, StripAccents: 0.10, OldSurname: 0.02,
			DOBSwap: 0.002, DOBOffByOne: 0.003, StaleAddress: 0.01,
			NoFixedAbode: 0.001, MissingPostcode: 0.005, PostcodeFormat: 0.02,
			MissingFlat: 0.05, StreetAbbrev: 0.10, MissingID: 0.01,
		}, nil
	case Police:
		return Rates{
			Typo: 0.04, Nickname: 0.15, DropMiddle: 0.60, MiddleInGiven: 0.01,
			NameSwap: 0.01, StripAccents: 0.80, OldSurname: 0.05,
			DOBSwap: 0.01, DOBOffByOne: 0.02, StaleAddress: 0.06,
			NoFixedAbode: 0.01, MissingPostcode: 0.03, PostcodeFormat: 0.10,
			MissingFlat: 0.20, StreetAbbrev: 0.50, MissingID: 0, // no identifier columns
		}, nil
	case DWP:
		return Rates{
			Typo: 0.015, Nickname: 0.02, DropMiddle: 0.30, MiddleInGiven: 0.30,
			NameSwap: 0.005, StripAccents: 0.60, OldSurname: 0.15,
			DOBSwap: 0.003, DOBOffByOne: 0.005, StaleAddress: 0.03,
			NoFixedAbode: 0.002, MissingPostcode: 0.005, PostcodeFormat: 0.03,
			MissingFlat: 0.10, StreetAbbrev: 0.30, MissingID: 0.01,
		}, nil
	}
	return Rates{}, fmt.Errorf("synth: unknown agency %q (want one of %v)", agency, Agencies())
}

// Agencies lists the agencies whose extracts the generator writes.
func Agencies() []string { return []string{Council, Education, Police, DWP} }

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid generator config")

// Validate reports whether c describes a district the generator can make.
func (c Config) Validate() error {
	if c.Households < 0 || c.Households > MaxHouseholds {
		return fmt.Errorf("synth: %w: households %d out of range 0..%d", ErrInvalidConfig, c.Households, MaxHouseholds)
	}
	if !c.AsOf.IsZero() {
		if y := c.AsOf.UTC().Year(); y < 1990 || y > 2200 {
			return fmt.Errorf("synth: %w: as-of year %d out of range 1990..2200", ErrInvalidConfig, y)
		}
	}
	for _, a := range Agencies() {
		r := c.Errors.rates(a)
		for _, f := range r.fields() {
			if math.IsNaN(*f.p) || *f.p > 1 {
				return fmt.Errorf("synth: %w: %s error rate %s = %v, want a probability (<= 1; 0 = default, negative = never)",
					ErrInvalidConfig, a, f.name, *f.p)
			}
		}
	}
	return nil
}

// withDefaults returns c with every zero field replaced by its default and
// the error rates resolved to plain probabilities.
func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Households == 0 {
		c.Households = DefaultHouseholds
	}
	if c.AsOf.IsZero() {
		c.AsOf = DefaultAsOf()
	}
	y, m, d := c.AsOf.UTC().Date()
	c.AsOf = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return c
}

// Resolved returns the effective rates for an agency: the default for each
// zero field, 0 for each negative field, all 0 when None is set.
func (e ErrorModel) Resolved(agency string) (Rates, error) {
	def, err := DefaultRates(agency)
	if err != nil {
		return Rates{}, err
	}
	if e.None {
		return Rates{}, nil
	}
	r := e.rates(agency)
	rf, df := r.fields(), def.fields()
	for i := range rf {
		switch v := *rf[i].p; {
		case v == 0:
			*rf[i].p = *df[i].p
		case v < 0:
			*rf[i].p = 0
		}
	}
	return r, nil
}

func (e ErrorModel) rates(agency string) Rates {
	switch agency {
	case Council:
		return e.Council
	case Education:
		return e.Education
	case Police:
		return e.Police
	case DWP:
		return e.DWP
	}
	return Rates{}
}

type rateField struct {
	name string
	p    *float64
}

// fields lists r's rates by name, in declaration order.
func (r *Rates) fields() []rateField {
	return []rateField{
		{"Typo", &r.Typo}, {"Nickname", &r.Nickname}, {"DropMiddle", &r.DropMiddle},
		{"MiddleInGiven", &r.MiddleInGiven}, {"NameSwap", &r.NameSwap},
		{"StripAccents", &r.StripAccents}, {"OldSurname", &r.OldSurname},
		{"DOBSwap", &r.DOBSwap}, {"DOBOffByOne", &r.DOBOffByOne},
		{"StaleAddress", &r.StaleAddress}, {"NoFixedAbode", &r.NoFixedAbode},
		{"MissingPostcode", &r.MissingPostcode}, {"PostcodeFormat", &r.PostcodeFormat},
		{"MissingFlat", &r.MissingFlat}, {"StreetAbbrev", &r.StreetAbbrev},
		{"MissingID", &r.MissingID},
	}
}
