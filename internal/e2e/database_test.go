package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/testenv"
)

// A mistyped database URL used to start a node on a SQLite file named after it (a ledger
// of its own, also with --production); a damaged SQLite file started and failed later,
// mid-purchase. Now the binary refuses both at start, in a line that names the flag or
// the file, and a production fleet (Redis) on SQLite does not start.
func TestDatabaseURLIsStrict(t *testing.T) {
	parallelWait(t)
	wd, _ := os.Getwd()
	for _, u := range []string{"mysql://x/y", "postgresql+pgx://db/livegate"} {
		args, _ := testenv.LoopbackArgs(t)
		code, out := testenv.RunUntilExit(t, append(args, "--database-url", u), nil, 15*time.Second)
		scheme, _, _ := strings.Cut(u, ":")
		if code == 0 || !strings.Contains(out, "database-url") || !strings.Contains(out, scheme) {
			t.Errorf("--database-url %s: exit %d:\n%s", u, code, out)
		}
		if _, err := os.Stat(filepath.Join(wd, scheme+":")); err == nil {
			t.Errorf("--database-url %s left a file named after it", u)
		}
	}

	stripeEnv := []string{"STRIPE_SECRET_KEY=sk_test_" + randomSecret(t, ""), "STRIPE_WEBHOOK_SECRET=whsec_" + randomSecret(t, "")}
	args, _ := testenv.LoopbackArgs(t)
	args = append(args, "--production", "--stripe-api-base", testenv.StripeMockURL(t), "--playback-secret", randomSecret(t, ""),
		"--viewer-jwt-secret", randomSecret(t, ""), "--api-key", randomSecret(t, "k"), "--redis-url", testenv.RedisURL(t))
	if code, out := testenv.RunUntilExit(t, args, stripeEnv, 15*time.Second); code == 0 || !strings.Contains(out, "--database-url postgres://") {
		t.Errorf("a production fleet on SQLite: exit %d:\n%s", code, out)
	}

	// A SQLite file damaged in its middle pages.
	dataDir := t.TempDir()
	n := startProcess(t, "", []string{"--data-dir", dataDir}, nil)
	for i := range 1500 { // pages enough to damage some in the middle
		if st := n.call("POST", "/v1/creators", map[string]any{"name": fmt.Sprintf("Creator %d", i)}, nil); st != 201 {
			t.Fatalf("create creator: %d", st)
		}
	}
	n.proc.Stop(t)
	path := filepath.Join(dataDir, "livegate.db")
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 64<<10 {
		t.Fatalf("the node's SQLite file: %d bytes, %v", len(b), err)
	}
	for i := len(b) / 2; i < len(b)/2+8192; i++ {
		b[i] = 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args, _ = testenv.LoopbackArgs(t)
	if code, out := testenv.RunUntilExit(t, append(args, "--data-dir", dataDir), nil, 15*time.Second); code == 0 || !strings.Contains(out, path) {
		t.Errorf("a damaged SQLite file: exit %d, want a refusal naming %s:\n%s", code, path, out)
	}
}
