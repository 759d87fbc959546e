package synth

import (
	"embed"
	"fmt"
)

//go:embed mappings/*.yaml
var mappingFS embed.FS

// Mapping returns the mapping file (version 1 format, see docs/mapping.md)
// that maps the agency's generated extract onto the canonical schema and
// derives its phase-1 indicators. agency is one of Agencies().
func Mapping(agency string) ([]byte, error) {
	if _, err := DefaultRates(agency); err != nil {
		return nil, err
	}
	b, err := mappingFS.ReadFile("mappings/" + agency + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("synth: mapping for %s: %w", agency, err)
	}
	return b, nil
}
