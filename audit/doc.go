// Package audit is tfmatch's tamper-evident audit log. It owns the audit
// entry and its frozen binary encoding, the log itself (entries kept in
// badger as the leaves of an RFC 6962 Merkle tree, with signed checkpoints
// in the note format that transparency logs and the Go checksum database
// use), the receipts that agencies keep for their batches, the independent
// verifier an auditor runs over an export of the log, and the report of who
// shared what, who asked for what and what was refused.
//
// An entry records that something happened (a batch was submitted, a link
// run was made, the lead queried households, a person was re-identified, a
// key was made, rotated or purged, a request was refused) with counts and
// stated purposes. It never holds a token, a record reference or anything
// that identifies a person: the entry type has no field that could.
//
// Tamper evidence rests on two facts. Every checkpoint is a signed
// statement "the first N entries hash to root R", so changing, dropping,
// inserting or reordering any of those entries changes R and no longer
// matches the signature. And receipts, each a signed checkpoint plus an
// inclusion proof for one batch's entry, sit with the agencies, outside the
// operator's reach: an operator who rewrote the log and re-signed every
// checkpoint still contradicts the receipts it handed out.
package audit
