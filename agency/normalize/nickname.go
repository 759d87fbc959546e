package normalize

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

//go:embed nicknames.txt
var nicknameData string

// formalName is one canonical reading of a given name.
type formalName struct {
	name string
	sex  byte // 'm', 'f' or 'u'
}

// nicknameTable is the parsed nickname file: variant → canonical names, in
// file order. It is built once on first use and never modified.
var nicknameTable = sync.OnceValue(func() map[string][]formalName {
	t, err := parseNicknames(nicknameData)
	if err != nil {
		// The file is embedded and checked by the tests, so this is a
		// build defect, not a run-time condition.
		panic(err)
	}
	return t
})

// parseNicknames parses the nickname file format described at the top of
// nicknames.txt.
func parseNicknames(data string) (map[string][]formalName, error) {
	t := make(map[string][]formalName)
	for n, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		head, rest, ok := strings.Cut(line, ":")
		h := strings.Fields(head)
		if !ok || len(h) != 2 || len(h[1]) != 1 || !strings.Contains("mfu", h[1]) {
			return nil, fmt.Errorf("nicknames line %d: want \"canonical sex: variant...\"", n+1)
		}
		canon := formalName{name: h[0], sex: h[1][0]}
		if Name(canon.name) != canon.name {
			return nil, fmt.Errorf("nicknames line %d: canonical name %q is not in folded form", n+1, canon.name)
		}
		for _, v := range strings.Fields(rest) {
			if Name(v) != v {
				return nil, fmt.Errorf("nicknames line %d: variant %q is not in folded form", n+1, v)
			}
			if v == canon.name || containsFormal(t[v], canon.name) {
				continue
			}
			t[v] = append(t[v], canon)
		}
	}
	return t, nil
}

func containsFormal(list []formalName, name string) bool {
	for _, f := range list {
		if f.name == name {
			return true
		}
	}
	return false
}

// GivenVariants returns the forms under which a folded given name may be
// recorded elsewhere: the name itself first, then each formal name it may
// stand for according to the nickname table (bill → bill, william; alex →
// alex, alexander, alexandra). sex ("m", "f" or "") narrows ambiguous
// readings to those of that sex when any remain. The result is never empty
// for a non-empty name.
func GivenVariants(given, sex string) []string {
	if given == "" {
		return nil
	}
	formal := nicknameTable()[given]
	out := make([]string, 1, 1+len(formal))
	out[0] = given
	keep := func(f formalName) bool { return true }
	if sex == "m" || sex == "f" {
		n := 0
		for _, f := range formal {
			if f.sex == 'u' || f.sex == sex[0] {
				n++
			}
		}
		if n > 0 {
			keep = func(f formalName) bool { return f.sex == 'u' || f.sex == sex[0] }
		}
	}
	for _, f := range formal {
		if keep(f) && !contains(out, f.name) {
			out = append(out, f.name)
		}
	}
	return out
}
