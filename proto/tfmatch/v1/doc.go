// Package tfmatchv1 is the wire contract between tfmatch parties, generated
// from tfmatch.proto (run `make generate` after changing it): submission of
// pseudonymised batches by agencies, link runs and results for the lead,
// the agency vault for re-identification, and the read-only audit service
// for auditors. Its types stay at the network edge; every service converts
// them to domain types at once.
package tfmatchv1
