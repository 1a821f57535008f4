package testservices

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livegate/livegate/internal/poll"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// helperEnv makes TestHelperServices start every service, print their pids and, with
// "block", wait to be killed.
const helperEnv = "LIVEGATE_TESTSERVICES_HELPER"

// Every service answers as its clients use it, as the tests' own ones and the node do.
func TestServicesAnswer(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA answers; CREATE TABLE answers.t (n int); INSERT INTO answers.t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT n FROM answers.t").Scan(&n); err != nil || n != 7 {
		t.Fatalf("read back %d, %v", n, err)
	}

	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", StripeMockURL(t)+"/v1/customers", nil)
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stripe-mock: %s", resp.Status)
	}

	resp, err = http.Get("http://" + S3Endpoint(t) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Fatalf("S3 server: %s", resp.Status)
	}
}

// Not a test of its own: the test process that TestServicesEndWithTheirTests starts.
func TestHelperServices(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("run by TestServicesEndWithTheirTests")
	}
	for _, name := range []string{"PostgreSQL", "Redis"} {
		switch name {
		case "PostgreSQL":
			PostgresURL(t)
		case "Redis":
			RedisURL(t)
		}
		run.mu.Lock()
		s := run.started[name]
		run.mu.Unlock()
		fmt.Printf("SERVICE %d %s\n", s.cmd.Process.Pid, s.dir)
	}
	fmt.Println("READY")
	if mode == "block" {
		time.Sleep(time.Minute) // about time: blocks until the test kills this process
	}
}

// A test binary's services end with it: when its tests finish, and when it is killed
// (as -timeout does) without running any cleanup; their temporary files go with them
// in the first case.
func TestServicesEndWithTheirTests(t *testing.T) {
	if os.Getenv("LIVEGATE_TEST_DATABASE_URL") != "" || os.Getenv("LIVEGATE_TEST_REDIS_URL") != "" {
		t.Skip("services are configured, not started by the tests")
	}
	for _, mode := range []string{"finish", "block"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServices$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"="+mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var pids []int
			var dirs []string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 3 && f[0] == "SERVICE" {
					pid, _ := strconv.Atoi(f[1])
					pids, dirs = append(pids, pid), append(dirs, f[2])
				}
				if sc.Text() == "READY" {
					break
				}
			}
			if len(pids) != 2 {
				_ = cmd.Process.Kill()
				t.Fatalf("the helper started %d services, want 2", len(pids))
			}
			if mode == "block" {
				_ = cmd.Process.Kill()
			}
			go func() { _, _ = io.Copy(io.Discard, out) }()
			_ = cmd.Wait()
			for _, pid := range pids {
				poll.Until(t, 10*time.Second, fmt.Sprintf("service pid %d gone after its test binary ended (%s)", pid, mode), func() error {
					return poll.Want(!alive(pid), "it still runs")
				})
			}
			if mode == "finish" {
				for _, d := range dirs {
					if _, err := os.Stat(d); !os.IsNotExist(err) {
						t.Errorf("%s is still there after the tests: %v", d, err)
					}
				}
			} else {
				for _, d := range dirs {
					os.RemoveAll(d) // what a killed binary leaves in the temp dir
				}
			}
		})
	}
}

// alive says whether pid runs (a zombie does not: nobody waits for an orphan's child
// at once, but it no longer serves anyone).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// A package whose tests skipped for a missing service says so in go test's default
// output, where a passing package shows nothing but "ok".
func TestSkipsShowInGoTestOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a test binary with go test")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the line reaches go test through /proc")
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "test", "-count=1", "./testdata/skips")
	cmd.Dir = filepath.Dir(file)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, RequireEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SKIPPED 1 tests in skips.test for want of a thing (1: TestNeedsAThing)") {
		t.Fatalf("go test's default output does not name the skip:\n%s", out)
	}
	if !strings.Contains(string(out), "ok") {
		t.Fatalf("the package did not pass:\n%s", out)
	}
}
