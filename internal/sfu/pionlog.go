package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion's own logs (ICE, DTLS, SCTP, the peer connection) into the node's
// structured log, tagged with pion's scope, instead of pion's default stderr lines that
// bypass log levels and formats. Below Error they are per-peer chatter (a candidate that
// did not answer, a late packet), kept only when the node logs at debug.
type pionLogs struct {
	log *slog.Logger
	min slog.Level
}

func newPionLogs(log *slog.Logger) pionLogs {
	min := slog.LevelError
	if log.Enabled(context.Background(), slog.LevelDebug) {
		min = slog.LevelDebug
	}
	return pionLogs{log: log, min: min}
}

// NewLogger implements logging.LoggerFactory.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope), min: f.min}
}

type pionLogger struct {
	log *slog.Logger
	min slog.Level
}

const levelTrace = slog.LevelDebug - 4

func (l pionLogger) emit(level slog.Level, msg string) {
	if level < l.min {
		return
	}
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) emitf(level slog.Level, format string, args ...any) {
	if level < l.min {
		return // no formatting for what nobody reads
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string)                  { l.emit(levelTrace, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.emitf(levelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.emit(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }

// PionLogs carries the log lines of other pion packages the node runs (its TURN server)
// into log, as the SFU's own pion lines are.
func PionLogs(log *slog.Logger) logging.LoggerFactory { return newPionLogs(log) }
