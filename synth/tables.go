package synth

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

//go:embed data/*.txt
var dataFS embed.FS

// Name eras: when a given name was mostly given.
const (
	eraAny = iota
	eraOld
	eraYoung
	numEras
)

const (
	sexMale   = 1
	sexFemale = 2
)

// picker draws an index with probability proportional to its weight.
type picker struct {
	cum []uint32 // cumulative weights
	ids []uint16 // name (or other) index per entry
}

func (p *picker) add(id uint16, w uint32) {
	var last uint32
	if n := len(p.cum); n > 0 {
		last = p.cum[n-1]
	}
	p.cum = append(p.cum, last+w)
	p.ids = append(p.ids, id)
}

func (p *picker) empty() bool { return len(p.cum) == 0 }

func (p *picker) pick(r *rand.Rand) uint16 {
	x := uint32(r.Uint64N(uint64(p.cum[len(p.cum)-1])))
	i := sort.Search(len(p.cum), func(i int) bool { return p.cum[i] > x })
	return p.ids[i]
}

// streetType is a street type (Road) with its abbreviation (Rd).
type streetType struct {
	name, abbrev string
}

// postDistrict is an outward postcode and where it is.
type postDistrict struct {
	outward, town, locality string
}

// tables is the read-only reference data the generator draws from: names,
// nicknames, streets and postcode districts. It is built from the embedded
// data files for each Generate call.
type tables struct {
	names     []string // every distinct name; names are referred to by index
	plain     []string // names[i] with accents stripped
	nameIndex map[string]uint16
	origins   []string
	origin    picker
	surname   []picker             // per origin
	given     [][3][numEras]picker // per origin, sex (1, 2), era
	nicknames map[uint16][]string  // formal name index -> informal forms

	streets     []string
	streetTypes []streetType
	streetType  picker
	houseNames  []string
	districts   []postDistrict
	district    picker
}

func loadTables() (*tables, error) {
	t := &tables{nameIndex: map[string]uint16{}, nicknames: map[uint16][]string{}}
	originIdx := map[string]int{}
	err := eachLine("origins.txt", 2, func(f []string) error {
		w, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return err
		}
		originIdx[f[1]] = len(t.origins)
		t.origin.add(uint16(len(t.origins)), uint32(w))
		t.origins = append(t.origins, f[1])
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.surname = make([]picker, len(t.origins))
	t.given = make([][3][numEras]picker, len(t.origins))
	err = eachLine("surnames.txt", 3, func(f []string) error {
		o, ok := originIdx[f[0]]
		if !ok {
			return fmt.Errorf("unknown origin %q", f[0])
		}
		w, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return err
		}
		t.surname[o].add(t.intern(f[2]), uint32(w))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("given.txt", 5, func(f []string) error {
		o, ok := originIdx[f[0]]
		if !ok {
			return fmt.Errorf("unknown origin %q", f[0])
		}
		var sex int
		switch f[1] {
		case "M":
			sex = sexMale
		case "F":
			sex = sexFemale
		default:
			return fmt.Errorf("bad sex %q", f[1])
		}
		var era int
		switch f[2] {
		case "a":
			era = eraAny
		case "o":
			era = eraOld
		case "y":
			era = eraYoung
		default:
			return fmt.Errorf("bad era %q", f[2])
		}
		w, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return err
		}
		id := t.intern(f[4])
		// Names of any era are drawable in both eras.
		if era == eraAny {
			t.given[o][sex][eraOld].add(id, uint32(w))
			t.given[o][sex][eraYoung].add(id, uint32(w))
		} else {
			t.given[o][sex][era].add(id, uint32(w))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for o := range t.origins {
		if t.surname[o].empty() {
			return nil, fmt.Errorf("synth: data: origin %s has no surnames", t.origins[o])
		}
		for sex := sexMale; sex <= sexFemale; sex++ {
			for era := eraOld; era <= eraYoung; era++ {
				if t.given[o][sex][era].empty() {
					return nil, fmt.Errorf("synth: data: origin %s has no given names for sex %d era %d", t.origins[o], sex, era)
				}
			}
		}
	}
	err = eachLine("nicknames.txt", 2, func(f []string) error {
		id, ok := t.nameIndex[f[0]]
		if !ok {
			return nil // a nickname for a name not in the lists is harmless
		}
		t.nicknames[id] = append(t.nicknames[id], f[1:]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("streets.txt", 1, func(f []string) error {
		t.streets = append(t.streets, strings.Join(f, " "))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("streettypes.txt", 3, func(f []string) error {
		w, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return err
		}
		ab := f[1]
		if ab == "-" {
			ab = f[0]
		}
		t.streetType.add(uint16(len(t.streetTypes)), uint32(w))
		t.streetTypes = append(t.streetTypes, streetType{f[0], ab})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("housenames.txt", 1, func(f []string) error {
		t.houseNames = append(t.houseNames, strings.Join(f, " "))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("districts.txt", 4, func(f []string) error {
		w, err := strconv.ParseUint(f[3], 10, 32)
		if err != nil {
			return err
		}
		loc := strings.ReplaceAll(f[2], "_", " ")
		if loc == "-" {
			loc = ""
		}
		t.district.add(uint16(len(t.districts)), uint32(w))
		t.districts = append(t.districts, postDistrict{f[0], f[1], loc})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(t.streets) == 0 || len(t.streetTypes) == 0 || len(t.houseNames) == 0 || len(t.districts) == 0 {
		return nil, fmt.Errorf("synth: data: empty street, house-name or district list")
	}
	t.plain = make([]string, len(t.names))
	for i, n := range t.names {
		t.plain[i] = stripAccents(n)
	}
	return t, nil
}

func (t *tables) intern(name string) uint16 {
	if id, ok := t.nameIndex[name]; ok {
		return id
	}
	id := uint16(len(t.names))
	t.names = append(t.names, name)
	t.nameIndex[name] = id
	return id
}

// eachLine calls fn with the whitespace-separated fields of every
// non-blank, non-comment line of an embedded data file, which must have at
// least minFields fields.
func eachLine(file string, minFields int, fn func([]string) error) error {
	data, err := dataFS.ReadFile("data/" + file)
	if err != nil {
		return fmt.Errorf("synth: data: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < minFields {
			return fmt.Errorf("synth: data/%s:%d: want at least %d fields", file, n, minFields)
		}
		if err := fn(f); err != nil {
			return fmt.Errorf("synth: data/%s:%d: %w", file, n, err)
		}
	}
	return sc.Err()
}

// stripAccents removes diacritics (Zoë -> Zoe) including letters that
// Unicode does not decompose (Ł -> L).
func stripAccents(s string) string {
	isASCII := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			isASCII = false
			break
		}
	}
	if isASCII {
		return s
	}
	tr := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(tr, s)
	if err != nil {
		out = s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case 'Ł':
			return 'L'
		case 'ł':
			return 'l'
		case 'Ø':
			return 'O'
		case 'ø':
			return 'o'
		case 'Đ':
			return 'D'
		case 'đ':
			return 'd'
		case 'ß':
			return 's'
		}
		return r
	}, out)
}
