// Package normalize owns the canonical form of an agency record: it turns
// the fields a mapping yields for one row (keyed by the names in fields.go)
// into a Person whose every value is written the same way whichever agency
// recorded it, so that match keys derived from it (package agency/derive)
// agree across agencies despite formatting differences.
//
// # Text
//
// Names and address words are folded: Unicode NFKD with combining marks
// removed (Zoë → zoe, José → jose), a few letters without a decomposition
// transliterated (ß → ss, ø → o, ł → l), lower case, apostrophes deleted
// (O'Brien, O’Brien, O`Brien → obrien) and every other punctuation mark a
// word separator. Letters of other scripts are kept, lower-cased.
//
// # Names
//
//   - The given-name field may hold several names ("Mary Jane"): the first
//     is Given, the rest precede the middle-names field in Middle. Hyphens
//     split given names like spaces (Mary-Jane → mary, jane).
//   - The family name is canonical with its parts joined (Smith-Jones,
//     Smith Jones → smithjones); FamilyParts keeps the parts, particles
//     attached to the word they precede (van der Berg → vanderberg).
//   - full_name is used only for what the split fields lack; see
//     ParseFullName for the orders it understands ("SMITH, John").
//   - Titles (Mr, Mrs, Dr, Rev...) and suffixes (Jr, Snr, III) are removed.
//   - GivenVariants maps nicknames and spelling variants to formal names
//     (Bill → william, Mo → mohammed, Kathryn → catherine) using the
//     embedded table nicknames.txt; ambiguous names give several.
//
// # Identifiers
//
// NINO, NHSNumber, UPN and UPRN check format and check characters and
// return a canonical form; the NINO suffix letter is dropped (see NINO). An
// invalid identifier is dropped with an Issue; it never rejects the record.
//
// # Addresses
//
// ParseAddress reads a free-text address into flat, number or house name,
// street, town and postcode; explicit flat, house_number, street, town and
// postcode fields override what it finds. Postcodes are validated (see
// Postcode) and an invalid one is treated as missing with an Issue; a
// postcode embedded in the free text is used when the postcode field is
// empty or invalid. "No fixed abode" in any of its spellings (NFA, no fixed
// address, the NHS pseudo-postcode ZZ99 3VZ) sets NoFixedAbode and clears
// the rest of the address.
//
// # Rejected records
//
// Normalize returns a *FieldError, and no Person, when
//
//   - record_id is missing or blank;
//   - the record has neither a name (given or family) nor a valid
//     identifier (NINO, NHS number, UPN);
//   - dob is present but is not a YYYY-MM-DD date, is not a real date, or
//     has a year outside MinYear..MaxYear.
//
// A record with a valid identifier and no name or no date of birth is
// usable. Everything else wrong with a record is an Issue.
//
// The lookup tables of this package (titles, street abbreviations, the
// nickname table parsed once on first use) are read-only after
// construction, so every function is safe for concurrent use.
package normalize
