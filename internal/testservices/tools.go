package testservices

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RedisURL is a Redis the tests share (each namespacing its keys): LIVEGATE_TEST_REDIS_URL
// when set, otherwise a redis-server of the test process's own that keeps nothing on disk.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u, ok := configured(t, "Redis", "LIVEGATE_TEST_REDIS_URL", func(u string) string {
		host := strings.TrimPrefix(u, "redis://")
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		return strings.SplitN(host, "/", 2)[0]
	}); ok {
		return u
	}
	return start(t, "Redis", startRedis).url
}

func startRedis(port int) (*service, error) {
	path, err := lookTool("redis-server")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "livegate-redis-")
	if err != nil {
		return nil, err
	}
	s := &service{name: "Redis", dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.url = "redis://" + s.addr + "/0"
	s.cmd = exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", "")
	return launch(s, func() error { return dials(s.addr) })
}

// configured is the service the environment variable env names, when it is set, checked
// to answer (at the address addr reads from it): a test that cannot reach it stops here,
// naming the variable, not deep inside a client.
func configured(t testing.TB, what, env string, addr func(string) string) (string, bool) {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		return "", false
	}
	if err := dials(addr(v)); err != nil {
		Missing(t, fmt.Sprintf("%s (%s=%s)", what, env, v), err)
	}
	return v, true
}

func hostPort(v string) string { return v }

// StripeMockURL is stripe-mock's HTTP base URL: LIVEGATE_TEST_STRIPE_MOCK (host:port) when
// set, otherwise one of the test process's own.
func StripeMockURL(t testing.TB) string {
	t.Helper()
	if a, ok := configured(t, "stripe-mock", "LIVEGATE_TEST_STRIPE_MOCK", hostPort); ok {
		return "http://" + a
	}
	return start(t, "stripe-mock", func(port int) (*service, error) {
		path, err := lookTool("stripe-mock")
		if err != nil {
			return nil, err
		}
		s := &service{name: "stripe-mock", addr: fmt.Sprintf("127.0.0.1:%d", port)}
		s.url = "http://" + s.addr
		// It listens for HTTPS too, on 12112 unless told otherwise: any free port.
		s.cmd = exec.Command(path, "-http-addr", s.addr, "-https-addr", "127.0.0.1:")
		return launch(s, func() error { return dials(s.addr) })
	}).url
}

// S3Endpoint is an S3 server's host:port (any access key is accepted; buckets are the
// tests' to make): LIVEGATE_TEST_S3 when set, otherwise a gofakes3 of the test process's
// own, in memory.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	if a, ok := configured(t, "an S3 server", "LIVEGATE_TEST_S3", hostPort); ok {
		return a
	}
	return start(t, "S3 server (gofakes3)", func(port int) (*service, error) {
		path, err := lookTool("gofakes3")
		if err != nil {
			return nil, err
		}
		s := &service{name: "S3 server (gofakes3)", addr: fmt.Sprintf("127.0.0.1:%d", port)}
		s.url = s.addr
		s.cmd = exec.Command(path, "-host", s.addr, "-backend", "memory", "-quiet")
		return launch(s, func() error { return dials(s.addr) })
	}).addr
}

// Redis is a redis-server of one test's own, for tests that stop and restart it (an
// outage); it keeps nothing on disk, so a restart comes back empty.
type Redis struct {
	URL  string
	port int
	mu   sync.Mutex
	s    *service
}

// StartRedis starts a Redis for t alone, stopped when t ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{port: port, URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}
	r.Start(t)
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Port is the loopback port it listens on, across restarts.
func (r *Redis) Port() int { return r.port }

// Start starts it again on the same port after Stop.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s != nil {
		return
	}
	s, err := spawn(func() (*service, error) { return startRedis(r.port) })
	if errors.Is(err, errNoMain) {
		t.Fatalf("Redis: %v", err)
	}
	if err != nil {
		Missing(t, "Redis", err)
	}
	r.s = s
}

// Stop shuts it down at once, as a crash would (no save); harmless when stopped.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s == nil {
		return
	}
	if err := r.s.stop(); err != nil {
		t.Logf("stop Redis: %v", err)
	}
	r.s = nil
	// The port is free when the process is gone; wait for the kernel to agree, so a
	// client's next dial sees the outage rather than a closing socket.
	for i := 0; i < 20 && dials(fmt.Sprintf("127.0.0.1:%d", r.port)) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}
