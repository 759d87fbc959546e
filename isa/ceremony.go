package isa

import (
	"errors"
	"fmt"
	"time"

	"tfmatch/keys"
)

// Ceremony runs the key ceremony for epoch under a: it makes a fresh
// programme secret and writes one age file per agency,
// <party>.programme.age in outDir, wrapped to the agency's age_recipient
// and bound to the agreement's hash and the epoch. The matcher's
// recipient, if it lists one, is withheld: the ceremony refuses to run if
// any agency shares it. The returned record (no key material) goes to the
// audit log.
//
// The key custodian runs it, never the matcher. Epochs start at 1; a
// rotation is a new ceremony under the same agreement with the epoch
// incremented (docs/keys.md).
func Ceremony(a *Agreement, epoch uint32, outDir string) (keys.CeremonyRecord, error) {
	if epoch < 1 {
		return keys.CeremonyRecord{}, errors.New("isa: key ceremony: epochs start at 1")
	}
	if err := a.VerifySignatures(nil); err != nil {
		return keys.CeremonyRecord{}, fmt.Errorf("isa: key ceremony: %w", err)
	}
	if err := a.ActiveAt(time.Now()); errors.Is(err, ErrExpired) {
		return keys.CeremonyRecord{}, fmt.Errorf("isa: key ceremony: %w", err)
	}
	cfg := keys.CeremonyConfig{Context: a.KeyContext(epoch), OutDir: outDir}
	for _, p := range a.Parties {
		switch {
		case p.Role == RoleAgency:
			cfg.Holders = append(cfg.Holders, keys.Holder{Party: p.ID, Recipient: p.AgeRecipient})
		case p.Role == RoleMatcher && p.AgeRecipient != "":
			cfg.Withhold = append(cfg.Withhold, p.AgeRecipient)
		}
	}
	rec, err := keys.Ceremony(cfg)
	if err != nil {
		return keys.CeremonyRecord{}, fmt.Errorf("isa: %w", err)
	}
	return rec, nil
}
