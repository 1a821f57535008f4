package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is cmd/livegate built once for the whole test process: tests of what a deployed
// node does start the real program, flags, environment and all.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary builds cmd/livegate (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binary.dir, binary.err = os.MkdirTemp("", "livegate-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "livegate")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/livegate")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/livegate: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// RemoveBinary deletes what Binary built; TestMain calls it after the tests.
func RemoveBinary() {
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
}

// LoopbackArgs are LoopbackConfig as the binary's flags: a node that only ever touches
// loopback, on fresh ports, with data in a temporary directory; url is its HTTP API.
func LoopbackArgs(t testing.TB) (args []string, url string) {
	t.Helper()
	c := LoopbackConfig(t)
	return []string{"--http-addr", c.HTTPAddr, "--public-url", c.PublicURL, "--data-dir", c.DataDir,
		"--udp-port", strconv.Itoa(c.UDPPort), "--tcp-addr", c.TCPAddr, "--interfaces", strings.Join(c.Interfaces, ","),
		fmt.Sprintf("--include-loopback=%t", c.IncludeLoopback), fmt.Sprintf("--disable-mdns=%t", c.DisableMDNS),
		"--remote-networks", strings.Join(c.RemoteNetworks, ","), "--webhook-allow-networks", strings.Join(c.WebhookAllowNetworks, ","), "--shutdown-grace", c.ShutdownGrace.String(),
		"--max-cpu-percent", "0", "--shed-cpu-percent", "0", "--node-id", "proc"}, c.PublicURL
}

// Process is a livegate binary started by a test, stopped when the test ends.
type Process struct {
	URL  string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // exit status, valid after done
}

// StartProcess runs the binary with args and env (added to a minimal environment) and
// waits until url answers /healthz.
func StartProcess(t testing.TB, url string, args, env []string) *Process {
	t.Helper()
	return StartProcessRetrying(t, func() (string, []string) { return url, args }, env)
}

// StartProcessRetrying is StartProcess for arguments that name ports chosen beforehand:
// when another process took one in between (the choice is a race with every socket the
// machine opens), next chooses again, up to three times.
func StartProcessRetrying(t testing.TB, next func() (url string, args []string), env []string) *Process {
	t.Helper()
	return StartProcessWith(t, exec.Command, next, env)
}

// Launcher makes the command that runs the binary with args: exec.Command, or one
// that runs it elsewhere, as in a network namespace (netns.Link.Command).
type Launcher func(binary string, args ...string) *exec.Cmd

// StartProcessWith is StartProcessRetrying with the binary run by launch.
func StartProcessWith(t testing.TB, launch Launcher, next func() (url string, args []string), env []string) *Process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		url, args := next()
		p, err := tryStartProcess(t, launch, url, args, env)
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(p.Output(), "address already in use") {
			t.Fatalf("%v\n%s", err, p.Output())
		}
	}
}

func tryStartProcess(t testing.TB, launch Launcher, url string, args, env []string) (*Process, error) {
	t.Helper()
	p := startProcess(t, launch, args, env)
	t.Cleanup(func() { p.Stop(t) })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return p, fmt.Errorf("livegate exited at start: %v", p.err)
		default:
		}
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.URL = url
				return p, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, fmt.Errorf("livegate did not answer at %s within 15s", url)
}

// RunUntilExit runs the binary expecting it to refuse to start; it returns the exit
// code and everything the program printed.
func RunUntilExit(t testing.TB, args, env []string, within time.Duration) (code int, output string) {
	t.Helper()
	p := startProcess(t, exec.Command, args, env)
	select {
	case <-p.done:
	case <-time.After(within):
		p.Stop(t)
		t.Fatalf("livegate still running after %v\n%s", within, p.Output())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode(), p.Output()
	}
	return 0, p.Output()
}

func startProcess(t testing.TB, launch Launcher, args, env []string) *Process {
	t.Helper()
	p := &Process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = launch(Binary(t), args...)
	// Only what the test names: no LIVEGATE_* or STRIPE_* of the developer's shell.
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start livegate: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

// Output is what the program has printed so far (logs go to stderr).
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM and waits for the drain; a node that does not stop is killed.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		// SIGQUIT makes a Go program print every goroutine's stack: where it hangs.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		out := p.Output()
		t.Errorf("livegate did not stop within 20s of SIGTERM; its last output, goroutines included:\n%s", out[max(0, len(out)-60000):])
	}
	if os.Getenv("LIVEGATE_TEST_LOG") != "" {
		t.Logf("livegate output:\n%s", p.Output())
	}
}

// Terminate sends SIGTERM and returns at once: the node drains while the test watches.
// Stop (or the test's cleanup) waits for it to exit.
func (p *Process) Terminate() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Kill ends the process at once (a crash: no drain, no goodbye).
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Pid is the process id.
func (p *Process) Pid() string { return strconv.Itoa(p.cmd.Process.Pid) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
