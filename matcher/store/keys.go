package store

import (
	"encoding/binary"
	"fmt"
)

// The keyspace. Every key starts with a one-byte prefix naming its table;
// every table of submitted or derived data then has the key epoch as 4
// bytes big-endian, so that one epoch's data is a handful of contiguous
// key ranges that no read of another epoch can reach. Variable-length
// parts are uvarint length-prefixed so no two tables or fields can run
// into each other.
//
//	'm' "schema"                               -> schema version (1 byte)
//	'm' "epoch"                                -> the epoch last put in force: u32 epoch, [32]byte agreement hash
//	'r' epoch len(source) source ref[16]       -> record (EncodeStored)
//	'b' epoch len(source) source batchID       -> batch result (encodeBatch)
//	'a' epoch len(source) source batchID       -> u64 audit log index of the batch's entry
//	'u' epoch runID                            -> run (encodeRun)
//	'l' epoch                                  -> ID of the epoch's latest run
//
// Schema history: version 1 had no epoch in any key (a store held one
// epoch's data and nothing kept two apart); version 2 added it.
const (
	prefixMeta   = 'm'
	prefixRecord = 'r'
	prefixBatch  = 'b'
	prefixAudit  = 'a'
	prefixRun    = 'u'
	keyLatestRun = 'l'
)

// epochTables are the tables whose keys carry an epoch: everything an
// epoch's purge removes.
var epochTables = []byte{prefixRecord, prefixBatch, prefixAudit, prefixRun, keyLatestRun}

const schemaVersion = 2

var (
	keySchema = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}
	keyEpoch  = []byte{prefixMeta, 'e', 'p', 'o', 'c', 'h'}
)

// tablePrefix returns the prefix of table's keys under epoch.
func tablePrefix(table byte, epoch uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{table}, epoch)
}

// recordKeyLen is the length of a key of a record of source.
func recordKeyLen(source string) int { return 5 + uvarintLen(len(source)) + len(source) + 16 }

// appendRecordKey appends the key of a record to k.
func appendRecordKey(k []byte, epoch uint32, source string, ref [16]byte) []byte {
	k = binary.BigEndian.AppendUint32(append(k, prefixRecord), epoch)
	k = appendString(k, source)
	return append(k, ref[:]...)
}

func batchKey(epoch uint32, source, batchID string) []byte {
	k := make([]byte, 0, 5+binary.MaxVarintLen64+len(source)+len(batchID))
	k = binary.BigEndian.AppendUint32(append(k, prefixBatch), epoch)
	k = appendString(k, source)
	return append(k, batchID...)
}

func batchAuditKey(epoch uint32, source, batchID string) []byte {
	k := batchKey(epoch, source, batchID)
	k[0] = prefixAudit
	return k
}

func runKey(epoch uint32, id string) []byte {
	return append(tablePrefix(prefixRun, epoch), id...)
}

func latestRunKey(epoch uint32) []byte {
	return tablePrefix(keyLatestRun, epoch)
}

// keyEpochOf returns the epoch of a key of one of the epochTables.
func keyEpochOf(k []byte) (uint32, bool) {
	if len(k) < 5 {
		return 0, false
	}
	return binary.BigEndian.Uint32(k[1:5]), true
}

// parseRecordKey returns the epoch and source of a record key.
func parseRecordKey(k []byte) (uint32, string, error) {
	d := decoder{b: k}
	if d.byte() != prefixRecord {
		d.fail("not a record key")
	}
	e := d.bytes(4, "epoch")
	s := d.string(MaxSourceLen, "source")
	d.bytes(16, "ref")
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes in record key")
	}
	if d.err != nil {
		return 0, "", fmt.Errorf("record key: %w", d.err)
	}
	return binary.BigEndian.Uint32(e), s, nil
}
