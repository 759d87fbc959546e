package tfmatchv1

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestFieldNumbers(t *testing.T) {
	batch := (&Batch{}).ProtoReflect().Descriptor()
	record := (&Record{}).ProtoReflect().Descriptor()
	token := (&Token{}).ProtoReflect().Descriptor()
	entry := record.Fields().ByName("indicators").Message()
	tests := []struct {
		msg  protoreflect.MessageDescriptor
		name protoreflect.Name
		want protoreflect.FieldNumber
	}{
		{batch, "batch_id", BatchIDField},
		{batch, "isa_hash", BatchISAHashField},
		{batch, "key_epoch", BatchKeyEpochField},
		{batch, "records", BatchRecordsField},
		{record, "ref", RecordRefField},
		{record, "tokens", RecordTokensField},
		{record, "indicators", RecordIndicatorsField},
		{record, "filter", RecordFilterField},
		{token, "kind", TokenKindField},
		{token, "value", TokenValueField},
		{entry, "key", IndicatorNameField},
		{entry, "value", IndicatorValueField},
	}
	for _, tt := range tests {
		f := tt.msg.Fields().ByName(tt.name)
		if f == nil {
			t.Errorf("%s has no field %s", tt.msg.FullName(), tt.name)
			continue
		}
		if f.Number() != tt.want {
			t.Errorf("%s.%s is field %d, the constant says %d", tt.msg.FullName(), tt.name, f.Number(), tt.want)
		}
	}
	if n := batch.Fields().Len(); n != 4 {
		t.Errorf("Batch has %d fields; the encoder and decoder know 4", n)
	}
	if n := record.Fields().Len(); n != 4 {
		t.Errorf("Record has %d fields; the encoder and decoder know 4", n)
	}
}
