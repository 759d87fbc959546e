// Package pki owns the programme's public-key infrastructure: the certificate
// authority that names every party, the certificates it issues, their PEM
// files on disk, and the mutual-TLS configurations that servers and clients
// build from them.
//
// # Identity
//
// Every party (the matcher, each agency node, the lead, auditors) is named by
// a party id such as "council" or "police": a lower-case letter followed by up
// to 62 lower-case letters, digits or hyphens (see [ValidateParty]).
//
// The authoritative identity is the subject Common Name of the leaf
// certificate in the chain that the TLS stack verified against the configured
// programme CA. Each certificate also carries the party id as a URI SAN of
// the form "tfmatch:party:<id>" so that generic tooling can read it; when such
// a SAN is present it must agree with the Common Name, otherwise the
// certificate is refused. Nothing else in a certificate (organisation, DNS
// names, IP addresses) grants identity: DNS and IP SANs only let a client
// check that it reached the host it dialled.
//
// Certificates are trusted only when they chain to the CA file a node is
// configured with; there is no system root pool anywhere in this package.
//
// # Keys and files
//
// Keys are ECDSA P-256. Certificates are written as PEM "CERTIFICATE" blocks
// and private keys as PKCS#8 "PRIVATE KEY" blocks with file mode 0600.
// [WriteDevPKI] lays out a complete development set (ca.crt, ca.key and a
// <party>.crt / <party>.key pair for each party); production deployments may
// use any CA that issues certificates following the same naming rules.
package pki
