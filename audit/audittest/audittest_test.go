package audittest

import (
	"context"
	"testing"

	"tfmatch/audit"
)

func TestNewLog(t *testing.T) {
	l, vkey := NewLog(t, "audittest.test", 1)
	if vkey == "" {
		t.Fatal("no verifier key")
	}
	r, err := l.AppendWithReceipt(context.Background(), audit.Entry{Kind: audit.KindQuery, Party: "lead", Purpose: "test"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyReceipt(r, v); err != nil {
		t.Errorf("receipt does not verify under the returned key: %v", err)
	}
}
