// Package badgerlog adapts badger's logger interface to log/slog, so that
// every store in tfmatch logs through the logger its owner injected.
package badgerlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Logger implements badger.Logger on top of a *slog.Logger. Badger's
// informational chatter (compactions, table flushes) is logged at Debug.
type Logger struct {
	L *slog.Logger
}

// New returns a badger logger writing to l, or discarding when l is nil.
func New(l *slog.Logger) *Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Logger{L: l.With("component", "badger")}
}

func (b *Logger) log(level slog.Level, format string, args ...any) {
	if !b.L.Enabled(context.Background(), level) {
		return
	}
	b.L.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// Errorf logs at Error.
func (b *Logger) Errorf(format string, args ...any) { b.log(slog.LevelError, format, args...) }

// Warningf logs at Warn.
func (b *Logger) Warningf(format string, args ...any) { b.log(slog.LevelWarn, format, args...) }

// Infof logs at Debug: badger's info messages are routine.
func (b *Logger) Infof(format string, args ...any) { b.log(slog.LevelDebug, format, args...) }

// Debugf logs at Debug.
func (b *Logger) Debugf(format string, args ...any) { b.log(slog.LevelDebug, format, args...) }
