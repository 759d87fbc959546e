// Package conventions holds no code, only tests: they enforce the
// repository's conventions over the whole module, so that a change which
// breaks one fails `go test ./...` instead of waiting for a reviewer.
//
// The rules (the tests hold the exact checks):
//
//   - every package, commands and test-only packages included, has a
//     package doc comment in a non-test file;
//   - no package is named util, utils, common, helpers or misc;
//   - package keys never imports math/rand (secrets come from crypto/rand);
//   - generated protobuf types stay at the network edge: the linkage,
//     rules, store, ingest, mapping, normalisation and derivation packages
//     and package keys do not depend on tfmatch/proto;
//   - the agency binary does not depend on the matcher's packages, and the
//     matcher binary depends neither on the agency's packages (the matcher
//     never normalises or holds identities) nor on the synthetic data
//     generator;
//   - no code in the matcher binary names the programme secret.
package conventions
