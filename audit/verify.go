package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// ProblemCode says what kind of fault Verify found. docs/audit.md explains
// each to auditors; the strings are stable.
type ProblemCode string

// Problem codes.
const (
	// ProblemEntryMalformed: an entry's bytes do not decode.
	ProblemEntryMalformed ProblemCode = "entry-malformed"
	// ProblemCheckpointSignature: a checkpoint is not validly signed by
	// the log's key.
	ProblemCheckpointSignature ProblemCode = "checkpoint-signature"
	// ProblemCheckpointMalformed: a checkpoint is not a checkpoint of
	// this log.
	ProblemCheckpointMalformed ProblemCode = "checkpoint-malformed"
	// ProblemCheckpointOrder: a checkpoint is smaller than one before it.
	ProblemCheckpointOrder ProblemCode = "checkpoint-order"
	// ProblemInconsistent: the entries do not hash to the root a
	// checkpoint signs, given the checkpoint before it that they do
	// match: an entry in the range was changed, dropped, inserted or
	// reordered, or the checkpoint signs a wrong root.
	ProblemInconsistent ProblemCode = "inconsistent"
	// ProblemTruncated: a checkpoint covers more entries than the log
	// holds.
	ProblemTruncated ProblemCode = "truncated"
	// ProblemUncovered: entries at the end are covered by no checkpoint.
	ProblemUncovered ProblemCode = "uncovered"
	// ProblemReceiptInvalid: a receipt does not verify on its own.
	ProblemReceiptInvalid ProblemCode = "receipt-invalid"
	// ProblemReceiptMissing: a receipted entry is not in the log.
	ProblemReceiptMissing ProblemCode = "receipt-entry-missing"
	// ProblemReceiptDiffers: the log holds something else at a receipted
	// entry's index.
	ProblemReceiptDiffers ProblemCode = "receipt-entry-differs"
	// ProblemReceiptRoot: the log no longer has the root a receipt's
	// checkpoint signed.
	ProblemReceiptRoot ProblemCode = "receipt-root"
)

// Problem is one fault Verify found. Entry indexes count from 0 in log
// order; Checkpoint and Receipt are positions (from 0) in the lists given
// to Verify. A field that does not apply is -1.
type Problem struct {
	Code ProblemCode
	// Entry and EntryEnd are the entries concerned, [Entry, EntryEnd).
	Entry, EntryEnd int64
	Checkpoint      int
	Receipt         int
	Detail          string
}

func newProblem(code ProblemCode, detail string, args ...any) Problem {
	return Problem{Code: code, Entry: -1, EntryEnd: -1, Checkpoint: -1, Receipt: -1, Detail: fmt.Sprintf(detail, args...)}
}

func (p Problem) entries(from, to uint64) Problem {
	p.Entry, p.EntryEnd = int64(from), int64(to)
	return p
}

// String describes the problem in one line, e.g.
// "inconsistent: checkpoint 3, entries 7-9: ...".
func (p Problem) String() string {
	var where []string
	if p.Receipt >= 0 {
		where = append(where, fmt.Sprintf("receipt %d", p.Receipt))
	}
	if p.Checkpoint >= 0 {
		where = append(where, fmt.Sprintf("checkpoint %d", p.Checkpoint))
	}
	switch {
	case p.Entry >= 0 && p.EntryEnd == p.Entry+1:
		where = append(where, fmt.Sprintf("entry %d", p.Entry))
	case p.Entry >= 0 && p.EntryEnd > p.Entry:
		where = append(where, fmt.Sprintf("entries %d-%d", p.Entry, p.EntryEnd-1))
	}
	if len(where) == 0 {
		return string(p.Code) + ": " + p.Detail
	}
	return string(p.Code) + ": " + strings.Join(where, ", ") + ": " + p.Detail
}

// Verify checks a log independently of whoever keeps it. entries are the
// encoded entries in log order; checkpoints the signed checkpoints in the
// order published (smallest first); receipts those the agencies hold; v
// the log's verifier key, obtained from a trusted source and not from the
// party being audited.
//
// It recomputes the Merkle tree from the entries and checks that every
// entry decodes; that every checkpoint is signed by v; that checkpoints
// never shrink; that the entries hash to each checkpoint's root, through
// a consistency proof from the previous checkpoint that matched (so a
// failure names the range of entries between the two); that no checkpoint
// covers more entries than there are and every entry is covered; and that
// every receipt verifies, its entry is in the log at its index byte for
// byte, and the log still has the root the receipt's checkpoint signed.
// It returns nil when all holds.
func Verify(entries [][]byte, checkpoints [][]byte, receipts []Receipt, v note.Verifier) []Problem {
	var problems []Problem
	add := func(p Problem) { problems = append(problems, p) }

	var tree memTree
	for i, b := range entries {
		if _, err := DecodeEntry(b); err != nil {
			add(newProblem(ProblemEntryMalformed, "%v", err).entries(uint64(i), uint64(i)+1))
		}
		tree.add(leafHash(b))
	}
	n := tree.size()

	type signedCP struct {
		pos int
		cp  Checkpoint
	}
	var cps []signedCP
	for i, signed := range checkpoints {
		c, err := OpenCheckpoint(signed, v)
		if err != nil {
			code := ProblemCheckpointMalformed
			if isSignatureErr(err) {
				code = ProblemCheckpointSignature
			}
			p := newProblem(code, "%v", err)
			p.Checkpoint = i
			add(p)
			continue
		}
		if len(cps) > 0 && c.Size < cps[len(cps)-1].cp.Size {
			prev := cps[len(cps)-1]
			p := newProblem(ProblemCheckpointOrder, "covers %d entries, fewer than the %d of checkpoint %d before it: checkpoints were reordered or the log was rolled back", c.Size, prev.cp.Size, prev.pos)
			p.Checkpoint = i
			add(p)
			continue
		}
		cps = append(cps, signedCP{i, c})
	}

	// Walk the checkpoints, each checked against the last one the entries
	// matched, starting from the empty tree.
	good := Checkpoint{Size: 0, Root: hasher.EmptyRoot()}
	goodPos := -1
	var covered uint64
	var truncated *signedCP
	for i := range cps {
		c, pos := cps[i].cp, cps[i].pos
		covered = max(covered, c.Size)
		if c.Size > n {
			if truncated == nil || c.Size > truncated.cp.Size {
				truncated = &cps[i]
			}
			continue
		}
		if c.Size < good.Size {
			continue // reported above
		}
		if err := checkConsistent(&tree, good, c); err != nil {
			since := "the start of the log"
			if goodPos >= 0 {
				since = fmt.Sprintf("checkpoint %d (%d entries), which they do match", goodPos, good.Size)
			}
			p := newProblem(ProblemInconsistent, "the entries do not hash to the root this checkpoint signs for %d entries, counting from %s: an entry in the range was changed, dropped, inserted or reordered, or the checkpoint signs a wrong root", c.Size, since).entries(good.Size, c.Size)
			if good.Size == c.Size && goodPos >= 0 {
				p = p.entries(0, c.Size)
				p.Detail = fmt.Sprintf("two validly signed checkpoints for %d entries have different roots (the other is checkpoint %d): the log was forked or a checkpoint was signed over a wrong root", c.Size, goodPos)
			}
			p.Checkpoint = pos
			add(p)
			continue
		}
		good, goodPos = c, pos
	}
	if truncated != nil {
		p := newProblem(ProblemTruncated, "the checkpoint covers %d entries but the log holds %d: entries from %d on are missing", truncated.cp.Size, n, n).entries(n, truncated.cp.Size)
		p.Checkpoint = truncated.pos
		add(p)
	}
	if covered < n {
		add(newProblem(ProblemUncovered, "no signed checkpoint covers these entries, so nothing shows whether they were added or altered after the last checkpoint").entries(covered, n))
	}

	for i, r := range receipts {
		for _, p := range checkReceipt(&tree, entries, r, v) {
			p.Receipt = i
			add(p)
		}
	}
	return problems
}

// checkConsistent checks, by a consistency proof computed from the
// entries, that checkpoint c extends checkpoint good, which the entries
// are known to match.
func checkConsistent(t *memTree, good, c Checkpoint) error {
	if good.Size == 0 {
		if !t.rootMatches(c.Size, c.Root) {
			return ErrProof
		}
		return nil
	}
	p, err := consistencyProof(t.node, good.Size, c.Size)
	if err != nil {
		return err
	}
	return verifyConsistency(good.Size, c.Size, p, good.Root, c.Root)
}

func checkReceipt(t *memTree, entries [][]byte, r Receipt, v note.Verifier) []Problem {
	one := func(code ProblemCode, format string, args ...any) []Problem {
		return []Problem{newProblem(code, format, args...).entries(r.Index, r.Index+1)}
	}
	c, err := verifyReceipt(r, v)
	if err != nil {
		return one(ProblemReceiptInvalid, "the receipt does not verify: %v", err)
	}
	n := t.size()
	var out []Problem
	switch {
	case r.Index >= n:
		out = one(ProblemReceiptMissing, "the receipted entry is not in the log, which holds %d entries", n)
	case !bytes.Equal(entries[r.Index], r.Entry):
		where := "it is nowhere in the log"
		for j, b := range entries {
			if bytes.Equal(b, r.Entry) {
				where = fmt.Sprintf("it is at entry %d instead", j)
				break
			}
		}
		out = one(ProblemReceiptDiffers, "the log holds a different entry where the receipt places this one: %s", where)
	}
	if c.Size > n {
		// Reported as missing (or the log's checkpoints show truncation).
		if len(out) == 0 {
			out = one(ProblemReceiptMissing, "the receipt's checkpoint covers %d entries but the log holds %d", c.Size, n)
		}
		return out
	}
	if !t.rootMatches(c.Size, c.Root) {
		p := newProblem(ProblemReceiptRoot, "the log's first %d entries no longer hash to the root signed in the receipt's checkpoint: the log was rewritten after the receipt was issued", c.Size).entries(0, c.Size)
		out = append(out, p)
	}
	return out
}

func isSignatureErr(err error) bool { return errors.Is(err, ErrCheckpointSignature) }
