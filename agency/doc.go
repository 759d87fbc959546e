// Package agency is the agency node: it reads an agency's extract through
// its mapping, normalises each row, derives match keys, pseudonymises them
// under the programme secret, keeps a local vault from record reference to
// the agency's own record, and streams the tokens and indicators to the
// matcher. It also serves the vault to the programme lead.
//
// Nothing that leaves this package towards the matcher carries a name, a
// date of birth, an address or an identifier: only tokens (HMAC-SHA256 under
// keys derived from the programme secret), opaque record references and the
// indicators the mapping derives.
package agency
