// Package testenv gives tests the real things they run against: a loopback-only livegate
// node (in process or as the built binary), and the services of package testservices in
// the shapes the node takes them (a schema of its own, a bucket, a GeoIP file).
package testenv

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/node"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testservices"
)

// PostgresURL returns a URL to a fresh, empty schema in the tests' PostgreSQL (a cluster
// of the test process's own unless LIVEGATE_TEST_DATABASE_URL names one); the schema is
// dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := testservices.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		testservices.Missing(t, "PostgreSQL", err)
	}
	schema := strings.ReplaceAll(store.NewID("t"), "-", "")
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%ssearch_path=%s", base, sep, schema)
}

// dataDir is a node's data directory, removed when the test ends. Unlike t.TempDir's, its
// removal tries again for a second: a SQLite connection that a late writer held past the
// node's stop may still touch its files (seen once in a full run: "directory not empty").
func dataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "livegate-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for range 10 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove the node's data directory: %v", err)
	})
	return dir
}

// LoopbackConfig is a node configuration that only ever touches loopback: HTTP and ICE
// ports picked by the kernel, candidates only on lo, no mDNS, data in a temp dir.
func LoopbackConfig(t testing.TB) config.Config {
	cfg := config.Default()
	// A port chosen now, so the node's public URL (in checkout and WHEP links) is right.
	cfg.HTTPAddr = FreeAddr(t)
	cfg.PublicURL = "http://" + cfg.HTTPAddr
	cfg.DataDir = dataDir(t)
	cfg.UDPPort = 0
	cfg.TCPAddr = "127.0.0.1:0"
	cfg.Interfaces = []string{"lo"}
	cfg.IncludeLoopback = true
	cfg.DisableMDNS = true
	cfg.RemoteNetworks = []string{"127.0.0.0/8", "::1/128"}
	// The tests' webhook receivers listen on loopback; a test of the refusal clears it.
	cfg.WebhookAllowNetworks = []string{"127.0.0.0/8", "::1/128"}
	cfg.ShutdownGrace = time.Second
	cfg.NodeID = "test"
	// The CPU a test node measures is the whole test's (its viewers run in the same
	// process, under the race detector) on a machine other tests load: no test node
	// refuses or sheds by CPU unless its test says so and drives the meter.
	cfg.MaxCPUPercent, cfg.ShedCPUPercent = 0, 0
	return cfg
}

// Node is a running node of a test.
type Node struct {
	*node.Node
	Stop func() error // cancels and waits for Run; called again by the cleanup, harmlessly
}

// StartNode runs a node with cfg until the test ends. LIVEGATE_TEST_LOG=1 shows its logs.
func StartNode(t testing.TB, cfg config.Config) *Node {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("LIVEGATE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := node.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				runErr = fmt.Errorf("node did not stop within 20s; its goroutines:\n%s", nodeStacks())
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return &Node{Node: n, Stop: stop}
}

// nodeStacks is every goroutine in livegate's own code, for a node that would not stop.
func nodeStacks() string {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "livegate/internal/") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// RedisURL is the tests' Redis (one of the test process's own unless
// LIVEGATE_TEST_REDIS_URL names one); tests share it, each under a UniquePrefix.
func RedisURL(t testing.TB) string {
	t.Helper()
	return testservices.RedisURL(t)
}

// UniquePrefix namespaces one test's Redis keys.
func UniquePrefix() string { return store.NewID("t") + ":" }

// FreeAddr is a loopback TCP address no one listens on right now, for a server the
// test starts next.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
