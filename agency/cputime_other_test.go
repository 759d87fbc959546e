//go:build !unix

package agency

import (
	"testing"
	"time"
)

// processCPU returns 0 where the process's processor time is not read:
// BenchmarkRun's cpu-µs/record is then meaningless.
func processCPU(*testing.B) time.Duration { return 0 }
