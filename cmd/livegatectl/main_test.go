package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/livegate/livegate/internal/testenv"
)

// The CLI against a real node: create a creator and a stream, list, end.
func TestCLIAgainstNode(t *testing.T) {
	cfg := testenv.LoopbackConfig(t)
	cfg.APIKey = "cli-test-key-0123456789"
	n := testenv.StartNode(t, cfg)

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		full := append([]string{"--url", n.URL(), "--api-key", cfg.APIKey}, args...)
		if err := run(context.Background(), full, &out, &errOut); err != nil {
			t.Fatalf("livegatectl %v: %v (%s)", args, err, errOut.String())
		}
		return out.String()
	}
	field := func(out, key string) string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
				return f[1]
			}
		}
		t.Fatalf("no %s in %q", key, out)
		return ""
	}
	creator := field(cli("creators", "create", "Amina"), "id")
	created := cli("streams", "create", creator, "Sunday show")
	id := field(created, "id")
	if field(created, "stream_key") == "" || !strings.Contains(created, "/whip/"+id) {
		t.Fatalf("stream create output lacks key or WHIP URL:\n%s", created)
	}
	if list := cli("streams", "list", "--state", "scheduled"); !strings.Contains(list, id) || !strings.Contains(list, "STATE") {
		t.Fatalf("list:\n%s", list)
	}
	if got := field(cli("streams", "end", id), "state"); got != "ended" {
		t.Fatalf("state after end: %s", got)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"--url", n.URL(), "--api-key", "wrong", "streams", "list"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong key: %v", err)
	}
}
