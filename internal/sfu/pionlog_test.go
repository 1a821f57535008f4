package sfu

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPionLogsGoToSlog(t *testing.T) {
	var buf bytes.Buffer
	info := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l := newPionLogs(info).NewLogger("ice")
	l.Warnf("failed to ping %d", 3) // chatter at info
	l.Errorf("cannot bind %s", "udp")
	out := buf.String()
	if strings.Contains(out, "failed to ping") {
		t.Errorf("pion warning logged at info level: %s", out)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "pion=ice") || !strings.Contains(out, `msg="cannot bind udp"`) {
		t.Errorf("pion error not in the structured log: %s", out)
	}

	buf.Reset()
	debug := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newPionLogs(debug).NewLogger("dtls").Debug("handshake")
	if !strings.Contains(buf.String(), "pion=dtls") {
		t.Errorf("pion debug not kept at debug level: %s", buf.String())
	}
}
