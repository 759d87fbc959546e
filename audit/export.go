package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Evidence is what an auditor needs to verify the log: every entry, every
// checkpoint and the log's verifier key.
type Evidence struct {
	Entries     [][]byte // encoded entries in log order
	Checkpoints [][]byte // signed checkpoints, smallest first
	VerifierKey string   // the log's verifier key text
}

// The export directory, for auditors. Plain text throughout:
//
//	FORMAT                   the line "tfmatch-audit-export 1"
//	entries.txt              one entry per line, standard base64 of its
//	                         encoded bytes, entry 0 first
//	checkpoints/<size>.txt   one signed checkpoint note per file, named by
//	                         its tree size as 20 decimal digits so that
//	                         names sort in log order
//	verifier.key             the log's verifier key, one line
//
// Each checkpoint file is a standard signed checkpoint that other
// transparency-log tools read. verifier.key is a convenience: an auditor
// should compare it with the key published by the log's owner, since
// whoever made the export could have replaced it.
const (
	exportFormat      = "tfmatch-audit-export 1"
	exportFormatFile  = "FORMAT"
	exportEntries     = "entries.txt"
	exportCheckpoints = "checkpoints"
	exportKey         = "verifier.key"
)

// Export publishes a checkpoint covering every entry (if none does), then
// writes the whole log to dir, which must not exist or be empty.
func (l *Log) Export(ctx context.Context, dir string) error {
	if _, err := l.Checkpoint(ctx); err != nil {
		return err
	}
	var ev Evidence
	ev.VerifierKey = l.cfg.VerifierKey
	// One read transaction: entries and checkpoints from the same state.
	err := l.db.View(func(txn *badger.Txn) error {
		size, err := getValue(txn, metaSize)
		var n uint64
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		case len(size) != 8:
			return errors.New("corrupt size record")
		default:
			n = binary.BigEndian.Uint64(size)
		}
		if ev.Checkpoints, err = checkpointsTxn(ctx, txn, n); err != nil {
			return err
		}
		// Entries appended since the checkpoint above, by a writer that
		// got in first, are left for the next export: every exported
		// entry is covered by an exported checkpoint.
		if len(ev.Checkpoints) > 0 {
			c, err := ParseCheckpoint(checkpointText(ev.Checkpoints[len(ev.Checkpoints)-1]))
			if err != nil {
				return err
			}
			n = min(n, c.Size)
		}
		ev.Entries, err = entriesTxn(ctx, txn, 0, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return WriteExport(dir, ev)
}

// WriteExport writes ev to dir in the export format. dir must not exist or
// be empty.
func WriteExport(dir string, ev Evidence) error {
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return fmt.Errorf("audit: export: %s is not empty", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, exportCheckpoints), 0o755); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	var b bytes.Buffer
	for _, e := range ev.Entries {
		b.WriteString(base64.StdEncoding.EncodeToString(e))
		b.WriteByte('\n')
	}
	if err := writeFileAtomic(filepath.Join(dir, exportEntries), b.Bytes()); err != nil {
		return err
	}
	for i, signed := range ev.Checkpoints {
		// Name by the size in the text; fall back to the position for
		// something that is not a checkpoint (it stays in order).
		name := fmt.Sprintf("%020d.txt", i)
		if c, err := ParseCheckpoint(checkpointText(signed)); err == nil {
			name = fmt.Sprintf("%020d.txt", c.Size)
		}
		path := filepath.Join(dir, exportCheckpoints, name)
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("audit: export: two checkpoints for tree size in %s", name)
		}
		if err := writeFileAtomic(path, signed); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, exportKey), []byte(strings.TrimSpace(ev.VerifierKey)+"\n")); err != nil {
		return err
	}
	// FORMAT last: its presence marks a complete export.
	return writeFileAtomic(filepath.Join(dir, exportFormatFile), []byte(exportFormat+"\n"))
}

// LoadExport reads an export directory. It checks the form of the files
// only; Verify checks their content.
func LoadExport(dir string) (Evidence, error) {
	var ev Evidence
	format, err := os.ReadFile(filepath.Join(dir, exportFormatFile))
	if err != nil {
		return Evidence{}, fmt.Errorf("audit: load export: %w (an incomplete export, or not an export)", err)
	}
	if strings.TrimSpace(string(format)) != exportFormat {
		return Evidence{}, fmt.Errorf("audit: load export: unknown format %q", strings.TrimSpace(string(format)))
	}
	f, err := os.Open(filepath.Join(dir, exportEntries))
	if err != nil {
		return Evidence{}, fmt.Errorf("audit: load export: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 2*MaxEntrySize)
	for line := 1; sc.Scan(); line++ {
		e, err := base64.StdEncoding.Strict().DecodeString(sc.Text())
		if err != nil {
			return Evidence{}, fmt.Errorf("audit: load export: %s line %d (entry %d): not base64", exportEntries, line, line-1)
		}
		ev.Entries = append(ev.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return Evidence{}, fmt.Errorf("audit: load export: %s: %w", exportEntries, err)
	}
	des, err := os.ReadDir(filepath.Join(dir, exportCheckpoints))
	if err != nil {
		return Evidence{}, fmt.Errorf("audit: load export: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.Type().IsRegular() && strings.HasSuffix(de.Name(), ".txt") {
			if _, err := strconv.ParseUint(strings.TrimSuffix(de.Name(), ".txt"), 10, 64); err == nil {
				names = append(names, de.Name())
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, exportCheckpoints, n))
		if err != nil {
			return Evidence{}, fmt.Errorf("audit: load export: %w", err)
		}
		ev.Checkpoints = append(ev.Checkpoints, b)
	}
	key, err := os.ReadFile(filepath.Join(dir, exportKey))
	if err != nil {
		return Evidence{}, fmt.Errorf("audit: load export: %w", err)
	}
	ev.VerifierKey = strings.TrimSpace(string(key))
	return ev, nil
}

// VerifyDir loads the export in dir and the receipts in receiptsDir
// (skipped when "") and verifies them with the verifier key vkey, or with
// the export's own key when vkey is "" (weaker: see the export format).
// Problems about receipts name the receipt file in their Detail. The
// error is for evidence that cannot be read at all.
func VerifyDir(dir, receiptsDir, vkey string) ([]Problem, error) {
	ev, err := LoadExport(dir)
	if err != nil {
		return nil, err
	}
	if vkey == "" {
		vkey = ev.VerifierKey
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	var receipts []Receipt
	var names []string
	if receiptsDir != "" {
		if receipts, names, err = LoadReceipts(receiptsDir); err != nil {
			return nil, err
		}
	}
	problems := Verify(ev.Entries, ev.Checkpoints, receipts, v)
	for i := range problems {
		if r := problems[i].Receipt; r >= 0 {
			problems[i].Detail = names[r] + ": " + problems[i].Detail
		}
	}
	return problems, nil
}

// Verification is the outcome of VerifyExport: what was checked and the
// problems found (none when the evidence holds).
type Verification struct {
	Entries, Checkpoints, Receipts int
	Problems                       []Problem
}

// VerifyExport is VerifyDir over the receipts of several directories (an
// auditor collects one from each agency). Problems about receipts name the
// receipt as "DIR/FILE" in their Detail.
func VerifyExport(dir string, receiptDirs []string, vkey string) (Verification, error) {
	ev, err := LoadExport(dir)
	if err != nil {
		return Verification{}, err
	}
	if vkey == "" {
		vkey = ev.VerifierKey
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		return Verification{}, err
	}
	var receipts []Receipt
	var names []string
	for _, rd := range receiptDirs {
		rs, ns, err := LoadReceipts(rd)
		if err != nil {
			return Verification{}, err
		}
		receipts = append(receipts, rs...)
		for _, n := range ns {
			names = append(names, filepath.Join(rd, n))
		}
	}
	problems := Verify(ev.Entries, ev.Checkpoints, receipts, v)
	for i := range problems {
		if r := problems[i].Receipt; r >= 0 {
			problems[i].Detail = names[r] + ": " + problems[i].Detail
		}
	}
	return Verification{Entries: len(ev.Entries), Checkpoints: len(ev.Checkpoints), Receipts: len(receipts), Problems: problems}, nil
}
