package audit

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The tree is the RFC 6962 Merkle tree over the entries' encoded bytes, in
// log order: leaf i is HashLeaf(entry i). All hashing, proof shapes and
// proof checks come from github.com/transparency-dev/merkle; this file only
// fetches node hashes for it.

// hasher is the RFC 6962 SHA-256 tree hasher.
var hasher = rfc6962.DefaultHasher

// leafHash returns the tree's leaf hash of an encoded entry.
func leafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// nodeFunc returns the hash of a perfect subtree (a node of the tree whose
// leaves are all present).
type nodeFunc func(id compact.NodeID) ([]byte, error)

func fetchNodes(get nodeFunc, ids []compact.NodeID) ([][]byte, error) {
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := get(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	return hashes, nil
}

// rootAt returns the root hash of the tree's first size leaves.
func rootAt(get nodeFunc, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	hashes, err := fetchNodes(get, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	root := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		root = hasher.HashChildren(hashes[i], root)
	}
	return root, nil
}

// inclusionProof returns the proof that leaf index is in the tree of size
// leaves.
func inclusionProof(get nodeFunc, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes, err := fetchNodes(get, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// consistencyProof returns the proof that the tree of size1 leaves is a
// prefix of the tree of size2 leaves.
func consistencyProof(get nodeFunc, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	hashes, err := fetchNodes(get, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// verifyInclusion checks an inclusion proof of entry at index against the
// root of a tree of size leaves.
func verifyInclusion(entry []byte, index, size uint64, p [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(hasher, index, size, leafHash(entry), p, root); err != nil {
		return fmt.Errorf("%w: %w", ErrProof, err)
	}
	return nil
}

// verifyConsistency checks a consistency proof between two roots.
func verifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("%w: %w", ErrProof, err)
	}
	return nil
}

// memTree is a whole tree held in memory, rebuilt from entries by the
// independent verifier: levels[l][i] is the hash of perfect node (l, i).
type memTree struct {
	levels [][][]byte
}

func (t *memTree) size() uint64 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// add appends a leaf hash and every perfect node it completes.
func (t *memTree) add(h []byte) {
	for l := 0; ; l++ {
		if l == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[l] = append(t.levels[l], h)
		n := len(t.levels[l])
		if n%2 == 1 {
			return
		}
		h = hasher.HashChildren(t.levels[l][n-2], h)
	}
}

func (t *memTree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
		return nil, fmt.Errorf("audit: tree has no node at level %d index %d", id.Level, id.Index)
	}
	return t.levels[id.Level][id.Index], nil
}

// rootMatches reports whether the first size leaves hash to root.
func (t *memTree) rootMatches(size uint64, root []byte) bool {
	r, err := rootAt(t.node, size)
	return err == nil && bytes.Equal(r, root)
}
