package audit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Receipt is the log's signed answer to an accepted batch: the batch's
// entry, its index, a signed checkpoint covering it and the inclusion
// proof that ties the entry to the checkpoint's root. The agency keeps it;
// an auditor checks later that the log still holds the same entry at the
// same place and still has the root the receipt was signed over.
type Receipt struct {
	Checkpoint []byte   // signed checkpoint note
	Index      uint64   // the entry's index in the log
	Proof      [][]byte // inclusion proof of the entry at the checkpoint's size
	Entry      []byte   // the encoded entry
}

// receiptType names the JSON form, so that a receipt file says what it is.
const receiptType = "tfmatch-audit-receipt/1"

// receiptJSON is the JSON form of a receipt: the checkpoint as text, the
// rest base64.
type receiptJSON struct {
	Type       string   `json:"type"`
	Index      uint64   `json:"index"`
	Entry      []byte   `json:"entry"`
	Proof      []string `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
}

// MarshalJSON encodes the receipt as the JSON object agencies store.
func (r Receipt) MarshalJSON() ([]byte, error) {
	j := receiptJSON{Type: receiptType, Index: r.Index, Entry: r.Entry, Checkpoint: string(r.Checkpoint), Proof: []string{}}
	for _, p := range r.Proof {
		j.Proof = append(j.Proof, base64.StdEncoding.EncodeToString(p))
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes a receipt written by MarshalJSON. It checks the
// form only; VerifyReceipt checks the content.
func (r *Receipt) UnmarshalJSON(b []byte) error {
	var j receiptJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("audit: receipt: %w", err)
	}
	if j.Type != receiptType {
		return fmt.Errorf("audit: receipt: type %q, want %q", j.Type, receiptType)
	}
	out := Receipt{Index: j.Index, Entry: j.Entry, Checkpoint: []byte(j.Checkpoint)}
	for i, s := range j.Proof {
		p, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return fmt.Errorf("audit: receipt: proof hash %d: %w", i, err)
		}
		out.Proof = append(out.Proof, p)
	}
	*r = out
	return nil
}

// VerifyReceipt checks a receipt on its own: the checkpoint is signed by
// v, the entry decodes, and the proof places the entry at Index in the
// checkpoint's tree. Errors wrap ErrCheckpointSignature,
// ErrCheckpointMalformed, ErrMalformed or ErrProof. It does not consult the
// log: Verify does that.
func VerifyReceipt(r Receipt, v note.Verifier) error {
	_, err := verifyReceipt(r, v)
	return err
}

func verifyReceipt(r Receipt, v note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint(r.Checkpoint, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("receipt checkpoint: %w", err)
	}
	if r.Index >= c.Size {
		return Checkpoint{}, fmt.Errorf("%w: entry %d is beyond the checkpoint's %d entries", ErrProof, r.Index, c.Size)
	}
	if _, err := DecodeEntry(r.Entry); err != nil {
		return Checkpoint{}, fmt.Errorf("receipt entry: %w", err)
	}
	if err := verifyInclusion(r.Entry, r.Index, c.Size, r.Proof, c.Root); err != nil {
		return Checkpoint{}, fmt.Errorf("entry %d is not proved to be in the checkpoint's tree: %w", r.Index, err)
	}
	return c, nil
}

// WriteReceipt writes r as JSON to path (mode 0644; a receipt holds
// nothing secret), replacing the file atomically.
func WriteReceipt(path string, r Receipt) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("audit: write receipt: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// ReadReceipt reads a receipt file written by WriteReceipt.
func ReadReceipt(path string) (Receipt, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: read receipt: %w", err)
	}
	var r Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return Receipt{}, fmt.Errorf("audit: read receipt %s: %w", filepath.Base(path), err)
	}
	return r, nil
}

// LoadReceipts reads every *.json file in dir as a receipt, in name order,
// and returns them with their file names.
func LoadReceipts(dir string) ([]Receipt, []string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: read receipts: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), ".json") {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	rs := make([]Receipt, 0, len(names))
	for _, n := range names {
		r, err := ReadReceipt(filepath.Join(dir, n))
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	return rs, names, nil
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("audit: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
