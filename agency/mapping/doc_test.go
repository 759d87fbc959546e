package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocExamples checks that every YAML example in docs/mapping.md is a
// valid mapping (snippets are completed with a version and a record_id).
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "mapping.md"))
	if err != nil {
		t.Skipf("docs not present: %v", err)
	}
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) < 6 {
		t.Fatalf("found %d YAML examples, want at least 6", len(blocks))
	}
	for i, b := range blocks {
		src := b[:strings.Index(b, "```")]
		if !strings.Contains(src, "version:") {
			src = "version: 1\n" + src
		}
		if !strings.Contains(src, "fields:") {
			src += "fields: {record_id: ID}\n"
		}
		if _, err := Parse([]byte(src), "doc.yaml"); err != nil {
			t.Errorf("example %d does not parse: %v\n%s", i+1, err, src)
		}
	}
}
