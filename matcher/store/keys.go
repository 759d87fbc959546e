package store

import (
	"encoding/binary"
	"fmt"
)

// The keyspace. Every key starts with a one-byte prefix naming its table;
// variable-length parts are uvarint length-prefixed so no two tables or
// fields can run into each other.
//
//	'm' "schema"                                   -> schema version (1 byte)
//	'r' len(source) source ref[16]                 -> record (EncodeRecord)
//	'b' len(source) source batchID                 -> batch result (encodeBatch)
//	'a' len(source) source batchID                 -> u64 audit log index of the batch's entry
//	'u' runID                                      -> run (encodeRun)
//	'l'                                            -> ID of the latest run
const (
	prefixMeta   = 'm'
	prefixRecord = 'r'
	prefixBatch  = 'b'
	prefixAudit  = 'a'
	prefixRun    = 'u'
	keyLatestRun = 'l'
)

const schemaVersion = 1

var keySchema = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}

func recordKey(source string, ref [16]byte) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(source)+16)
	k = append(k, prefixRecord)
	k = appendString(k, source)
	return append(k, ref[:]...)
}

func batchKey(source, batchID string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(source)+len(batchID))
	k = append(k, prefixBatch)
	k = appendString(k, source)
	return append(k, batchID...)
}

func batchAuditKey(source, batchID string) []byte {
	k := batchKey(source, batchID)
	k[0] = prefixAudit
	return k
}

func runKey(id string) []byte {
	return append([]byte{prefixRun}, id...)
}

// parseRecordKey returns the source of a record key.
func parseRecordKey(k []byte) (string, error) {
	d := decoder{b: k}
	if d.byte() != prefixRecord {
		d.fail("not a record key")
	}
	s := d.string(MaxSourceLen, "source")
	d.bytes(16, "ref")
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes in record key")
	}
	if d.err != nil {
		return "", fmt.Errorf("record key: %w", d.err)
	}
	return s, nil
}
