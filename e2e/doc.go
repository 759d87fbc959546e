// Package e2e holds the whole-system tests: they build the real binaries,
// start them as separate processes on loopback with real TLS and real
// badger directories, and check what the system promises end to end:
// flagged households, privacy of the matcher's store and traffic, refusal
// of strangers, and agreement between the networked pipeline and the
// one-process evaluation pipeline.
package e2e
