package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

// Negative vectors for proof verification, in the manner of
// transparency-dev/merkle's proof/verify_test.go: every corruption of a
// valid proof, root, index or size must be rejected.

func proofTree(t *testing.T, n int) ([][]byte, *memTree) {
	t.Helper()
	var entries [][]byte
	for i := range n {
		entries = append(entries, mustEncode(t, event(i)))
	}
	return entries, treeOf(entries)
}

func clone2(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i])
	}
	return out
}

func flipBit(b []byte, bit int) []byte {
	b = bytes.Clone(b)
	b[bit/8] ^= 1 << (bit % 8)
	return b
}

func TestInclusionProofNegative(t *testing.T) {
	const n = 13
	entries, tree := proofTree(t, n)
	for size := uint64(1); size <= n; size++ {
		root, _ := rootAt(tree.node, size)
		otherRoot, _ := rootAt(tree.node, size-1)
		for index := range size {
			p, err := inclusionProof(tree.node, index, size)
			if err != nil {
				t.Fatal(err)
			}
			entry := entries[index]
			if err := verifyInclusion(entry, index, size, p, root); err != nil {
				t.Fatalf("valid proof %d in %d rejected: %v", index, size, err)
			}
			type variant struct {
				name        string
				entry       []byte
				index, size uint64
				proof       [][]byte
				root        []byte
			}
			var vs []variant
			add := func(name string, f func(v *variant)) {
				v := variant{name, entry, index, size, clone2(p), root}
				f(&v)
				vs = append(vs, v)
			}
			for i := range p {
				for _, bit := range []int{0, 7, 130, 255} {
					add(fmt.Sprintf("flip bit %d of hash %d", bit, i), func(v *variant) { v.proof[i] = flipBit(v.proof[i], bit) })
				}
				add(fmt.Sprintf("drop hash %d", i), func(v *variant) { v.proof = slices.Delete(v.proof, i, i+1) })
				add(fmt.Sprintf("short hash %d", i), func(v *variant) { v.proof[i] = v.proof[i][:31] })
			}
			for i := 0; i+1 < len(p); i++ {
				if !bytes.Equal(p[i], p[i+1]) {
					add(fmt.Sprintf("swap hashes %d and %d", i, i+1), func(v *variant) { v.proof[i], v.proof[i+1] = v.proof[i+1], v.proof[i] })
				}
			}
			if len(p) > 0 {
				add("truncated to nothing", func(v *variant) { v.proof = nil })
			}
			add("extra hash", func(v *variant) { v.proof = append(v.proof, root) })
			add("root bit flip", func(v *variant) { v.root = flipBit(root, 9) })
			add("root of another size", func(v *variant) { v.root = otherRoot })
			add("entry bit flip", func(v *variant) { v.entry = flipBit(entry, 100) })
			add("index+1", func(v *variant) { v.index++ })
			if index > 0 {
				add("index-1", func(v *variant) { v.index-- })
			}
			for _, v := range vs {
				if err := verifyInclusion(v.entry, v.index, v.size, v.proof, v.root); !errors.Is(err, ErrProof) {
					t.Errorf("inclusion %d in %d, %s: err = %v, want ErrProof", index, size, v.name, err)
				}
			}
			// A proof is a path, and does not commit to the tree size
			// beyond the path's shape: at another size with the same
			// shape it still leads to the same root. That is safe because
			// the size a receipt is checked at comes from the signed
			// checkpoint, not from the prover. At a size with another
			// shape it must fail.
			for _, wrong := range []uint64{size + 1, size - 1, size * 2, size + 7} {
				if wrong <= index {
					continue
				}
				err := verifyInclusion(entry, index, wrong, p, root)
				if same := inclusionShape(index, wrong) == inclusionShape(index, size); same != (err == nil) {
					t.Errorf("inclusion %d in %d checked at size %d: same shape %v, err = %v", index, size, wrong, same, err)
				}
			}
		}
	}
}

func TestConsistencyProofNegative(t *testing.T) {
	const n = 13
	_, tree := proofTree(t, n)
	roots := make([][]byte, n+1)
	for s := range roots {
		roots[s], _ = rootAt(tree.node, uint64(s))
	}
	for size2 := uint64(2); size2 <= n; size2++ {
		for size1 := uint64(1); size1 < size2; size1++ {
			p, err := consistencyProof(tree.node, size1, size2)
			if err != nil {
				t.Fatal(err)
			}
			r1, r2 := roots[size1], roots[size2]
			if err := verifyConsistency(size1, size2, p, r1, r2); err != nil {
				t.Fatalf("valid proof %d to %d rejected: %v", size1, size2, err)
			}
			type variant struct {
				name   string
				s1, s2 uint64
				proof  [][]byte
				r1, r2 []byte
			}
			var vs []variant
			add := func(name string, f func(v *variant)) {
				v := variant{name, size1, size2, clone2(p), r1, r2}
				f(&v)
				vs = append(vs, v)
			}
			for i := range p {
				for _, bit := range []int{0, 77, 255} {
					add(fmt.Sprintf("flip bit %d of hash %d", bit, i), func(v *variant) { v.proof[i] = flipBit(v.proof[i], bit) })
				}
				add(fmt.Sprintf("drop hash %d", i), func(v *variant) { v.proof = slices.Delete(v.proof, i, i+1) })
			}
			add("empty proof", func(v *variant) { v.proof = nil })
			add("extra hash", func(v *variant) { v.proof = append(v.proof, r1) })
			add("swapped roots", func(v *variant) { v.r1, v.r2 = r2, r1 })
			add("old root flipped", func(v *variant) { v.r1 = flipBit(r1, 3) })
			add("new root flipped", func(v *variant) { v.r2 = flipBit(r2, 250) })
			add("new root of another size", func(v *variant) { v.r2 = roots[size2-1] })
			add("swapped sizes", func(v *variant) { v.s1, v.s2 = size2, size1 })
			add("size1+1", func(v *variant) { v.s1++ })
			if size1 > 1 {
				add("size1-1", func(v *variant) { v.s1-- })
			}
			for _, v := range vs {
				if err := verifyConsistency(v.s1, v.s2, v.proof, v.r1, v.r2); !errors.Is(err, ErrProof) {
					t.Errorf("consistency %d to %d, %s: err = %v, want ErrProof", size1, size2, v.name, err)
				}
			}
			// As for inclusion, a larger size2 of the same shape is
			// accepted (checkpoints bind the size); another shape is not.
			for _, wrong := range []uint64{size2 + 1, size2 + 3, size2 * 2} {
				err := verifyConsistency(size1, wrong, p, r1, r2)
				if same := inclusionShape(size1-1, wrong) == inclusionShape(size1-1, size2); same != (err == nil) {
					t.Errorf("consistency %d to %d checked at size %d: same shape %v, err = %v", size1, size2, wrong, same, err)
				}
			}
		}
	}
}

// TestReceiptProofNegative: a receipt whose proof, index or entry was
// altered does not verify.
func TestReceiptProofNegative(t *testing.T) {
	f := newFixture(t)
	r := f.receipts[3]
	if err := VerifyReceipt(r, f.v); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(r *Receipt)
		want error
	}{
		{"proof hash flipped", func(r *Receipt) { r.Proof[0] = flipBit(r.Proof[0], 1) }, ErrProof},
		{"proof truncated", func(r *Receipt) { r.Proof = r.Proof[:len(r.Proof)-1] }, ErrProof},
		{"proof empty", func(r *Receipt) { r.Proof = nil }, ErrProof},
		{"index moved", func(r *Receipt) { r.Index++ }, ErrProof},
		{"index beyond the checkpoint", func(r *Receipt) { r.Index = 1 << 40 }, ErrProof},
		{"entry swapped", func(r *Receipt) { r.Entry = f.receipts[2].Entry }, ErrProof},
		{"entry garbage", func(r *Receipt) { r.Entry = []byte("x") }, ErrMalformed},
		{"checkpoint without signature", func(r *Receipt) { r.Checkpoint = checkpointText(r.Checkpoint) }, ErrCheckpointMalformed},
		{"checkpoint size altered", func(r *Receipt) {
			c, _ := ParseCheckpoint(checkpointText(r.Checkpoint))
			r.Checkpoint = bytes.Replace(r.Checkpoint, fmt.Appendf(nil, "\n%d\n", c.Size), fmt.Appendf(nil, "\n%d\n", c.Size+1), 1)
		}, ErrCheckpointSignature},
		{"checkpoint signature altered", func(r *Receipt) { r.Checkpoint = flipSignatureBit(t, r.Checkpoint) }, ErrCheckpointSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Receipt{Checkpoint: r.Checkpoint, Index: r.Index, Proof: clone2(r.Proof), Entry: r.Entry}
			tt.mod(&c)
			if err := VerifyReceipt(c, f.v); !errors.Is(err, tt.want) {
				t.Errorf("VerifyReceipt = %v, want %v", err, tt.want)
			}
		})
	}
}

// inclusionShape is the (inner, border) split of an inclusion proof for
// index in a tree of size leaves, as RFC 9162 section 2.1.3.2 defines it.
func inclusionShape(index, size uint64) [2]int {
	inner := bits.Len64(index ^ (size - 1))
	border := bits.OnesCount64(index >> inner)
	return [2]int{inner, border}
}

// flipSignatureBit flips one bit of the Ed25519 signature in a signed
// note, keeping the note well formed.
func flipSignatureBit(t *testing.T, signed []byte) []byte {
	t.Helper()
	text := checkpointText(signed)
	sigLine := strings.TrimSuffix(string(signed[len(text)+1:]), "\n")
	// The line is "— <name> <base64 signature>".
	i := strings.LastIndex(sigLine, " ")
	prefix, b64 := sigLine[:i], sigLine[i+1:]
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("signature line %q: %v", sigLine, err)
	}
	sig[10] ^= 1 // past the 4-byte key hash
	return fmt.Appendf(bytes.Clone(text), "\n%s %s\n", prefix, base64.StdEncoding.EncodeToString(sig))
}
