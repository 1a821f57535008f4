// Package testservices starts the throwaway services that tests talk to (a PostgreSQL
// cluster made with initdb, Redis, stripe-mock and an S3 server), each on a loopback port
// of its own with its log under build/test-services, and stops them when the package's
// tests end. A service named in the environment (LIVEGATE_TEST_DATABASE_URL and friends)
// is used instead. So the tests need no system setup: a stock Debian PostgreSQL that asks
// for a password, or a user who does not own the system cluster, does not matter.
//
// A package whose tests use a service runs them through Main from its TestMain. Main also
// says, in go test's default output, which tests skipped for a missing service: go test
// shows a passing package's output only with -v, and a skip nobody sees is a hole in CI.
//
// It imports nothing of livegate's, so the tests inside any package can use it.
package testservices

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv makes a missing service a failure instead of a skip; `make test` sets it, as
// does CI=true.
const RequireEnv = "LIVEGATE_REQUIRE_SERVICES"

// run is the state of the test process between Main's start and its end. It is global
// because testing.M is: one test binary, one set of services.
var run struct {
	mu       sync.Mutex
	active   bool                // Main is running the tests
	started  map[string]*service // by name, started at most once
	failures map[string]error    // a start that failed is not tried again
	skips    map[string][]string // what was missing -> the tests that skipped for it
	spawn    chan func()
}

// Main runs the tests, stops every service they started, reports the tests that skipped
// for a missing service, and returns the exit code for os.Exit.
func Main(m *testing.M) int {
	run.mu.Lock()
	run.active = true
	run.started = map[string]*service{}
	run.failures = map[string]error{}
	run.skips = map[string][]string{}
	run.spawn = make(chan func())
	run.mu.Unlock()
	go spawner(run.spawn)

	code := m.Run()

	run.mu.Lock()
	run.active = false
	for _, s := range run.started {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testservices: stop %s: %v\n", s.name, err)
		}
	}
	run.started = nil
	close(run.spawn)
	skips := run.skips
	run.mu.Unlock()

	if line := skipSummary(skips); line != "" {
		fmt.Println(line)
		if code == 0 {
			tellGoTest(line)
		}
	}
	return code
}

// spawner starts every service's process from one OS thread that lives until Main ends.
// The processes die with that thread (Pdeathsig), so a test binary killed by -timeout
// leaves no PostgreSQL behind; a thread that a test locked and then let exit (as tests
// entering network namespaces do) must not be the one that takes them down.
func spawner(jobs <-chan func()) {
	runtime.LockOSThread()
	for job := range jobs {
		job()
	}
}

// Missing stops the test because something it needs is not there: a failure when services
// are required (make test, CI), otherwise a skip that Main reports.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if required() {
		t.Fatalf("%s is required but not available: %v (`make test` installs it)", what, err)
	}
	run.mu.Lock()
	if run.skips != nil {
		run.skips[what] = append(run.skips[what], t.Name())
	}
	run.mu.Unlock()
	t.Skipf("SKIPPED: %s not available: %v (`make test` installs it)", what, err)
}

// SkipHere skips a test that cannot run on this machine for a reason no install fixes
// (creating network devices needs root), also under `make test`; Main reports it with the
// skips for missing services.
func SkipHere(t testing.TB, why string) {
	t.Helper()
	run.mu.Lock()
	if run.skips != nil {
		run.skips[why] = append(run.skips[why], t.Name())
	}
	run.mu.Unlock()
	t.Skipf("SKIPPED: %s", why)
}

func required() bool {
	return os.Getenv("CI") != "" || os.Getenv(RequireEnv) != ""
}

// skipSummary is one line naming what was missing and how many tests skipped for it.
func skipSummary(skips map[string][]string) string {
	if len(skips) == 0 {
		return ""
	}
	var parts []string
	total := 0
	for what, tests := range skips {
		total += len(tests)
		parts = append(parts, fmt.Sprintf("%s (%d: %s)", what, len(tests), strings.Join(firstN(tests, 3), ", ")))
	}
	sort.Strings(parts)
	return fmt.Sprintf("testservices: SKIPPED %d tests in %s for want of %s", total, filepath.Base(os.Args[0]), strings.Join(parts, "; "))
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "…")
	}
	return s
}

// tellGoTest writes line to the go command's stderr when go test runs this binary: in its
// default mode go test prints only "ok" for a passing package, whatever the binary wrote.
// Run any other way, the line above on stdout is already where the user looks.
func tellGoTest(line string) {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/2", ppid), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// service is a process started for the tests.
type service struct {
	name string
	addr string // host:port it listens on
	url  string // how clients reach it
	cmd  *exec.Cmd
	done chan struct{}
	dir  string // its temporary files, removed after it stops
	log  string
}

// start returns the service called name, starting it with launch the first time. Each
// attempt gets a fresh port: another process may take a free port before the service
// binds it.
func start(t testing.TB, name string, launch func(port int) (*service, error)) *service {
	t.Helper()
	s, err := startLocked(name, launch)
	if errors.Is(err, errNoMain) {
		t.Fatalf("%s: %v", name, err)
	}
	if err != nil {
		Missing(t, name, err)
	}
	return s
}

var errNoMain = errors.New("the package's TestMain must run the tests with testservices.Main, which stops what they start")

func startLocked(name string, launch func(port int) (*service, error)) (*service, error) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if !run.active {
		return nil, errNoMain
	}
	if s := run.started[name]; s != nil {
		return s, nil
	}
	if err := run.failures[name]; err != nil {
		return nil, err
	}
	var s *service
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s, err = spawnLocked(func() (*service, error) { return launch(port) })
		if err == nil || errors.Is(err, exec.ErrNotFound) {
			break
		}
	}
	if err != nil {
		run.failures[name] = err
		return nil, err
	}
	run.started[name] = s
	return s, nil
}

// startTimeout is how long a service has to answer after it starts.
const startTimeout = 30 * time.Second

// launch starts cmd and waits until ready says the service answers, or it exits.
func launch(s *service, ready func() error) (*service, error) {
	logFile, err := openLog(s.name)
	if err != nil {
		return nil, err
	}
	s.log = logFile.Name()
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	setDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	logFile.Close() // the child holds its own copy
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			s.cleanup()
			return nil, fmt.Errorf("%s exited at start (%v); its log: %s\n%s", s.name, s.cmd.ProcessState, s.log, tail(s.log))
		default:
		}
		err := ready()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("%s did not answer within %s: %v; its log: %s", s.name, startTimeout, err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spawn runs launch on the spawner's thread (see spawner), once Main runs.
func spawn(launch func() (*service, error)) (*service, error) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if !run.active {
		return nil, errNoMain
	}
	return spawnLocked(launch)
}

// spawnLocked is spawn with run.mu held and Main running.
func spawnLocked(launch func() (*service, error)) (*service, error) {
	var s *service
	var err error
	done := make(chan struct{})
	run.spawn <- func() { s, err = launch(); close(done) }
	<-done
	return s, err
}

// stop asks the service to end, kills it if it does not within 10 s, and removes its files.
func (s *service) stop() error {
	// SIGINT: a fast shutdown for PostgreSQL, a shutdown without saving for Redis.
	_ = s.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		err = fmt.Errorf("did not stop within 10s; killed")
	}
	s.cleanup()
	return err
}

func (s *service) cleanup() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// LogDir is where the services' logs go: build/test-services in the module, or
// LIVEGATE_TEST_LOG_DIR.
func LogDir() string {
	if d := os.Getenv("LIVEGATE_TEST_LOG_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "build", "test-services")
}

// openLog is the service's log for this test binary, replacing the one of its last run.
func openLog(name string) (*os.File, error) {
	dir := LogDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	bin := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	return os.Create(filepath.Join(dir, bin+"-"+strings.ToLower(strings.Fields(name)[0])+".log"))
}

// tail is the end of a log, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dials says whether something accepts TCP connections on addr.
func dials(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// lookTool finds a program on PATH, or where `go install` puts it.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) == 2 {
			if lines[0] != "" {
				dirs = append(dirs, lines[0])
			}
			for _, p := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (looked on PATH and in %s)", name, exec.ErrNotFound, strings.Join(dirs, ", "))
}
