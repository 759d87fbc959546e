package tfmatchv1

// Field numbers of the submission messages (tfmatch.proto), for the code
// that writes and reads their wire form itself: the agency's batch
// encoder and the matcher's batch decoder. TestFieldNumbers holds them to
// the generated descriptors.
const (
	BatchIDField, BatchISAHashField, BatchKeyEpochField, BatchRecordsField      = 1, 2, 3, 4
	RecordRefField, RecordTokensField, RecordIndicatorsField, RecordFilterField = 1, 2, 3, 4
	TokenKindField, TokenValueField                                             = 1, 2
	// The key and value of an entry of Record.indicators.
	IndicatorNameField, IndicatorValueField = 1, 2
)
